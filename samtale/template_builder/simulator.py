"""A local simulator of Meta's ``POST /{version}/{WABA_ID}/message_templates``, for tests and demos.

It checks the bearer token, runs our validator and answers the way the Graph API does: a
created template as ``{"id", "status": "PENDING", "category"}``, or an error object with the
subcode Meta uses for that kind of problem (2388040 length, 2388047 header, 2388073 footer,
2388293 parameter ratio, 2388299 leading/trailing parameter, 2388019 template limit). Run it
with ``uvicorn --factory samtale.template_builder.simulator:create_simulator_app``.
"""

from __future__ import annotations

import itertools
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from samtale.template_builder.validator import validate_template

RULE_SUBCODES: dict[str, int] = {
    "body.max_length": 2388040,
    "header.max_length": 2388040,
    "footer.max_length": 2388040,
    "button.text_max_length": 2388040,
    "button.url_max_length": 2388040,
    "header.format_invalid": 2388047,
    "header.too_many_variables": 2388047,
    "header.media_example_missing": 2388047,
    "footer.variable": 2388073,
    "footer.text_required": 2388073,
    "body.variable_ratio": 2388293,
    "body.leading_variable": 2388299,
    "body.trailing_variable": 2388299,
}


def _error(
    status: int, message: str, *, code: int, subcode: int | None = None, kind: str = "OAuthException"
) -> JSONResponse:
    error: dict[str, Any] = {"message": message, "type": kind, "code": code, "fbtrace_id": "SimulatedTrace"}
    if subcode is not None:
        error["error_subcode"] = subcode
        error["error_user_msg"] = message
    return JSONResponse(status_code=status, content={"error": error})


def create_simulator_app(*, access_token: str = "simulator-token", template_limit: int = 250) -> FastAPI:
    """The simulator app; ``app.state.templates`` holds the created templates by id.

    Args:
        access_token: the only bearer token accepted.
        template_limit: how many templates a WABA may hold before subcode 2388019.
    """
    app = FastAPI(title="Graph API simulator (message templates)")
    app.state.templates = {}
    ids = itertools.count(1_000_000_000_000_001)

    @app.post("/{version}/{waba_id}/message_templates")
    async def create_template(version: str, waba_id: str, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {access_token}":
            return _error(401, "Invalid OAuth access token - Cannot parse access token", code=190)
        try:
            payload = await request.json()
        except ValueError:
            return _error(400, "Invalid JSON body", code=100, kind="GraphMethodException")
        existing = [t for t in app.state.templates.values() if t["waba_id"] == waba_id]
        if len(existing) >= template_limit:
            return _error(400, "Template limit reached", code=100, subcode=2388019)
        result = validate_template(payload)
        problems = result.errors + [w for w in result.warnings if w.rule in RULE_SUBCODES]
        if problems:
            first = problems[0]
            return _error(
                400,
                f"{first.path}: {first.message}",
                code=100,
                subcode=RULE_SUBCODES.get(first.rule),
                kind="OAuthException",
            )
        template_id = str(next(ids))
        category = str(payload.get("category", "")).upper()
        app.state.templates[template_id] = {"waba_id": waba_id, "version": version, "payload": payload}
        return JSONResponse({"id": template_id, "status": "PENDING", "category": category})

    return app
