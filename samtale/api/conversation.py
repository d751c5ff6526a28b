"""The conversation API (seed 002): process a message, read its answer by SSE or by polling."""

from __future__ import annotations

import hmac
import time
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from samtale.api.deps import (
    ClientAddressDep,
    OptionalApiKeyDep,
    ServicesDep,
    SessionTokenDep,
    check_origin,
    require_chatbot_access,
)
from samtale.api.errors import error_responses
from samtale.api.images import turn_image
from samtale.api.responses import FastJSONResponse
from samtale.api.schemas import (
    ConversationConfigResponse,
    ConversationHealthResponse,
    ProcessMessageRequest,
    ProcessMessageResponse,
    StopResponse,
    StreamEventsResponse,
)
from samtale.api.schemas_sse import ANSWER_EVENTS_DESCRIPTION, answer_stream_content
from samtale.chatbots.apikeys import ApiKeyInfo
from samtale.conversation.access import Credentials
from samtale.errors import AuthError, InputError, PermissionDeniedError
from samtale.services import Services
from samtale.streaming.hub import StreamEvent, StreamNotFoundError, hash_token
from samtale.streaming.sse import SSE_HEADERS, EventSourceResponse, sse_from_events, sse_from_stream

router = APIRouter(prefix="/api", tags=["conversation"])
MAX_WAIT_S = 30.0


@router.post(
    "/process-message",
    response_model=ProcessMessageResponse,
    responses={
        200: {
            "content": answer_stream_content(),
            "description": "the ids and URLs of the answer (JSON), or with `Accept: text/event-stream` the answer's "
            "server-sent events (headers `X-Session-Id`, `X-Streaming-Session-Id`)",
        },
        **error_responses(401, 403, 404, 409, 413, 415, 422, 429, 503),
    },
)
async def process_message(
    body: ProcessMessageRequest,
    request: Request,
    services: ServicesDep,
    token: SessionTokenDep,
    address: ClientAddressDep,
    x_user_hash: Annotated[str | None, Header(max_length=128)] = None,
) -> Any:
    """Start answering a shopper's message.

    Answers at once with the ids and the URLs to read the answer from. With
    ``Accept: text/event-stream`` the same call streams the answer directly. Continuing a
    stored ``session_id`` needs its session token (``X-Session-Token`` or ``session_token``) or
    the shopper's verified identity (``X-User-Hash`` or ``user_hash``): 401 without either, 404
    when they do not fit, 409 ``turn_in_progress`` while the conversation's previous message is
    still being answered, 429 over the chatbot's ``rate_limits`` (per address, shopper and
    conversation; ``Retry-After`` says when to try again). An image (``image_data`` inline, or
    the ``file_id`` of an upload) is refused as ``/api/upload-image`` refuses it (403, 413, 415,
    422); its description streams as the ``image`` event before the answer.
    """
    received = time.perf_counter()
    await check_origin(request, services, body.chatbot_id)
    await _count_turn(services=services, chatbot_id=body.chatbot_id, address=address, body=body)
    image = await turn_image(
        services=services,
        chatbot_id=body.chatbot_id,
        user_id=body.user_id,
        session_id=body.session_id,
        image_data=body.image_data,
        file_id=body.file_id,
    )
    handle = await services.conversation.start_turn(
        chatbot_id=body.chatbot_id,
        user_id=body.user_id,
        message=body.message_text,
        session_id=body.session_id,
        credentials=Credentials(
            session_token=token or body.session_token,
            user_hash=x_user_hash or body.user_hash,
            client_address=address,
        ),
        client_history=[(item.role, item.content) for item in body.conversation_history],
        received_at=received,
        image=image,
    )
    stream = handle.stream
    if "text/event-stream" in request.headers.get("accept", ""):
        return EventSourceResponse(
            sse_from_stream(stream, after=0, heartbeat_s=services.settings.stream_heartbeat_s),
            headers={
                **SSE_HEADERS,
                "X-Session-Id": handle.session_id,
                "X-Streaming-Session-Id": stream.id,
                "X-Session-Token": handle.session_token,
            },
        )
    token = handle.session_token
    return FastJSONResponse(
        {
            "success": True,
            "session_id": handle.session_id,
            "streaming_session_id": stream.id,
            "flow_type": handle.flow_type,
            "streaming_url": f"/api/stream-events/{stream.id}?token={token}",
            "sse_url": f"/api/stream/{stream.id}?token={token}",
            "session_token": token,
        }
    )


