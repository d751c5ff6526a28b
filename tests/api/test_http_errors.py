"""Edge answers found by schemathesis: a 405 names every method of the path, an undecodable body is a 422."""

from __future__ import annotations

from fastapi.testclient import TestClient

from samtale.app import create_app


def _client() -> TestClient:
    # No lifespan: these answers come from routing and body parsing, before any dependency runs.
    return TestClient(create_app(), raise_server_exceptions=False)


def test_a_405_lists_every_method_the_path_serves() -> None:
    response = _client().request("OPTIONS", "/api/admin/chatbots/vinhuset")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, PUT"
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_a_body_that_is_not_utf8_is_invalid_input_not_a_400() -> None:
    response = _client().post(
        "/api/process-message", content=b"\xff\xfe{", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json() == {"error": {"code": "invalid_input", "message": "the request body is not valid JSON"}}


def test_a_broken_multipart_body_is_invalid_input_not_a_400() -> None:
    """Schemathesis' stateful phase sent a multipart body with no parts to the document upload."""
    boundary = "9cc651cd2c8d168349f50fede4c361ac"
    response = _client().post(
        "/api/admin/chatbots/vinhuset/knowledge/indexes/wines/documents",
        content=f"--{boundary}\r\nFalse--{boundary}--\r\n".encode(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}", "authorization": "Bearer nothing"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_input"
    assert response.json()["error"]["message"].startswith("the request body cannot be parsed")


def test_the_search_paths_are_not_taken_for_ids() -> None:
    """``/api/memories/search`` is its own route: a memory id is a UUID, so PATCH or DELETE there is a 405."""
    response = _client().request("OPTIONS", "/api/memories/search")
    assert response.status_code == 405 and response.headers["allow"] == "GET"
