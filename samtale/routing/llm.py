"""LLM routing, the seeds' metadata flow: a classification prompt answered with one route key.

The ``metadata`` flow's prompt template (Jinja2, sandboxed) is rendered with ``message``,
``history`` (``[{role, content}]``, oldest first), ``route_keys``, ``flows``
(``[{route_key, type, description}]``) and ``chatbot`` (``{id, name, language}``) and sent to
the flow's LLM. The answer must be exactly one route key, or the JSON object
``{"route_key": "<key>"}`` that structured output produces; anything else, a timeout or an
error falls back to ``main`` and is recorded. When a ``metadata2`` flow is configured it is
asked when the first classifier is unsure (gave no valid route key).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from samtale.chatbots.routing_validation import CLASSIFIER_FLOW_TYPES, classifier_template, routable_flows, route_keys
from samtale.chatbots.schema import ChatbotConfig
from samtale.errors import SamtaleError
from samtale.llm.base import ChatMessage, GenerationRequest, LLMProvider
from samtale.llm.factory import create_provider
from samtale.routing.history import recent_turns
from samtale.routing.types import Classifier
from samtale.settings import Settings

ANSWER_PREVIEW_CHARS = 200


def route_key_schema(route_keys: list[str]) -> dict[str, Any]:
    """An OpenAI ``response_format`` asking for ``{"route_key": <one of route_keys>}``."""
    return {
        "type": "json_schema",
        "json_schema": {
            "name": "route",
            "strict": True,
            "schema": {
                "type": "object",
                "properties": {"route_key": {"type": "string", "enum": list(route_keys)}},
                "required": ["route_key"],
                "additionalProperties": False,
            },
        },
    }


def parse_route_key(answer: str, route_keys: Sequence[str]) -> str | None:
    """The route key ``answer`` names, strictly, or None.

    Accepted: the answer is exactly one route key (surrounding whitespace ignored), or a JSON
    object whose only member ``route_key`` is one. Nothing else: no quotes, no sentence, no
    case folding.
    """
    text = answer.strip()
    if text in route_keys:
        return text
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError:
            return None
        if isinstance(document, dict) and set(document) == {"route_key"} and document["route_key"] in route_keys:
            return str(document["route_key"])
    return None


class ProviderClassifier:
    """A :class:`~samtale.routing.types.Classifier` over an LLM provider's ``complete()``.

    Asks for structured output (a JSON schema whose ``route_key`` is an enum of the keys);
    providers that ignore ``response_format`` answer in free text, which is parsed strictly.

    Args:
        provider: e.g. ``samtale.llm.openai_provider.OpenAIProvider``.
        model: the model to ask; None uses the provider's.
        max_tokens: upper bound on the answer (a route key needs few tokens).
    """

    def __init__(self, *, provider: LLMProvider, model: str | None = None, max_tokens: int = 30) -> None:
        self.provider = provider
        self.model = model
        self.max_tokens = max_tokens

    async def classify(self, *, prompt: str, route_keys: list[str]) -> str:
        """Send ``prompt`` as one user message at temperature 0 and return the answer text.

        Raises:
            LLMError: whatever the provider raises.
        """
        request = GenerationRequest(
            messages=[ChatMessage(role="user", content=prompt)],
            question=prompt,
            model=self.model,
            temperature=0.0,
            max_tokens=self.max_tokens,
            response_format=route_key_schema(route_keys),
        )
        completion = await self.provider.complete(request)
        return completion.text


@dataclass(slots=True)
class LLMOutcome:
    """What the classifiers said: the route key (None when every one failed) and the record."""

    route_key: str | None
    classifier: str | None
    detail: dict[str, Any] = field(default_factory=dict)


class LLMRouter:
    """Asks the chatbot's ``metadata`` (then ``metadata2``) classifier for a route key.

    Args:
        config: the chatbot (validated by ``validate_routing``).
        classifiers: a classifier per classifier flow type (``metadata``, ``metadata2``).

    Raises:
        RoutingConfigError: via ``validate_routing`` beforehand; here, a ``KeyError`` is never
            raised: a classifier flow without a classifier is skipped and recorded.
    """

    def __init__(self, *, config: ChatbotConfig, classifiers: Mapping[str, Classifier]) -> None:
        self.config = config
        self.route_keys = route_keys(config)
        self.timeout_s = config.routing.llm_timeout_s
        environment = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
        self._steps: list[tuple[str, Any, Classifier | None]] = []
        for flow_type in CLASSIFIER_FLOW_TYPES:
            template = classifier_template(config, flow_type)
            if template is not None:
                self._steps.append((flow_type, environment.from_string(template), classifiers.get(flow_type)))
        self._flows = [
            {"route_key": flow.key, "type": flow.type, "description": flow.description or ""}
            for flow in routable_flows(config)
        ]

    def render(self, *, flow_type: str, message: str, history: Sequence[tuple[str, str]]) -> str:
        """The prompt of classifier ``flow_type`` for ``message``.

        Raises:
            jinja2.TemplateError: when the template fails to render (an unknown variable).
        """
        template = next(step[1] for step in self._steps if step[0] == flow_type)
        rendered: str = template.render(
            message=message,
            history=recent_turns(history, self.config.routing.history_turns),
            route_keys=self.route_keys,
            flows=self._flows,
            chatbot={"id": self.config.id, "name": self.config.name, "language": self.config.language},
        )
        return rendered

    async def classify(self, *, message: str, history: Sequence[tuple[str, str]]) -> LLMOutcome:
        """Ask the classifiers in turn until one names a route key; never raises."""
        attempts: list[dict[str, Any]] = []
        for flow_type, _template, classifier in self._steps:
            record: dict[str, Any] = {"classifier": flow_type}
            attempts.append(record)
            if classifier is None:
                record["fallback"] = "no_classifier"
                continue
            try:
                prompt = self.render(flow_type=flow_type, message=message, history=history)
            except TemplateError as exc:
                record["fallback"] = "template_error"
                record["error"] = str(exc)[:ANSWER_PREVIEW_CHARS]
                continue
            try:
                answer = await asyncio.wait_for(
                    classifier.classify(prompt=prompt, route_keys=list(self.route_keys)), timeout=self.timeout_s
                )
            except TimeoutError:
                record["fallback"] = "timeout"
                continue
            except SamtaleError as exc:
                record["fallback"] = "error"
                record["error"] = f"{exc.code}: {exc.message}"[:ANSWER_PREVIEW_CHARS]
                continue
            route_key = parse_route_key(answer, self.route_keys)
            if route_key is None:
                record["fallback"] = "invalid_answer"
                record["answer"] = answer[:ANSWER_PREVIEW_CHARS]
                continue
            return LLMOutcome(route_key=route_key, classifier=flow_type, detail={"llm": attempts})
        reasons = [attempt.get("fallback", "") for attempt in attempts]
        return LLMOutcome(route_key=None, classifier=None, detail={"llm": attempts, "fallback": reasons[-1]})


def build_classifiers(
    config: ChatbotConfig, *, settings: Settings, http_client: httpx.AsyncClient | None = None
) -> dict[str, Classifier]:
    """A :class:`ProviderClassifier` for each classifier flow (``metadata``, ``metadata2``) of ``config``.

    Each uses the chatbot's LLM settings merged with the flow's own ``llm`` block.

    Raises:
        LLMConfigError: a flow's LLM settings cannot be used (see ``create_provider``).
    """
    classifiers: dict[str, Classifier] = {}
    for flow in config.flows:
        if flow.type in CLASSIFIER_FLOW_TYPES:
            llm = config.llm.merged(flow.llm)
            provider = create_provider(llm, settings=settings, http_client=http_client)
            classifiers[flow.type] = ProviderClassifier(provider=provider, model=llm.model)
    return classifiers
