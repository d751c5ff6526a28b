"""Dependencies of the HTTP edge, as ``Annotated`` aliases (``ServicesDep``, ``AdminKeyDep``…)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Query, Request

from samtale.chatbots.apikeys import ApiKeyInfo, authenticate_api_key
from samtale.errors import AuthError, PermissionDeniedError
from samtale.security.client_address import client_address
from samtale.services import Services
from samtale.storage.db import Database


async def get_services(request: Request) -> Services:
    """The process's :class:`~samtale.services.Services`, built by the app's lifespan.

    ``async`` although it never awaits: FastAPI runs a plain ``def`` dependency in its thread
    pool, a thread hop on every request for one attribute read."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_db(services: ServicesDep) -> Database:
    """The database of this process."""
    return services.db


DbDep = Annotated[Database, Depends(get_db)]


async def presented_api_key(
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> str | None:
    """The API key in ``Authorization: Bearer …`` or ``X-API-Key``, if any."""
    if x_api_key:
        return x_api_key.strip()
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None


async def get_client_address(request: Request, services: ServicesDep) -> str:
    """The client's address: the socket's, or ``X-Forwarded-For`` behind a trusted proxy
    (:mod:`samtale.security.client_address`)."""
    return client_address(
        peer=request.client.host if request.client else None,
        forwarded_for=request.headers.get("x-forwarded-for"),
        trusted_proxies=services.trusted_proxies,
    )


ClientAddressDep = Annotated[str, Depends(get_client_address)]


async def optional_api_key(
    services: ServicesDep, address: ClientAddressDep, key: Annotated[str | None, Depends(presented_api_key)]
) -> ApiKeyInfo | None:
    """The grant of the presented API key; None when no key was presented.

    Wrong keys are counted per client address (``SAMTALE_ADMIN_KEY_FAILURE_LIMIT``); over the
    limit every key from that address is refused until the window frees, so keys cannot be guessed.

    Raises:
        AuthError: a key was presented but is unknown or revoked.
        RateLimitExceeded: the address presented too many wrong keys.
    """
    if key is None:
        return None
    limit = services.settings.admin_key_failure_limit
    await services.rate_limiter.refuse_if_exceeded(
        rule="admin_key_failures", limit=limit, keys=(address,), what="this address (wrong API keys)"
    )
    info = await authenticate_api_key(db=services.db, key=key)
    if info is None:
        await services.rate_limiter.hit(
            rule="admin_key_failures", limit=limit, keys=(address,), what="this address (wrong API keys)"
        )
        raise AuthError("the API key is not valid")
    return info


OptionalApiKeyDep = Annotated[ApiKeyInfo | None, Depends(optional_api_key)]


async def require_admin(key: OptionalApiKeyDep) -> ApiKeyInfo:
    """An admin API key, or 401 (none presented) / 403 (not an admin key)."""
    if key is None:
        raise AuthError("this endpoint needs an admin API key (Authorization: Bearer …)")
    if not key.is_admin:
        raise PermissionDeniedError("this API key is not an admin key")
    return key


AdminKeyDep = Annotated[ApiKeyInfo, Depends(require_admin)]


async def session_token(
    token: Annotated[str | None, Query(description="the session token from process-message")] = None,
    x_session_token: Annotated[str | None, Header()] = None,
) -> str | None:
    """The session token from ``?token=`` or the ``X-Session-Token`` header."""
    return x_session_token or token


SessionTokenDep = Annotated[str | None, Depends(session_token)]


async def check_origin(request: Request, services: Services, chatbot_id: str) -> None:
    """403 ``origin_not_allowed`` for a browser page ``chatbot_id`` does not list in its
    ``allowed_origins`` (:mod:`samtale.security.origins`); a request without ``Origin`` passes."""
    origin = request.headers.get("origin")
    if origin is not None:
        await services.origins.check(chatbot_id=chatbot_id, origin=origin, host=request.headers.get("host"))


def require_chatbot_access(key: ApiKeyInfo, chatbot_id: str) -> None:
    """Raise PermissionDeniedError unless ``key`` is an admin key covering ``chatbot_id``."""
    if not key.is_admin or not key.covers(chatbot_id):
        raise PermissionDeniedError(f"this API key does not cover chatbot '{chatbot_id}'")
