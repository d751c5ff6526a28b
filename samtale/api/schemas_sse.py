"""The ``text/event-stream`` responses in OpenAPI: one item schema per stream, a ``oneOf`` of its events.

Each SSE event is described as OpenAPI 3.2 describes one (``itemSchema``: ``{event, data, id,
retry}`` strings) with ``event`` fixed to the event's name and ``data`` a JSON string whose
``contentSchema`` is the event's payload (:data:`samtale.conversation.events.EVENT_PAYLOADS`).
``schema`` describes the whole stream as the array of those events, for tools that read it so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter
from typing_extensions import TypedDict

from samtale.api.schemas_template_builder import ChatResponse
from samtale.conversation.events import EVENT_PAYLOADS, TokenData


class BuilderStartData(TypedDict):
    """``start`` of a template-builder turn."""

    session_id: str


TEMPLATE_BUILDER_EVENTS: dict[str, type] = {"start": BuilderStartData, "token": TokenData, "end": ChatResponse}
"""The template builder's SSE events: ``start``, one ``token`` per word of the reply, ``end`` (the turn)."""


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its ``$defs`` inlined where referenced, so it can sit inside another schema."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(value) for value in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def event_item_schema(payloads: Mapping[str, type]) -> dict[str, Any]:
    """One SSE event of a stream whose events are named by ``payloads``' keys."""
    alternatives = []
    for name, payload in payloads.items():
        content = inline_refs(TypeAdapter(payload).json_schema(mode="serialization"))
        alternatives.append(
            {
                "type": "object",
                "title": f"{name} event",
                "required": ["event", "data"],
                "properties": {
                    "event": {"const": str(name)},
                    "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": content},
                    "id": {"type": "string", "description": "per-stream integer, increasing by one from 1"},
                    "retry": {"type": "integer", "minimum": 0},
                },
            }
        )
    return {"oneOf": alternatives}


def sse_content(payloads: Mapping[str, type]) -> dict[str, Any]:
    """The ``content`` entry of a ``text/event-stream`` response."""
    item = event_item_schema(payloads)
    return {"text/event-stream": {"itemSchema": item, "schema": {"type": "array", "items": item}}}


ANSWER_EVENTS_DESCRIPTION = (
    "Server-sent events of one answer: `start`, `flow`, then `order` and/or `sources`, `memory`, `token`…, and "
    "`end` or `error` (docs/api.md). The first chunk carries `retry: 2000`; each event has `id:` (resume with "
    "`Last-Event-ID`), `event:` and `data:` (JSON); a `: heartbeat` comment is sent every 15 s while idle."
)


def answer_stream_content() -> dict[str, Any]:
    """``content`` of a response streaming an answer's events."""
    return sse_content({str(name): payload for name, payload in EVENT_PAYLOADS.items()})


def template_builder_stream_content() -> dict[str, Any]:
    """``content`` of the template builder's streamed turn."""
    return sse_content(TEMPLATE_BUILDER_EVENTS)
