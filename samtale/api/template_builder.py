"""The template builder's HTTP API (seed 004), mounted under ``/api/template-builder``.

* ``GET /session/new`` and ``POST /sessions`` — open a session.
* ``POST /chat`` — one turn; JSON, or SSE with ``Accept: text/event-stream``
  (events ``start``, ``token``…, ``end`` with the whole turn result).
* ``GET /session/{id}`` — the chat history for a UI.
* ``GET /session/{id}/debug`` — seed 004's debug structure (admin API key).
* ``POST /validate`` — validate a payload without a session.
* ``POST /session/{id}/submit`` — send the final payload to Meta with the chatbot's WhatsApp
  integration (``settings.waba_id``, secret ``access_token``; admin API key covering the chatbot).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request

from samtale.api.deps import AdminKeyDep, ClientAddressDep, DbDep, ServicesDep, require_chatbot_access
from samtale.api.errors import error_responses
from samtale.api.schemas_sse import template_builder_stream_content
from samtale.api.schemas_template_builder import (
    ChatRequest,
    ChatResponse,
    NewSessionRequest,
    NewSessionResponse,
    SessionCreatedResponse,
    SessionDebugResponse,
    SessionHistoryResponse,
    SubmitRequest,
    SubmitResponse,
    ValidationResult,
)
from samtale.chatbots.service import integration_secrets
from samtale.errors import InputError, NotFoundError
from samtale.llm.factory import create_json_provider
from samtale.streaming.hub import StreamEvent
from samtale.streaming.sse import SSE_HEADERS, EventSourceResponse, format_event
from samtale.template_builder import service
from samtale.template_builder.assistant import Assistant, LLMAssistant
from samtale.template_builder.errors import TemplatePayloadError
from samtale.template_builder.llm_client import ProviderJSONCompleter
from samtale.template_builder.meta import DEFAULT_BASE_URL, DEFAULT_VERSION, MetaTemplateClient
from samtale.template_builder.submission import submit_session
from samtale.template_builder.validator import validate_template
from samtale.template_builder.wizard import OfflineWizard

router = APIRouter(prefix="/api/template-builder", tags=["template builder"])
WHATSAPP_KIND = "whatsapp"


def get_assistant(request: Request, services: ServicesDep) -> Assistant:
    """The process's assistant: the LLM one when ``SAMTALE_LLM_PROVIDER=openai``, else the offline wizard.

    An assistant already set on ``app.state.template_assistant`` is used as it is.
    """
    existing: Assistant | None = getattr(request.app.state, "template_assistant", None)
    if existing is not None:
        return existing
    settings = services.settings
    assistant: Assistant
    provider = create_json_provider(settings=settings, http_client=services.pools.ai)
    if provider is not None:
        completer = ProviderJSONCompleter(provider=provider, temperature=settings.llm_temperature)
        assistant = LLMAssistant(completer=completer, model=settings.llm_model)
    else:
        assistant = OfflineWizard()
    request.app.state.template_assistant = assistant
    return assistant


@router.get("/session/new", response_model=NewSessionResponse)
async def new_session(db: DbDep) -> dict[str, str]:
    """Open a new session (seed 004): ``{"session_id"}``."""
    return {"session_id": await service.create_session(db)}


@router.post("/sessions", status_code=201, response_model=SessionCreatedResponse, responses=error_responses(422))
async def create_session(db: DbDep, body: NewSessionRequest | None = None) -> dict[str, str | None]:
    """Open a new session, optionally for a chatbot: ``{"session_id", "chatbot_id"}``."""
    chatbot_id = body.chatbot_id if body else None
    return {"session_id": await service.create_session(db, chatbot_id=chatbot_id), "chatbot_id": chatbot_id}


@router.post(
    "/chat",
    response_model=ChatResponse,
    responses={
        200: {
            "content": template_builder_stream_content(),
            "description": "the turn as JSON, or with `Accept: text/event-stream` as events: `start`, a `token` per "
            "word of the reply, `end` (the turn as in the JSON answer)",
        },
        **error_responses(404, 413, 422, 429, 503),
    },
)
async def chat(body: ChatRequest, request: Request, db: DbDep, services: ServicesDep, address: ClientAddressDep) -> Any:
    """One turn: ``{session_id, reply, action, draft, missing_fields, validation, final_creation_payload}``.

    ``action`` is ASK, DRAFT or FINAL; ``final_creation_payload`` is set only with FINAL. 429 over
    ``SAMTALE_TEMPLATE_CHAT_RATE_LIMIT`` (per session and per client address).
    """
    limit = services.settings.template_chat_rate_limit
    await services.rate_limiter.hit(rule="template_chat", limit=limit, keys=("address", address), what="this address")
    if body.session_id:
        await services.rate_limiter.hit(
            rule="template_chat", limit=limit, keys=("session", body.session_id), what="this session"
        )
    assistant = get_assistant(request, services)
    result = await service.chat(db, session_id=body.session_id, message=body.message, assistant=assistant)
    if "text/event-stream" in request.headers.get("accept", ""):
        return EventSourceResponse(_sse(result), headers=SSE_HEADERS)
    return result.to_dict()


async def _sse(result: service.ChatResult) -> AsyncIterator[bytes]:
    """``start`` (ids), one ``token`` per word of the reply, ``end`` (the whole turn result)."""
    yield b"retry: 2000\n\n"
    counter = 0

    def event(name: str, data: dict[str, Any]) -> bytes:
        nonlocal counter
        counter += 1
        return format_event(StreamEvent(id=counter, event=name, data=data, timestamp=datetime.now(UTC)))

    yield event("start", {"session_id": result.session_id})
    for piece in re.findall(r"\S+\s*|\s+", result.reply):
        yield event("token", {"token": piece})
    yield event("end", result.to_dict())


@router.get("/session/{session_id}", response_model=SessionHistoryResponse, responses=error_responses(404, 422))
async def session_history(session_id: str, db: DbDep) -> dict[str, Any]:
    """The chat history of a session, for a UI."""
    return await service.session_history(db, session_id=session_id)


@router.get(
    "/session/{session_id}/debug",
    response_model=SessionDebugResponse,
    responses=error_responses(401, 403, 404, 422),
)
async def session_debug(session_id: str, db: DbDep, _admin: AdminKeyDep) -> dict[str, Any]:
    """Seed 004's debug structure: messages, draft, memory, LLM logs with latency (admin API key)."""
    return await service.session_debug(db, session_id=session_id)


