"""The assistant loop's contracts and the LLM-backed assistant.

The LLM mode, each turn (issue 8, seed 004):

1. sends the conversation, the memory and the current draft (with what is missing and the last
   validation errors) and asks for structured output: :data:`TURN_SCHEMA`
   (``{action, reply, extracted}``);
2. the server merges ``extracted`` into the memory and the draft ("server trusts AI
   responses"), recomputes ``missing_fields`` and runs the validator;
3. FINAL only passes with a complete draft that validates; otherwise the validation errors are
   explained and the model sees them next turn to fix them;
4. every request and response is logged with its latency; an answer that does not fit the
   schema is logged and the turn answers with the current draft and asks again.

The LLM is reached through :class:`JSONCompleter`, a one-method protocol any provider can be
adapted to (see :mod:`samtale.template_builder.llm_client`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ValidationError

from samtale.template_builder.memory import (
    FIELD_ORDER,
    Action,
    Extraction,
    TemplateMemory,
    TurnState,
    evaluate,
    merge_extraction,
)
from samtale.template_builder.wording import TEXT

HISTORY_TURNS = 20


@dataclass(slots=True)
class HistoryMessage:
    """One earlier message of the session: ``role`` is ``user`` or ``assistant``."""

    role: str
    content: str


@dataclass(slots=True)
class LLMLogEntry:
    """One LLM request or response, as stored in ``template_llm_logs``.

    ``latency_ms`` is set on the response (or error) entry: milliseconds from sending the
    request to having the answer.
    """

    direction: Literal["request", "response", "error"]
    payload: dict[str, Any]
    model: str | None
    latency_ms: float | None = None


@dataclass(slots=True)
class AssistantTurn:
    """What an assistant made of one message: new memory, reply, action and the server's state."""

    memory: TemplateMemory
    reply: str
    action: Action
    state: TurnState
    llm_logs: list[LLMLogEntry] = field(default_factory=list)


class Assistant(Protocol):
    """Anything that answers a marketer's message (the offline wizard, :class:`LLMAssistant`)."""

    model: str

    async def respond(
        self, *, memory: TemplateMemory, history: list[HistoryMessage], message: str
    ) -> AssistantTurn:  # pragma: no cover - protocol
        """Answer ``message`` given the session's ``memory`` and earlier ``history``."""
        ...


class JSONCompleter(Protocol):
    """An LLM that answers with JSON following a schema.

    ``complete_json`` returns the parsed JSON (or the raw text when it is not JSON) and a dict
    of facts about the call (at least ``model``; optionally ``usage``).
    """

    async def complete_json(
        self, *, messages: list[dict[str, Any]], schema: dict[str, Any]
    ) -> tuple[dict[str, Any] | str, dict[str, Any]]:  # pragma: no cover - protocol
        """Send ``messages`` and ask for output matching the JSON ``schema``."""
        ...


class LLMTurnReply(BaseModel):
    """The structured answer the LLM must give each turn."""

    action: Action
    reply: str
    extracted: Extraction


def _nullable(kind: str) -> dict[str, Any]:
    return {"type": [kind, "null"]}


_BUTTON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["type", "text", "url", "phone_number"],
    "properties": {
        "type": {"type": "string", "enum": ["QUICK_REPLY", "URL", "PHONE_NUMBER"]},
        "text": {"type": "string"},
        "url": _nullable("string"),
        "phone_number": _nullable("string"),
    },
}
_EXTRACTED_PROPERTIES: dict[str, Any] = {
    "category": {"type": ["string", "null"], "enum": ["MARKETING", "UTILITY", "AUTHENTICATION", None]},
    "name": _nullable("string"),
    "language": _nullable("string"),
    "business_type": _nullable("string"),
    "body": _nullable("string"),
    "body_examples": {"type": ["array", "null"], "items": {"type": "string"}},
    "header_text": _nullable("string"),
    "footer_text": _nullable("string"),
    "buttons": {"type": ["array", "null"], "items": _BUTTON_SCHEMA},
    "wants_header": _nullable("boolean"),
    "wants_footer": _nullable("boolean"),
    "wants_buttons": _nullable("boolean"),
    "code_expiration_minutes": _nullable("integer"),
}
TURN_SCHEMA: dict[str, Any] = {
    "name": "template_builder_turn",
    "strict": True,
    "schema": {
        "type": "object",
        "additionalProperties": False,
        "required": ["action", "reply", "extracted"],
        "properties": {
            "action": {"type": "string", "enum": ["ASK", "DRAFT", "FINAL"]},
            "reply": {"type": "string"},
            "extracted": {
                "type": "object",
                "additionalProperties": False,
                "required": list(_EXTRACTED_PROPERTIES),
                "properties": _EXTRACTED_PROPERTIES,
            },
        },
    },
}
SYSTEM_PROMPT = (
    """You help a marketer write a WhatsApp message template that Meta will approve.
Reply in the marketer's language (English or Danish). Ask for one missing thing at a time, propose
wording, and propose an example value for every placeholder ({{1}}, {{2}}… numbered from 1).
Rules: name uses lowercase letters, digits and underscores; category is MARKETING, UTILITY or
AUTHENTICATION; language is a Meta code such as en_US or da; body at most 1024 characters, not
starting or ending with a placeholder; header and footer at most 60 characters, no placeholder in
the footer; button labels at most 25 characters. Header, footer and buttons are optional: ask
about each once; "no" declines it.
Answer ONLY with JSON: {"action": "ASK"|"DRAFT"|"FINAL", "reply": text for the marketer,
"extracted": fields learned from the conversation (null when unknown)}. Say FINAL only when
nothing is missing. Field names in missing_fields: """
    + ", ".join(FIELD_ORDER)
    + "."
)


