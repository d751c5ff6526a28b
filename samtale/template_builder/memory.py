"""The assistant's memory of a session and the draft payload built from it.

Both assistant modes (offline wizard, LLM) fill the same :class:`TemplateMemory`; the draft,
the ``missing_fields`` and the validation are always recomputed from it here, so the server —
not the model — decides what is missing and whether ``FINAL`` may be answered (seed 004:
"Missing field calculation", "FINAL action logic").
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from samtale.template_builder.issues import ValidationResult
from samtale.template_builder.validator import validate_template
from samtale.template_builder.variables import find_variables

Action = Literal["ASK", "DRAFT", "FINAL"]
FIELD_ORDER = ("category", "name", "language", "body", "body_examples", "header", "footer", "buttons")
REQUIRED_FIELDS = frozenset({"category", "name", "language", "body", "body_examples"})
OPTIONAL_PARTS = ("header", "footer", "buttons")
URL_EXAMPLE_VALUE = "ABC123"


class ButtonSpec(BaseModel):
    """A button the marketer asked for: QUICK_REPLY, URL or PHONE_NUMBER."""

    type: Literal["QUICK_REPLY", "URL", "PHONE_NUMBER"] = "URL"
    text: str
    url: str | None = None
    phone_number: str | None = None


class TemplateMemory(BaseModel):
    """What the assistant knows so far (stored as ``template_sessions.memory``).

    ``wants_header`` / ``wants_footer`` / ``wants_buttons`` are None until the marketer has
    answered (an optional part is asked about once; False means declined). ``asked`` records the
    field asked about last, so a bare answer ("no", "Friday") is understood in context.
    """

    category: str | None = None
    name: str | None = None
    language_pref: str | None = None
    business_type: str | None = None
    topic: str | None = None
    conversation_language: Literal["en", "da"] = "en"
    body: str | None = None
    body_examples: list[str] = Field(default_factory=list)
    proposed_body: str | None = None
    proposed_examples: list[str] = Field(default_factory=list)
    header_text: str | None = None
    header_examples: list[str] = Field(default_factory=list)
    footer_text: str | None = None
    buttons: list[ButtonSpec] = Field(default_factory=list)
    wants_header: bool | None = None
    wants_footer: bool | None = None
    wants_buttons: bool | None = None
    add_security_recommendation: bool = True
    code_expiration_minutes: int | None = None
    asked: str | None = None
    last_validation_errors: list[str] = Field(default_factory=list)


class TurnState(BaseModel):
    """The server's verdict after a turn: the draft, what is missing, the validation and the action."""

    draft: dict[str, Any]
    missing_fields: list[str]
    validation: ValidationResult

    @property
    def complete(self) -> bool:
        """True when nothing is missing and the draft validates."""
        return not self.missing_fields and self.validation.valid

    def allowed_action(self, wanted: Action) -> Action:
        """``wanted``, except that FINAL needs a complete, valid draft (then DRAFT or ASK instead)."""
        if wanted == "FINAL" and not self.complete:
            return "ASK" if REQUIRED_FIELDS & set(self.missing_fields) else "DRAFT"
        return wanted

    def natural_action(self) -> Action:
        """FINAL when complete, ASK while a required field is missing, DRAFT otherwise."""
        if self.complete:
            return "FINAL"
        return "ASK" if REQUIRED_FIELDS & set(self.missing_fields) else "DRAFT"


def missing_fields(memory: TemplateMemory) -> list[str]:
    """The fields still needed, in :data:`FIELD_ORDER` (names as in seed 004 / issue 8)."""
    missing: list[str] = []
    if memory.category is None:
        missing.append("category")
    if memory.name is None:
        missing.append("name")
    if memory.language_pref is None:
        missing.append("language")
    if memory.category == "AUTHENTICATION":
        return missing
    if not memory.body:
        missing.append("body")
    elif find_variables(memory.body).count != len(memory.body_examples):
        missing.append("body_examples")
    for part, wants, value in (
        ("header", memory.wants_header, memory.header_text),
        ("footer", memory.wants_footer, memory.footer_text),
        ("buttons", memory.wants_buttons, memory.buttons),
    ):
        if wants is None or (wants and not value):
            missing.append(part)
    return missing


