"""Admin API for API keys: list, create, revoke and rotate (``/api/admin/apikeys``).

A deployment admin key (one not limited to a chatbot) manages every key. A chatbot's admin key
manages only that chatbot's keys and creates keys for that chatbot only, so a shop's staff can
rotate their own key without reaching another tenant's. New keys are in the response once.
"""

from __future__ import annotations

from fastapi import APIRouter

from samtale.api.deps import AdminKeyDep, ServicesDep
from samtale.api.errors import error_responses
from samtale.api.schemas_apikeys import (
    ApiKeyCreatedResponse,
    ApiKeyCreateRequest,
    ApiKeyListResponse,
    ApiKeyOut,
    ApiKeyRevokedResponse,
    ApiKeyRotatedResponse,
)
from samtale.chatbots.apikeys import (
    create_api_key_record,
    list_api_keys,
    revoke_api_key,
    rotate_api_key,
)
from samtale.errors import PermissionDeniedError

router = APIRouter(prefix="/api/admin/apikeys", tags=["admin"])


@router.get("", response_model=ApiKeyListResponse, responses=error_responses(401, 403, 422))
async def admin_list_api_keys(services: ServicesDep, key: AdminKeyDep) -> ApiKeyListResponse:
    """The keys this admin key may manage (all, or its chatbot's), revoked ones included."""
    records = await list_api_keys(db=services.db, chatbot_id=key.chatbot_id)
    return ApiKeyListResponse(api_keys=[ApiKeyOut.model_validate(r) for r in records])


@router.post("", response_model=ApiKeyCreatedResponse, status_code=201, responses=error_responses(401, 403, 422))
async def admin_create_api_key(
    body: ApiKeyCreateRequest, services: ServicesDep, key: AdminKeyDep
) -> ApiKeyCreatedResponse:
    """Create a key; a chatbot's admin key can only create keys for its own chatbot."""
    if key.chatbot_id is not None and body.chatbot_id != key.chatbot_id:
        raise PermissionDeniedError(f"this API key can only create keys for chatbot '{key.chatbot_id}'")
    clear, record = await create_api_key_record(
        db=services.db, name=body.name, is_admin=body.is_admin, chatbot_id=body.chatbot_id
    )
    return ApiKeyCreatedResponse(key=clear, api_key=ApiKeyOut.model_validate(record))


@router.post(
    "/{api_key_id}/revoke", response_model=ApiKeyRevokedResponse, responses=error_responses(401, 403, 404, 422)
)
async def admin_revoke_api_key(api_key_id: str, services: ServicesDep, key: AdminKeyDep) -> ApiKeyRevokedResponse:
    """Revoke a key by id; it stops working at once (404 when it is not in the caller's scope)."""
    record = await revoke_api_key(db=services.db, id_or_key=api_key_id, chatbot_id=key.chatbot_id)
    return ApiKeyRevokedResponse(api_key=ApiKeyOut.model_validate(record))


@router.post(
    "/{api_key_id}/rotate", response_model=ApiKeyRotatedResponse, responses=error_responses(401, 403, 404, 422)
)
async def admin_rotate_api_key(api_key_id: str, services: ServicesDep, key: AdminKeyDep) -> ApiKeyRotatedResponse:
    """Replace a key by a new one with the same name and grant; the old one is revoked."""
    clear, new, old = await rotate_api_key(db=services.db, id_or_key=api_key_id, chatbot_id=key.chatbot_id)
    return ApiKeyRotatedResponse(
        key=clear, api_key=ApiKeyOut.model_validate(new), revoked=ApiKeyOut.model_validate(old)
    )
