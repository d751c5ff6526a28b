"""Checks of a chatbot's routing config that need the whole document (flows, prompts).

:func:`validate_routing` is called when a chatbot is imported; each refusal names the flow.
"""

from __future__ import annotations

import re

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from samtale.chatbots.routing_config import MAIN, RoutingConfigError
from samtale.chatbots.schema import ChatbotConfig, FlowConfig

CLASSIFIER_FLOW_TYPES = ("metadata", "metadata2")


def routable_flows(config: ChatbotConfig) -> list[FlowConfig]:
    """The flows a message can be routed to: every flow but the metadata classifiers, main first."""
    flows = [flow for flow in config.flows if flow.type not in CLASSIFIER_FLOW_TYPES]
    return sorted(flows, key=lambda flow: flow.type != "main")


def route_keys(config: ChatbotConfig) -> list[str]:
    """The route keys a router may answer with, ``main`` first."""
    return [flow.key for flow in routable_flows(config)]


def classifier_template(config: ChatbotConfig, flow_type: str) -> str | None:
    """The prompt template text of the ``metadata`` or ``metadata2`` flow, or None without one.

    Looked up as: the template the flow names in ``prompt``, else ``prompts[<flow type>]``,
    else (for ``metadata`` only) ``routing.llm_prompt``.
    """
    flow = next((f for f in config.flows if f.type == flow_type), None)
    if flow is None:
        return None
    if flow.prompt is not None:
        return config.prompts.get(flow.prompt)
    if flow_type in config.prompts:
        return config.prompts[flow_type]
    return config.routing.llm_prompt if flow_type == "metadata" else None


def validate_routing(config: ChatbotConfig) -> None:
    """Refuse a routing config that cannot work; the message names the flow at fault.

    Refused: a route key used by two flows; a keyword rule or examples for a route key no
    flow has, or a rule whose pattern does not compile; a ``metadata``/``metadata2`` flow
    without a prompt template, or with one that does not parse; the ``llm`` strategy without a
    ``metadata`` flow; the ``semantic`` strategy with a flow that has no example utterances;
    a ``chain`` strategy with no or repeated steps.

    Raises:
        RoutingConfigError: on the first problem found.
    """
    owners: dict[str, str] = {}
    for flow in config.flows:
        if flow.key in owners:
            raise RoutingConfigError(
                f"route key '{flow.key}' is used by flows '{owners[flow.key]}' and '{flow.type}'; "
                "each flow needs its own route key"
            )
        owners[flow.key] = flow.type
    keys = route_keys(config)
    routing = config.routing
    for number, rule in enumerate(routing.keywords, start=1):
        if rule.route_key not in keys:
            raise RoutingConfigError(
                f"keyword rule {number} sends messages to route key '{rule.route_key}', which no flow has "
                f"(route keys: {', '.join(keys)})"
            )
        try:
            re.compile(rule.pattern)
        except re.error as exc:
            flow_type = owners[rule.route_key]
            raise RoutingConfigError(
                f"keyword rule {number} of flow '{flow_type}' (route key '{rule.route_key}') "
                f"is not a valid regular expression: {exc}"
            ) from exc
    for key in routing.examples:
        if key not in keys:
            raise RoutingConfigError(
                f"routing examples are given for route key '{key}', which no flow has (route keys: {', '.join(keys)})"
            )
    environment = SandboxedEnvironment()
    for flow in config.flows:
        if flow.type not in CLASSIFIER_FLOW_TYPES:
            continue
        template = classifier_template(config, flow.type)
        if template is None or not template.strip():
            raise RoutingConfigError(
                f"flow '{flow.type}' has no prompt template: name one in its `prompt` field, add "
                f"`prompts.{flow.type}`, or set `routing.llm_prompt`"
            )
        try:
            environment.parse(template)
        except TemplateSyntaxError as exc:
            raise RoutingConfigError(
                f"the prompt template of flow '{flow.type}' does not parse: {exc.message} (line {exc.lineno})"
            ) from exc
    strategies = routing.strategies
    if routing.strategy == "chain":
        if not strategies:
            raise RoutingConfigError("routing strategy 'chain' needs a non-empty `routing.chain`")
        if len(set(strategies)) != len(strategies):
            raise RoutingConfigError(f"routing.chain repeats a strategy: {strategies}")
    if "llm" in strategies and not any(flow.type == "metadata" for flow in config.flows):
        raise RoutingConfigError("routing strategy 'llm' needs a flow of type 'metadata' with a prompt template")
    if "semantic" in strategies:
        for flow in routable_flows(config):
            if flow.key != MAIN and not [u for u in routing.examples.get(flow.key, []) if u.strip()]:
                raise RoutingConfigError(
                    f"flow '{flow.type}' (route key '{flow.key}') has no routing examples; the semantic "
                    f"strategy needs example utterances for it in `routing.examples.{flow.key}` "
                    "(or `samtale routing examples import`)"
                )