def build_draft(memory: TemplateMemory) -> dict[str, Any]:
    """The creation payload as far as it is known (fields not yet known are left out)."""
    draft: dict[str, Any] = {}
    if memory.name:
        draft["name"] = memory.name
    if memory.language_pref:
        draft["language"] = memory.language_pref
    if memory.category:
        draft["category"] = memory.category
    components: list[dict[str, Any]] = []
    if memory.category == "AUTHENTICATION":
        components.append({"type": "BODY", "add_security_recommendation": memory.add_security_recommendation})
        if memory.code_expiration_minutes is not None:
            components.append({"type": "FOOTER", "code_expiration_minutes": memory.code_expiration_minutes})
        components.append({"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE"}]})
        draft["components"] = components
        return draft
    named = bool(memory.body and find_variables(memory.body).named)
    if memory.wants_header and memory.header_text:
        header: dict[str, Any] = {"type": "HEADER", "format": "TEXT", "text": memory.header_text}
        header_vars = find_variables(memory.header_text)
        if header_vars.count and memory.header_examples:
            if header_vars.named:
                names = header_vars.distinct_named
                header["example"] = {
                    "header_text_named_params": [
                        {"param_name": n, "example": e} for n, e in zip(names, memory.header_examples, strict=False)
                    ]
                }
            else:
                header["example"] = {"header_text": memory.header_examples[:1]}
        components.append(header)
    if memory.body:
        body: dict[str, Any] = {"type": "BODY", "text": memory.body}
        found = find_variables(memory.body)
        if found.count and memory.body_examples:
            if named:
                body["example"] = {
                    "body_text_named_params": [
                        {"param_name": n, "example": e}
                        for n, e in zip(found.distinct_named, memory.body_examples, strict=False)
                    ]
                }
            else:
                body["example"] = {"body_text": [list(memory.body_examples)]}
        components.append(body)
    if memory.wants_footer and memory.footer_text:
        components.append({"type": "FOOTER", "text": memory.footer_text})
    if memory.wants_buttons and memory.buttons:
        components.append({"type": "BUTTONS", "buttons": [_button(b) for b in memory.buttons]})
    if named:
        draft["parameter_format"] = "NAMED"
    draft["components"] = components
    return draft


def _button(spec: ButtonSpec) -> dict[str, Any]:
    button: dict[str, Any] = {"type": spec.type, "text": spec.text}
    if spec.type == "URL" and spec.url:
        button["url"] = spec.url
        found = find_variables(spec.url)
        if found.count:
            example = spec.url
            for placeholder in ("{{1}}", *(f"{{{{{n}}}}}" for n in found.named)):
                example = example.replace(placeholder, URL_EXAMPLE_VALUE)
            button["example"] = [example]
    if spec.type == "PHONE_NUMBER" and spec.phone_number:
        button["phone_number"] = spec.phone_number
    return button


def evaluate(memory: TemplateMemory) -> TurnState:
    """Recompute the draft, the missing fields and the validation from ``memory``."""
    draft = build_draft(memory)
    return TurnState(draft=draft, missing_fields=missing_fields(memory), validation=validate_template(draft))


class Extraction(BaseModel):
    """Fields understood from one marketer message (by the offline rules or the LLM).

    Every field is optional; None means "not mentioned". ``language`` is a Meta code.
    """

    category: str | None = None
    name: str | None = None
    language: str | None = None
    business_type: str | None = None
    body: str | None = None
    body_examples: list[str] | None = None
    header_text: str | None = None
    footer_text: str | None = None
    buttons: list[ButtonSpec] | None = None
    wants_header: bool | None = None
    wants_footer: bool | None = None
    wants_buttons: bool | None = None
    code_expiration_minutes: int | None = None


def merge_extraction(memory: TemplateMemory, extraction: Extraction) -> TemplateMemory:
    """Copy every mentioned field of ``extraction`` into ``memory`` (the server trusts the extraction).

    A new body drops examples that no longer fit it; giving a header, footer or buttons implies
    the marketer wants that part.
    """
    data = memory.model_copy(deep=True)
    if extraction.category:
        data.category = extraction.category.upper()
    if extraction.name:
        data.name = extraction.name
    if extraction.language:
        data.language_pref = extraction.language
    if extraction.business_type:
        data.business_type = extraction.business_type
    if extraction.body:
        if extraction.body != data.body:
            data.body_examples = []
        data.body = extraction.body
    if extraction.body_examples:
        data.body_examples = list(extraction.body_examples)
    for flag in ("wants_header", "wants_footer", "wants_buttons"):
        value = getattr(extraction, flag)
        if value is not None:
            setattr(data, flag, value)
    if extraction.header_text:
        data.header_text, data.wants_header = extraction.header_text, True
    if extraction.footer_text:
        data.footer_text, data.wants_footer = extraction.footer_text, True
    if extraction.buttons:
        data.buttons, data.wants_buttons = list(extraction.buttons), True
    if extraction.code_expiration_minutes is not None:
        data.code_expiration_minutes = extraction.code_expiration_minutes
    return data
