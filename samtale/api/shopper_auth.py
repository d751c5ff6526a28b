"""Shopper-side credentials at the HTTP edge: a conversation's session token, or a verified identity.

A shop's own backend signs its shopper's user id with the chatbot's ``identity_secret``
(``user_hash = hex(HMAC-SHA256(identity_secret, user_id))``, as Intercom and Chatwoot do) and the
widget sends it as ``X-User-Hash`` (or ``?user_hash=``) beside ``chatbot_id`` and ``user_id``.
:data:`VerifiedShopperDep` requires that identity (lists, search, memories);
:data:`ConversationCallerDep` takes a session token, an identity, or both, for routes on one
conversation (``samtale.conversation.access.authorise_conversation`` decides).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from samtale.api.deps import ServicesDep, SessionTokenDep, check_origin, optional_api_key
from samtale.api.errors import error_responses
from samtale.conversation.access import (
    ConversationCaller,
    IdentityRequiredError,
    ShopperIdentity,
    verify_user_hash,
)
from samtale.errors import InputError


async def _identity(
    services: ServicesDep, *, chatbot_id: str | None, user_id: str | None, user_hash: str | None
) -> ShopperIdentity | None:
    if not user_hash:
        return None
    if not chatbot_id or not user_id:
        raise InputError("a user_hash needs the chatbot_id and user_id it was computed for (query parameters)")
    secret = await services.identity_secret_for(chatbot_id)
    verify_user_hash(identity_secret=secret, user_id=user_id, user_hash=user_hash)
    return ShopperIdentity(chatbot_id=chatbot_id, user_id=user_id)


async def verified_shopper(
    request: Request,
    services: ServicesDep,
    chatbot_id: Annotated[str, Query(min_length=1, max_length=64, description="the chatbot")],
    user_id: Annotated[str, Query(min_length=1, max_length=200, description="the shopper's user id")],
    x_user_hash: Annotated[str | None, Header(max_length=128)] = None,
    user_hash: Annotated[
        str | None, Query(max_length=128, description="hex(HMAC-SHA256(identity_secret, user_id)); or X-User-Hash")
    ] = None,
) -> ShopperIdentity:
    """The shopper named by ``chatbot_id`` and ``user_id``, whose ``user_hash`` verified.

    Raises:
        IdentityRequiredError: no ``user_hash`` was presented (401 ``user_hash_required``).
        InvalidUserHashError: it does not verify, or the chatbot has no identity secret (401).
        OriginNotAllowedError: a browser page the chatbot does not list in ``allowed_origins`` (403).
    """
    await check_origin(request, services, chatbot_id)
    identity = await _identity(services, chatbot_id=chatbot_id, user_id=user_id, user_hash=x_user_hash or user_hash)
    if identity is None:
        raise IdentityRequiredError(
            "this needs the shopper's verified identity: X-User-Hash = hex(HMAC-SHA256(identity_secret, user_id))"
        )
    return identity


VerifiedShopperDep = Annotated[ShopperIdentity, Depends(verified_shopper)]


async def conversation_caller(
    request: Request,
    services: ServicesDep,
    token: SessionTokenDep,
    chatbot_id: Annotated[
        str | None, Query(max_length=64, description="with a user_hash: the chatbot it was computed for")
    ] = None,
    user_id: Annotated[str | None, Query(max_length=200, description="with a user_hash: the shopper's user id")] = None,
    x_user_hash: Annotated[str | None, Header(max_length=128)] = None,
    user_hash: Annotated[str | None, Query(max_length=128, description="the verified identity; or X-User-Hash")] = None,
) -> ConversationCaller:
    """The session token and/or verified identity presented for one conversation.

    Raises:
        InputError: a ``user_hash`` without its ``chatbot_id`` and ``user_id`` (422).
        InvalidUserHashError: the ``user_hash`` does not verify (401).
        OriginNotAllowedError: with ``chatbot_id``, a browser page that chatbot does not list (403);
            a call with the session token alone names no chatbot before the conversation is read,
            and the token is its credential.
    """
    if chatbot_id:
        await check_origin(request, services, chatbot_id)
    identity = await _identity(services, chatbot_id=chatbot_id, user_id=user_id, user_hash=x_user_hash or user_hash)
    return ConversationCaller(session_token=token, identity=identity)


ConversationCallerDep = Annotated[ConversationCaller, Depends(conversation_caller)]


def declare_dependency_errors(router: APIRouter) -> APIRouter:
    """Add to the OpenAPI responses of ``router``'s routes the statuses their dependencies can
    answer: 429 where an API key is read (too many wrong keys from the address,
    :func:`samtale.api.deps.optional_api_key`), 403 where a shopper's credentials are read (a page
    the chatbot's ``allowed_origins`` does not list). Declared where the dependency is, so the
    schema stays true as routes are added. Returns ``router``, to include it."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        calls = _calls(route.dependant)
        if optional_api_key in calls:
            route.responses.setdefault(429, error_responses(429)[429])
        if verified_shopper in calls or conversation_caller in calls:
            route.responses.setdefault(403, error_responses(403)[403])
    return router


def _calls(dependant: Dependant) -> set[Any]:
    found = {dependant.call}
    for dependency in dependant.dependencies:
        found |= _calls(dependency)
    return found