async def _count_turn(*, services: Services, chatbot_id: str, address: str, body: ProcessMessageRequest) -> None:
    """Count the message against the chatbot's limits: per address, per shopper, per conversation."""
    limits = (await services.get_chatbot(chatbot_id)).rate_limits
    limiter = services.rate_limiter
    await limiter.hit(
        rule="process_message_per_address",
        limit=limits.process_message_per_address,
        keys=(chatbot_id, address),
        what="this address",
    )
    await limiter.hit(
        rule="process_message", limit=limits.process_message, keys=(chatbot_id, "user", body.user_id), what="you"
    )
    if body.session_id:
        await limiter.hit(
            rule="process_message",
            limit=limits.process_message,
            keys=(chatbot_id, "session", body.session_id),
            what="this conversation",
        )


def _authorise(*, chatbot_id: str, token_hash: str, token: str | None, key: ApiKeyInfo | None) -> None:
    if key is not None:
        require_chatbot_access(key, chatbot_id)
        return
    if token is None:
        raise AuthError("this stream needs its session token (?token= or X-Session-Token)")
    if not hmac.compare_digest(hash_token(token), token_hash):
        raise PermissionDeniedError("the session token does not match this stream")


@router.get(
    "/stream/{streaming_session_id}",
    # Not EventSourceResponse: FastAPI takes that class to mean a generator endpoint it encodes
    # itself (samtale/streaming/sse.py says why not); a media-type-less class leaves the 200
    # content to `responses`, and the errors as JSON.
    response_class=StreamingResponse,
    responses={
        200: {"content": answer_stream_content(), "description": ANSWER_EVENTS_DESCRIPTION},
        **error_responses(401, 403, 404, 422),
    },
)
async def stream_sse(
    streaming_session_id: str,
    request: Request,
    services: ServicesDep,
    token: SessionTokenDep,
    key: OptionalApiKeyDep,
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    last_event_id: Annotated[int | None, Query(ge=0)] = None,
) -> EventSourceResponse:
    """Server-sent events of one answer; resumes right after ``Last-Event-ID`` (header or query)."""
    after = _resume_point(last_event_id_header, last_event_id)
    stream = await services.hub.lookup(streaming_session_id)
    if stream is not None:
        _authorise(chatbot_id=stream.chatbot_id, token_hash=stream.token_hash, token=token, key=key)
        await check_origin(request, services, stream.chatbot_id)
        body = sse_from_stream(stream, after=after, heartbeat_s=services.settings.stream_heartbeat_s)
    else:
        stored = await services.conversation.load_stored_stream(stream_id=streaming_session_id)
        _authorise(chatbot_id=stored.chatbot_id, token_hash=stored.token_hash, token=token, key=key)
        await check_origin(request, services, stored.chatbot_id)
        body = sse_from_events(event for event in stored.events if event.id > after)
    return EventSourceResponse(body, headers=SSE_HEADERS)


def _resume_point(header: str | None, query: int | None) -> int:
    if header is not None and header.strip():
        try:
            return max(int(header.strip()), 0)
        except ValueError:
            raise InputError("Last-Event-ID must be an integer event id") from None
    return query or 0