@router.post(
    "/validate",
    response_model=ValidationResult,
    responses=error_responses(422),
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}},
)
async def validate(request: Request) -> dict[str, Any]:
    """Validate a template creation payload without a session: ``{valid, errors, warnings}``.

    A body that is not JSON, or not a JSON object, is a 422 naming the parse error.
    """
    raw = await request.body()
    try:
        payload = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        detail = (
            f"{exc.msg} at line {exc.lineno}, column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else str(exc)
        )
        raise TemplatePayloadError(f"the payload is not valid JSON: {detail}") from exc
    if not isinstance(payload, dict):
        raise TemplatePayloadError(f"the payload must be a JSON object, not {type(payload).__name__}")
    return validate_template(payload).to_dict()


@router.post(
    "/session/{session_id}/submit",
    response_model=SubmitResponse,
    responses=error_responses(401, 403, 404, 422, 503),
)
async def submit(
    session_id: str, db: DbDep, services: ServicesDep, key: AdminKeyDep, body: SubmitRequest | None = None
) -> dict[str, Any]:
    """Send the session's final payload to Meta with the chatbot's WhatsApp account; records the outcome."""
    session_chatbot_id = await service.session_chatbot(db, session_id=session_id)
    chatbot_id = (body.chatbot_id if body else None) or session_chatbot_id
    if not chatbot_id:
        raise InputError("name the chatbot whose WhatsApp account to use (chatbot_id)")
    require_chatbot_access(key, chatbot_id)
    chatbot = await services.get_chatbot(chatbot_id)
    wanted = body.integration if body else None
    integration = next(
        (i for i in chatbot.integrations if (i.name == wanted if wanted else i.kind == WHATSAPP_KIND)), None
    )
    if integration is None:
        raise NotFoundError(f"chatbot '{chatbot_id}' has no WhatsApp integration")
    secrets = await integration_secrets(
        db=db, chatbot_id=chatbot_id, name=integration.name, secret_key=services.settings.secret_key
    )
    waba_id = str(integration.settings.get("waba_id") or "")
    token = secrets.get("access_token", "")
    if not waba_id or not token:
        raise InputError(f"integration '{integration.name}' needs settings.waba_id and the secret access_token")
    client = MetaTemplateClient(
        http=services.pools.general,
        base_url=str(integration.settings.get("graph_base_url") or DEFAULT_BASE_URL),
        version=str(integration.settings.get("graph_version") or DEFAULT_VERSION),
    )
    outcome = await submit_session(db, session_id=session_id, client=client, waba_id=waba_id, access_token=token)
    return {**outcome, "session_id": session_id}
