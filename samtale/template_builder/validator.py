"""Validate a WhatsApp message template creation payload against Meta's documented rules.

Entry point: :func:`validate_template`. Each error names the component path
(``components[1].buttons[0].text``), a stable rule id (``body.max_length``) and a message a
marketer can act on; warnings (risks of rejection at review) are kept apart from errors.

Rules on the template as a whole (sources: Meta, WhatsApp Business Platform, "Message
templates" → "Create templates" and "Template components"):

* ``name``: required, ``^[a-z0-9_]{1,512}$``.
* ``category``: MARKETING, UTILITY or AUTHENTICATION (either case).
* ``language``: one of Meta's supported codes (:mod:`samtale.template_builder.languages`).
* ``parameter_format``: POSITIONAL or NAMED, matching the placeholders used.
* components: exactly one BODY, at most one HEADER, FOOTER, BUTTONS, CAROUSEL and
  LIMITED_TIME_OFFER; no unknown component types.

Component rules live in :mod:`.rules_text`, :mod:`.rules_buttons` and :mod:`.rules_special`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from samtale.template_builder.issues import Collector, Issue, ValidationResult
from samtale.template_builder.languages import SUPPORTED_LANGUAGES, language_hint
from samtale.template_builder.payload import Component, TemplatePayload
from samtale.template_builder.rules_buttons import check_buttons
from samtale.template_builder.rules_special import (
    LTO_BODY_MAX,
    check_authentication,
    check_carousel,
    check_limited_time_offer,
    check_ttl,
)
from samtale.template_builder.rules_text import BODY_MAX, check_body, check_footer, check_header
from samtale.template_builder.variables import Variables

NAME_PATTERN = re.compile(r"^[a-z0-9_]{1,512}$")
CATEGORIES = frozenset({"MARKETING", "UTILITY", "AUTHENTICATION"})
COMPONENT_TYPES = frozenset({"HEADER", "BODY", "FOOTER", "BUTTONS", "CAROUSEL", "LIMITED_TIME_OFFER"})
PARAMETER_FORMATS = frozenset({"POSITIONAL", "NAMED"})

_PYDANTIC_MESSAGES = {
    "string_type": "must be text (a JSON string)",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a list",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
    "missing": "is required",
}


def validate_template(payload: Mapping[str, Any] | Any) -> ValidationResult:
    """Validate one creation payload; never raises, whatever ``payload`` is.

    Args:
        payload: the parsed JSON body of ``POST /{version}/{WABA_ID}/message_templates``.

    Returns:
        A :class:`ValidationResult`; ``valid`` is true when there is no error.
    """
    collector = Collector()
    if not isinstance(payload, Mapping):
        collector.error(
            "",
            "payload.not_object",
            f"A template must be a JSON object with name, language, category and components; got {_kind(payload)}.",
        )
        return collector.result()
    try:
        model = TemplatePayload.model_validate(dict(payload))
    except ValidationError as exc:
        for err in exc.errors():
            path = _loc_to_path(err["loc"])
            text = _PYDANTIC_MESSAGES.get(err["type"], err["msg"])
            collector.error(path, f"schema.{err['type']}", f"{path or 'The payload'} {text}.")
        return collector.result()
    _check_template(collector, model)
    return collector.result()


def _check_template(c: Collector, model: TemplatePayload) -> None:
    if not model.name:
        c.error("name", "name.required", "Give the template a name, e.g. order_shipped.")
    elif not NAME_PATTERN.match(model.name):
        c.error(
            "name",
            "name.format",
            f"'{model.name}' is not a valid name: use only lowercase letters, digits and underscores "
            "(e.g. summer_sale_2024), at most 512 characters.",
        )
    category = (model.category or "").upper()
    if not model.category:
        c.error("category", "category.required", "Choose a category: MARKETING, UTILITY or AUTHENTICATION.")
    elif category not in CATEGORIES:
        c.error(
            "category",
            "category.invalid",
            f"'{model.category}' is not a category; choose MARKETING, UTILITY or AUTHENTICATION.",
        )
    _check_language(c, model.language)
    check_ttl(c, model, category)
    fmt = (model.parameter_format or "").upper()
    if model.parameter_format is not None and fmt not in PARAMETER_FORMATS:
        c.error("parameter_format", "parameter_format.invalid", "parameter_format must be POSITIONAL or NAMED.")
    _check_components(c, model.components, category=category, parameter_format=fmt)


def _check_language(c: Collector, language: str | None) -> None:
    if not language:
        c.error("language", "language.required", "Choose the template's language, e.g. en_US or da.")
        return
    if language in SUPPORTED_LANGUAGES:
        return
    hint = language_hint(language)
    suffix = f" Did you mean '{hint}'?" if hint else " Use a code from Meta's list, such as en_US, da or pt_BR."
    c.error("language", "language.unsupported", f"'{language}' is not a language code Meta supports.{suffix}")


def _check_components(c: Collector, components: list[Component], *, category: str, parameter_format: str) -> None:
    counts: dict[str, int] = {}
    for index, comp in enumerate(components):
        if comp.kind not in COMPONENT_TYPES:
            c.error(
                f"components[{index}].type",
                "component.type_unknown",
                f"'{comp.type or ''}' is not a component type; use HEADER, BODY, FOOTER or BUTTONS.",
            )
            continue
        counts[comp.kind] = counts.get(comp.kind, 0) + 1
        if counts[comp.kind] == 2:
            c.error(
                f"components[{index}]",
                f"{comp.kind.lower()}.count",
                f"A template can have only one {comp.kind} component.",
            )
    if counts.get("BODY", 0) == 0:
        c.error("components", "body.required", "Every template needs a BODY component: the text of the message.")
    is_lto = "LIMITED_TIME_OFFER" in counts
    is_auth = category == "AUTHENTICATION"
    found: list[Variables] = []
    for index, comp in enumerate(components):
        path = f"components[{index}]"
        if comp.kind == "BODY" and not is_auth:
            found.append(check_body(c, comp, path, max_length=LTO_BODY_MAX if is_lto else BODY_MAX))
        elif comp.kind == "HEADER" and not is_auth:
            found.append(check_header(c, comp, path, category=category))
        elif comp.kind == "FOOTER" and not is_auth and not is_lto:
            check_footer(c, comp, path)
        elif comp.kind == "BUTTONS" and not is_auth:
            check_buttons(c, comp, path, category=category)
        elif comp.kind == "CAROUSEL":
            check_carousel(c, comp, path, category=category)
            for other, kind in enumerate(x.kind for x in components):
                if kind in {"HEADER", "FOOTER", "BUTTONS"}:
                    c.error(
                        f"components[{other}]",
                        "carousel.top_level_component",
                        "A carousel template has only a message body and the cards; move this part into the cards.",
                    )
    if is_auth:
        check_authentication(c, components)
    if is_lto:
        check_limited_time_offer(c, components, category)
    _check_parameter_format(c, found, parameter_format)


def _check_parameter_format(c: Collector, found: list[Variables], parameter_format: str) -> None:
    """Positional and named placeholders are never mixed, and match ``parameter_format`` when given."""
    uses_named = any(v.named for v in found)
    uses_positional = any(v.positional for v in found)
    if uses_named and uses_positional:
        c.error(
            "components",
            "variables.mixed",
            "Use either numbered placeholders ({{1}}) or named ones ({{first_name}}) in a template, not both.",
        )
    elif uses_named and parameter_format != "NAMED":
        c.error(
            "parameter_format",
            "variables.format_mismatch",
            "The template uses named placeholders, so set parameter_format to NAMED.",
        )
    elif uses_positional and parameter_format == "NAMED":
        c.error(
            "parameter_format",
            "variables.format_mismatch",
            "parameter_format is NAMED but the template uses numbered placeholders ({{1}}).",
        )


def _loc_to_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif "[" in part or part in {"str", "int", "bool"}:
            continue
        else:
            path += f".{part}" if path else part
    return path


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {list: "a list", str: "a string", int: "a number", float: "a number", bool: "true/false"}.get(
        type(value), type(value).__name__
    )


__all__ = ["Issue", "ValidationResult", "validate_template"]
