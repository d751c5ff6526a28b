"""/openapi.json describes every body: each operation's success and error statuses have a schema,
errors are the ``{"error": {code, message, details}}`` model, and the event streams list their events."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter

from samtale.api.schemas_sse import TEMPLATE_BUILDER_EVENTS, inline_refs
from samtale.app import create_app
from samtale.conversation.events import EVENT_PAYLOADS, EventName

METHODS = ("get", "put", "post", "delete", "patch")
ERROR_REF = "#/components/schemas/ErrorResponse"
# Health endpoints answer 503 with their own body (the state that is down), not an error object.
OWN_503_BODY = {"/health", "/api/conversation-health"}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return create_app().openapi()


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def _resolve(spec: dict[str, Any], ref: str) -> dict[str, Any]:
    node: Any = spec
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    assert isinstance(node, dict)
    return node


def test_the_schema_lists_every_route(spec: dict[str, Any]) -> None:
    assert len(_operations(spec)) >= 31


def test_every_success_status_has_a_body_schema(spec: dict[str, Any]) -> None:
    missing = []
    for path, method, operation in _operations(spec):
        successes = {status: r for status, r in operation["responses"].items() if status.startswith("2")}
        assert successes, f"{method.upper()} {path} declares no 2xx response"
        for status, response in successes.items():
            content = response.get("content", {})
            if status == "204":  # No Content: a body would break the response
                if content:
                    missing.append(f"{method.upper()} {path} 204 declares a body: {sorted(content)}")
                continue
            described = [
                media
                for media, entry in content.items()
                if entry.get("schema") not in (None, {}) or entry.get("itemSchema")
            ]
            if not content or len(described) != len(content):
                missing.append(f"{method.upper()} {path} {status}: {sorted(content)} / described {described}")
    assert not missing, "\n".join(missing)


def test_every_error_status_is_declared_with_the_error_model(spec: dict[str, Any]) -> None:
    wrong = []
    for path, method, operation in _operations(spec):
        errors = {status: r for status, r in operation["responses"].items() if status[0] in "45"}
        has_parameters = bool(operation.get("parameters") or operation.get("requestBody"))
        if has_parameters and "422" not in errors:
            wrong.append(f"{method.upper()} {path}: validated input but no 422")
        for status, response in errors.items():
            schema = response.get("content", {}).get("application/json", {}).get("schema", {})
            if status == "503" and path in OWN_503_BODY:
                expected = schema.get("$ref", "")
                if not expected.endswith("HealthResponse"):
                    wrong.append(f"{method.upper()} {path} 503: {schema}")
            elif schema.get("$ref") != ERROR_REF or set(response["content"]) != {"application/json"}:
                wrong.append(f"{method.upper()} {path} {status}: {response.get('content')}")
    assert not wrong, "\n".join(wrong)


def test_admin_operations_declare_401_and_403(spec: dict[str, Any]) -> None:
    for path, method, operation in _operations(spec):
        if path.startswith(("/api/admin", "/api/monitoring")) or path.endswith(("/debug", "/submit")):
            assert {"401", "403"} <= set(operation["responses"]), f"{method.upper()} {path}"


def test_the_error_model_and_every_reference_resolve(spec: dict[str, Any]) -> None:
    error = _resolve(spec, ERROR_REF)
    detail = _resolve(spec, error["properties"]["error"]["$ref"])
    assert set(detail["required"]) == {"code", "message"}
    assert "details" in detail["properties"]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                _resolve(spec, ref)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)
    assert "HTTPValidationError" not in str(spec), "FastAPI's default 422 body is not what samtale answers"


def _events(content: dict[str, Any]) -> dict[str, dict[str, Any]]:
    stream = content["text/event-stream"]
    alternatives = stream["itemSchema"]["oneOf"]
    assert stream["schema"] == {"type": "array", "items": stream["itemSchema"]}
    events = {}
    for alternative in alternatives:
        properties = alternative["properties"]
        assert set(alternative["required"]) == {"event", "data"}
        assert properties["data"]["contentMediaType"] == "application/json"
        events[properties["event"]["const"]] = properties["data"]["contentSchema"]
    return events


@pytest.mark.parametrize(
    ("path", "method"), [("/api/stream/{streaming_session_id}", "get"), ("/api/process-message", "post")]
)
def test_the_answer_streams_describe_every_event_payload(spec: dict[str, Any], path: str, method: str) -> None:
    events = _events(spec["paths"][path][method]["responses"]["200"]["content"])
    assert set(events) == {name.value for name in EventName}
    for name, payload in EVENT_PAYLOADS.items():
        expected = inline_refs(TypeAdapter(payload).json_schema(mode="serialization"))
        assert set(events[name.value]["properties"]) == set(expected["properties"]), name
        assert set(events[name.value].get("required", ())) == set(expected.get("required", ())), name
    assert events["token"]["required"] == ["token"]
    assert set(events["error"]["required"]) == {"category", "message", "shopper_message"}


def test_the_template_builder_stream_is_described(spec: dict[str, Any]) -> None:
    events = _events(spec["paths"]["/api/template-builder/chat"]["post"]["responses"]["200"]["content"])
    assert set(events) == set(TEMPLATE_BUILDER_EVENTS) == {"start", "token", "end"}
    assert "final_creation_payload" in events["end"]["properties"]


def test_process_message_documents_both_answers(spec: dict[str, Any]) -> None:
    content = spec["paths"]["/api/process-message"]["post"]["responses"]["200"]["content"]
    assert content["application/json"]["schema"]["$ref"].endswith("ProcessMessageResponse")
    assert "text/event-stream" in content
