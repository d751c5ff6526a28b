"""Translation of samtale's exception tree to HTTP: ``{"error": {"code", "message", "details"}}``.

No stack trace ever reaches a client: unexpected exceptions become a 500 with a generic message
and are logged with their trace on the server.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from samtale.api.responses import FastJSONResponse
from samtale.errors import (
    AuthError,
    ConflictError,
    InputError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    SamtaleError,
    ServiceError,
    UnsupportedMediaError,
)

logger = logging.getLogger(__name__)

STATUS_BY_ERROR: list[tuple[type[SamtaleError], int]] = [
    (PayloadTooLargeError, 413),
    (UnsupportedMediaError, 415),
    (InputError, 422),
    (NotFoundError, 404),
    (ConflictError, 409),
    (PermissionDeniedError, 403),
    (AuthError, 401),
    (RateLimitedError, 429),
    (ServiceError, 503),
]

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "rate_limited",
}


ERROR_DESCRIPTIONS = {
    400: "Bad request",
    401: "No credentials, or unknown ones (an API key or the stream's session token); ``WWW-Authenticate: Bearer``",
    403: "The credentials do not cover this (a wrong session token, a non-admin key, another chatbot's key)",
    404: "Unknown resource (chatbot, stream, session, index, document, job)",
    409: "Conflict with the stored state",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Invalid input: malformed JSON, a missing or mistyped field, an out-of-range value",
    429: "Rate limited",
    503: "A dependency is unavailable (database, LLM, order API, Meta)",
}


class ErrorDetail(BaseModel):
    """What went wrong: a stable machine ``code``, a sentence for people, and optional ``details``."""

    code: str = Field(description="stable error code, e.g. ``chatbot_not_found``, ``invalid_input``")
    message: str
    details: dict[str, Any] | None = Field(
        default=None, description="structured context (absent when there is none), e.g. ``{field, limit}``"
    )


class ErrorResponse(BaseModel):
    """The body of every 4xx/5xx answer: ``{"error": {"code", "message", "details"}}``."""

    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` entry of a route for the error ``statuses`` it can return, each an
    :class:`ErrorResponse` (as ``application/json``, also on a route whose success is an event
    stream). 422 is listed wherever FastAPI validates a parameter or a body."""
    return {status: {"model": ErrorResponse, "description": ERROR_DESCRIPTIONS[status]} for status in statuses}


def status_for(exc: SamtaleError) -> int:
    """The HTTP status of a samtale error (500 for an unmapped one)."""
    for error_type, status in STATUS_BY_ERROR:
        if isinstance(exc, error_type):
            return status
    return 500


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The JSON error body every 4xx/5xx answer carries."""
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return {"error": error}


async def _samtale_error(request: Request, exc: Exception) -> FastJSONResponse:
    assert isinstance(exc, SamtaleError)
    status = status_for(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if isinstance(exc, RateLimitedError) and exc.retry_after_s is not None:
        headers = {"Retry-After": str(exc.retry_after_s)}
    return FastJSONResponse(error_body(exc.code, exc.message, exc.details), status_code=status, headers=headers)


async def _validation_error(request: Request, exc: Exception) -> FastJSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        problems.append({"field": location or "body", "message": error.get("msg", "invalid")})
    if any(error.get("type") == "json_invalid" for error in exc.errors()):
        message = "the request body is not valid JSON"
    else:
        message = "; ".join(f"{p['field']}: {p['message']}" for p in problems) or "invalid request"
    return FastJSONResponse(error_body("invalid_input", message, {"errors": problems}), status_code=422)


_BODY_PARSE_FAILED = "There was an error parsing the body"


async def _http_error(request: Request, exc: Exception) -> FastJSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # Only body parsing answers 400 here: FastAPI's "There was an error parsing the body" (not
        # UTF-8, broken JSON) and Starlette's form parser ("Invalid multipart data.", "Missing
        # boundary in multipart."…). The same 422 as malformed JSON, as docs/api.md promises.
        if exc.detail == _BODY_PARSE_FAILED:
            message = "the request body is not valid JSON" if _is_json(request) else "the request body cannot be parsed"
        else:
            message = f"the request body cannot be parsed: {exc.detail}"
        return FastJSONResponse(error_body("invalid_input", message), status_code=422)
    code = HTTP_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    headers = exc.headers
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": ", ".join(_allowed_methods(request))}
    return FastJSONResponse(error_body(code, message), status_code=exc.status_code, headers=headers)


def _is_json(request: Request) -> bool:
    return "json" in request.headers.get("content-type", "json")


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at the request's path (Starlette's 405 names only the
    methods of the first route whose path matched, and FastAPI makes a route per method)."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]


async def _unexpected_error(request: Request, exc: Exception) -> FastJSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return FastJSONResponse(error_body("internal_error", "an internal error occurred; it has been logged"), 500)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(SamtaleError, _samtale_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