@router.get(
    "/stream-events/{streaming_session_id}",
    response_model=StreamEventsResponse,
    responses=error_responses(401, 403, 404, 422),
)
async def stream_events(
    streaming_session_id: str,
    request: Request,
    services: ServicesDep,
    token: SessionTokenDep,
    key: OptionalApiKeyDep,
    after: Annotated[int, Query(ge=0, description="return events with a greater id")] = 0,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT_S, description="long-poll up to this many seconds")] = 0.0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> FastJSONResponse:
    """Polling (seed 002): the events after ``after``, the stream's status and whether more will come."""
    stream = await services.hub.lookup(streaming_session_id)
    events: list[StreamEvent]
    status: str
    if stream is not None:
        _authorise(chatbot_id=stream.chatbot_id, token_hash=stream.token_hash, token=token, key=key)
        await check_origin(request, services, stream.chatbot_id)
        events = await stream.wait_after(after, wait)
        status, last_id, done = stream.status, stream.last_event_id, stream.done
    else:
        stored = await services.conversation.load_stored_stream(stream_id=streaming_session_id)
        _authorise(chatbot_id=stored.chatbot_id, token_hash=stored.token_hash, token=token, key=key)
        await check_origin(request, services, stored.chatbot_id)
        events = [event for event in stored.events if event.id > after]
        status, last_id, done = stored.status, len(stored.events), True
    page = events[:limit]
    returned_last = page[-1].id if page else after
    return FastJSONResponse(
        {
            "events": [event.as_json() for event in page],
            "session_status": status,
            "last_event_id": returned_last,
            "has_more": (not done) or returned_last < last_id,
        }
    )


@router.post(
    "/stream/{streaming_session_id}/stop", response_model=StopResponse, responses=error_responses(401, 403, 404, 422)
)
async def stop_stream(
    streaming_session_id: str, request: Request, services: ServicesDep, token: SessionTokenDep, key: OptionalApiKeyDep
) -> FastJSONResponse:
    """Stop a running answer; it ends with an ``error`` event of category ``streaming``."""
    stream = await services.hub.lookup(streaming_session_id)
    if stream is None:
        raise StreamNotFoundError(f"unknown stream {streaming_session_id}")
    _authorise(chatbot_id=stream.chatbot_id, token_hash=stream.token_hash, token=token, key=key)
    await check_origin(request, services, stream.chatbot_id)
    services.conversation.stop(stream=stream)
    return FastJSONResponse({"success": True, "session_status": stream.status})


@router.get(
    "/conversation-config/{chatbot_id}",
    response_model=ConversationConfigResponse,
    responses=error_responses(404, 422),
)
async def conversation_config(chatbot_id: str, services: ServicesDep) -> FastJSONResponse:
    """A chatbot's public settings for the widget (seed 002 shape). Never a secret."""
    chatbot = await services.get_chatbot(chatbot_id)
    return FastJSONResponse(
        {
            "success": True,
            "configuration": {
                "chatbot_id": chatbot.id,
                "name": chatbot.name,
                "language": chatbot.language,
                "language_name": {"en": "english", "da": "danish"}[chatbot.language],
                "image_enabled": chatbot.image_enabled,
                "flows": [{"flow_type": flow.type, "route_key": flow.key} for flow in chatbot.flows],
                "topKSettings": {flow.type: flow.top_k for flow in chatbot.flows if flow.knowledge_index},
                "streaming": {"sse": True, "polling": True, "heartbeat_s": services.settings.stream_heartbeat_s},
                "max_message_chars": services.settings.max_message_chars,
            },
        }
    )


@router.get(
    "/conversation-health",
    response_model=ConversationHealthResponse,
    responses={503: {"model": ConversationHealthResponse, "description": "the database is unreachable"}},
)
async def conversation_health(services: ServicesDep) -> FastJSONResponse:
    """Health of conversation processing (seed 002 shape)."""
    from samtale.storage.base import utcnow

    db_ok = await services.db.ping()
    return FastJSONResponse(
        {
            "status": "healthy" if db_ok else "degraded",
            "database": "connected" if db_ok else "unreachable",
            "active_streams": services.hub.active_count,
            "running_turns": services.conversation.running_turns,
            "timestamp": utcnow().isoformat(),
        },
        status_code=200 if db_ok else 503,
    )
