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