class LLMAssistant:
    """The LLM-backed assistant (see the module doc).

    Args:
        completer: the LLM, as a :class:`JSONCompleter`.
        model: the model name recorded in the logs when the completer reports none.
    """

    def __init__(self, *, completer: JSONCompleter, model: str) -> None:
        self.completer = completer
        self.model = model

    async def respond(self, *, memory: TemplateMemory, history: list[HistoryMessage], message: str) -> AssistantTurn:
        """Run one LLM turn; never raises on a malformed answer (see the module doc).

        Raises:
            Whatever the completer raises when the LLM cannot be reached (a ``ServiceError``).
        """
        before = evaluate(memory)
        messages = self._messages(memory=memory, state=before, history=history, message=message)
        logs = [LLMLogEntry("request", {"messages": messages, "schema": TURN_SCHEMA}, self.model)]
        started = time.perf_counter()
        answer, info = await self.completer.complete_json(messages=messages, schema=TURN_SCHEMA)
        latency_ms = round((time.perf_counter() - started) * 1000, 3)
        model = str(info.get("model") or self.model)
        try:
            if not isinstance(answer, dict):
                raise ValueError("the answer is not a JSON object")
            parsed = LLMTurnReply.model_validate(answer)
        except (ValidationError, ValueError) as exc:
            logs.append(
                LLMLogEntry(
                    "error",
                    {"raw": answer, "error": str(exc)[:2000], "info": info},
                    model,
                    latency_ms,
                )
            )
            reply = TEXT["retry"][memory.conversation_language]
            return AssistantTurn(memory=memory, reply=reply, action=before.allowed_action("DRAFT"), state=before,
                                 llm_logs=logs)  # fmt: skip
        logs.append(LLMLogEntry("response", {"content": answer, "info": info}, model, latency_ms))
        updated = merge_extraction(memory, parsed.extracted)
        state = evaluate(updated)
        action = state.allowed_action(parsed.action)
        reply = parsed.reply
        if parsed.action == "FINAL" and action != "FINAL":
            problems = [f"- {e.path}: {e.message}" for e in state.validation.errors]
            problems += [f"- missing: {name}" for name in state.missing_fields]
            reply = TEXT["invalid"][updated.conversation_language].format(errors="\n".join(problems))
        updated.last_validation_errors = [f"{e.path} ({e.rule}): {e.message}" for e in state.validation.errors]
        return AssistantTurn(memory=updated, reply=reply, action=action, state=state, llm_logs=logs)

    @staticmethod
    def _messages(
        *, memory: TemplateMemory, state: TurnState, history: list[HistoryMessage], message: str
    ) -> list[dict[str, Any]]:
        context = {
            "memory": memory.model_dump(mode="json"),
            "current_draft": state.draft,
            "missing_fields": state.missing_fields,
            "validation_errors": [e.model_dump() for e in state.validation.errors] if state.draft else [],
        }
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "system", "content": "Session state (JSON): " + json.dumps(context, ensure_ascii=False)},
        ]
        messages += [{"role": m.role, "content": m.content} for m in history[-HISTORY_TURNS:]]
        messages.append({"role": "user", "content": message})
        return messages
