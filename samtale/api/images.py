"""The image routes (issue 14): ``POST /api/upload-image`` (seed 002) and ``GET /api/files/{file_id}``.

The upload takes the seed's JSON body or ``multipart/form-data``. Its size is bounded before
anything is buffered: a ``Content-Length`` over the bound is 413 at once, and the body is counted
while it streams in (a chunked body without a length is cut off at the bound). The route reads
the body itself, so Starlette never buffers a multipart upload before the check: the parts are
parsed from the counting stream. The bound is ``SAMTALE_IMAGE_MAX_BYTES`` plus the encoding's
overhead (base64's 4/3 for JSON); the chatbot's own ``images.max_bytes`` is checked on the bytes.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from samtale.api.deps import ClientAddressDep, OptionalApiKeyDep, ServicesDep, SessionTokenDep, check_origin
from samtale.api.errors import error_responses
from samtale.api.responses import FastJSONResponse
from samtale.api.schemas_images import ImageDataIn, UploadImageForm, UploadImageRequest, UploadImageResponse
from samtale.conversation.images import open_image, upload_conversation, upload_owner
from samtale.conversation.shoppers import shopper_id
from samtale.conversation.turn import TurnImage
from samtale.errors import InputError, PermissionDeniedError, UnsupportedMediaError
from samtale.images.errors import ImageTooLargeError
from samtale.images.service import (
    AcceptedImage,
    accept_image,
    decode_base64_image,
    image_for_turn,
    max_image_bytes,
    require_images,
)
from samtale.services import Services
from samtale.settings import Settings

router = APIRouter(prefix="/api", tags=["images"])

FIELDS_ALLOWANCE = 64 * 1024
"""Bytes a body may carry beside the image (field names, ids, multipart boundaries, JSON keys)."""

FORM_FIELDS = ("chatbot_id", "session_id", "session_token", "user_id", "message_text")


def _inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with its ``$defs`` written in place (the OpenAPI document of a
    route that reads its own body has no component for it)."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(definitions[ref.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    result: dict[str, Any] = inline(schema)
    return result


_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _inline_schema(UploadImageRequest)},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["chatbot_id", "file"],
                    "properties": {
                        "chatbot_id": {"type": "string", "minLength": 1, "maxLength": 64},
                        "file": {"type": "string", "format": "binary"},
                        "session_id": {"type": "string", "maxLength": 64},
                        "session_token": {"type": "string", "maxLength": 200},
                        "user_id": {"type": "string", "maxLength": 200},
                    },
                }
            },
        },
    }
}


def body_bound(settings: Settings, media_type: str) -> int:
    """The most bytes an upload's body may have: the process image limit in its encoding plus
    :data:`FIELDS_ALLOWANCE` (JSON carries base64: 4 characters per 3 bytes)."""
    image = settings.image_max_bytes
    if media_type == "application/json":
        return (image + 2) // 3 * 4 + FIELDS_ALLOWANCE + 6 * settings.max_message_chars
    return image + FIELDS_ALLOWANCE


async def _bounded(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    """The request body as it streams in; ImageTooLargeError (413) once it passes ``limit``."""
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise ImageTooLargeError("the upload is larger than the image limit allows", details={"limit_bytes": limit})
        yield chunk


def _check_length(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise ImageTooLargeError(
            f"the upload is {int(declared):,} bytes; the limit is {limit:,}", details={"limit_bytes": limit}
        )


def _response(accepted: AcceptedImage, *, chatbot_id: str, session_id: str | None) -> dict[str, Any]:
    info, image = accepted.file, accepted.image
    body: dict[str, Any] = {
        "success": True,
        "file_id": info.id,
        "mime": info.mime,
        "width": info.width,
        "height": info.height,
        "bytes": info.size_bytes,
        "sha256": info.sha256,
        "reused": accepted.reused,
        "session_id": session_id,
        "url": f"/api/files/{info.id}?chatbot_id={chatbot_id}",
        "source": None,
        "note": None,
    }
    if image is not None:
        body["source"] = {
            "format": image.source_format,
            "width": image.source_width,
            "height": image.source_height,
            "bytes": image.source_bytes,
            "frames": image.frames,
            "orientation": image.orientation,
        }
        if image.animated:
            body["note"] = f"an animated image of {image.frames} frames: only its first frame is kept and described"
    return body


@router.post(
    "/upload-image",
    response_model=UploadImageResponse,
    openapi_extra=_UPLOAD_BODY,
    responses=error_responses(401, 403, 404, 413, 415, 422, 429, 503),
)
async def upload_image(
    request: Request, services: ServicesDep, token: SessionTokenDep, address: ClientAddressDep
) -> FastJSONResponse:
    """Validate, normalise and store a shopper's image; answers its ``file_id`` for ``process-message``.

    JPEG, PNG, GIF and WebP only, by their bytes (415 otherwise); over the chatbot's limit (10 MB)
    413; a decompression bomb or a damaged file 422; a chatbot with ``image_enabled: false`` 403.
    With ``session_id`` of a stored conversation it needs that conversation's token; with
    ``user_id`` the image is that shopper's (only their messages can use it).
    """
    settings = services.settings
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type not in ("application/json", "multipart/form-data"):
        raise UnsupportedMediaError("send the image as application/json (seed 002) or multipart/form-data")
    limit = body_bound(settings, media_type)
    _check_length(request, limit)
    upload: UploadFile | None = None
    if media_type == "application/json":
        raw = b"".join([chunk async for chunk in _bounded(request, limit)])
        try:
            body = UploadImageRequest.model_validate_json(raw)
        except ValidationError as exc:  # answered like any body FastAPI validates (422 invalid_input)
            raise RequestValidationError(exc.errors(include_url=False, include_input=False)) from None
        fields = body.model_dump(include={"chatbot_id", "session_id", "session_token", "user_id"})
        name = body.image_data.name
    else:
        fields, upload = await _parse_form(request, limit)
        name = upload.filename or "image"
    try:
        chatbot_id = fields.get("chatbot_id")
        if not chatbot_id:
            raise InputError("chatbot_id is required", details={"field": "chatbot_id"})
        chatbot = await services.get_chatbot(chatbot_id)
        await check_origin(request, services, chatbot.id)
        await services.rate_limiter.hit(
            rule="upload_image", limit=chatbot.rate_limits.upload_image, keys=(chatbot.id, address), what="this address"
        )
        require_images(chatbot)
        session_id = await upload_conversation(
            sessions=services.conversation.sessions,
            chatbot_id=chatbot.id,
            session_id=fields.get("session_id"),
            session_token=token or fields.get("session_token"),
        )
        owner = await upload_owner(db=services.db, chatbot_id=chatbot.id, user_id=fields.get("user_id"))
        own_limit = max_image_bytes(chatbot=chatbot, settings=settings)
        if media_type == "application/json":
            data = decode_base64_image(body.image_data.data, limit_bytes=own_limit)
        else:
            assert upload is not None  # parsed from the form above
            data = await upload.read()
        accepted = await accept_image(
            db=services.db,
            storage=services.files,
            settings=settings,
            chatbot=chatbot,
            data=data,
            name=name,
            conversation_session_id=session_id,
            shopper_id=owner,
        )
        return FastJSONResponse(_response(accepted, chatbot_id=chatbot.id, session_id=session_id))
    finally:
        if upload is not None:  # also when the upload is refused (403, 404, 429…) after parsing
            await upload.close()


class _InMemoryParser(MultiPartParser):
    """Starlette's multipart parser with the file part kept in memory: the body is already bounded
    (:func:`body_bound`), so it never spills to a temporary file (no disk write, no thread hop)."""

    spool_max_size = 64 * 1024 * 1024


async def _parse_form(request: Request, limit: int) -> tuple[dict[str, Any], UploadFile]:
    """The form's text fields and its one ``file`` part, parsed from the counting stream.

    Raises:
        ImageTooLargeError: over ``limit``. InputError: a broken body, or no ``file`` part.
        RequestValidationError: a text field is too long, or ``chatbot_id`` is missing (422).
    """
    parser = _InMemoryParser(request.headers, _bounded(request, limit), max_files=1, max_fields=8, max_part_size=4096)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise InputError(f"the multipart body cannot be read: {exc.message}") from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        await form.close()
        raise InputError("the multipart body needs the image as its `file` part", details={"field": "file"})
    values = {key: value for key in FORM_FIELDS if isinstance(value := form.get(key), str) and value}
    try:
        fields = UploadImageForm.model_validate(values)
    except ValidationError as exc:
        await form.close()
        raise RequestValidationError(exc.errors(include_url=False, include_input=False)) from None
    return fields.model_dump(), upload


async def turn_image(
    *,
    services: Services,
    chatbot_id: str,
    user_id: str,
    session_id: str | None,
    image_data: ImageDataIn | None,
    file_id: str | None,
) -> TurnImage | None:
    """The image a ``process-message`` body carries: ``image_data`` inline (validated, normalised
    and stored now, like an upload) or the ``file_id`` of an upload of this conversation (or one
    made before it); None without either.

    Raises:
        InputError: both given (422). ImagesDisabledError (403), ImageTooLargeError (413),
        UnsupportedImageError (415), InvalidImageError (422), FileNotFoundInStoreError (404).
    """
    if image_data is None and file_id is None:
        return None
    if image_data is not None and file_id is not None:
        raise InputError("send image_data or file_id, not both", details={"field": "file_id"})
    chatbot = await services.get_chatbot(chatbot_id)
    require_images(chatbot)
    if file_id is not None:
        return TurnImage(
            file=await image_for_turn(
                db=services.db,
                chatbot=chatbot,
                file_id=file_id,
                session_id=session_id,
                shopper_id=shopper_id(chatbot_id=chatbot.id, user_id=user_id),
            )
        )
    assert image_data is not None
    data = decode_base64_image(
        image_data.data, limit_bytes=max_image_bytes(chatbot=chatbot, settings=services.settings)
    )
    accepted = await accept_image(
        db=services.db,
        storage=services.files,
        settings=services.settings,
        chatbot=chatbot,
        data=data,
        name=image_data.name,
        shopper_id=await upload_owner(db=services.db, chatbot_id=chatbot.id, user_id=user_id),
    )
    return TurnImage(file=accepted.file, frames=accepted.image.frames if accepted.image is not None else 1)


@router.get(
    "/files/{file_id}",
    response_class=Response,
    responses={
        200: {
            "content": {
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                "image/png": {"schema": {"type": "string", "format": "binary"}},
            },
            "description": "the stored (normalised) image",
        },
        **error_responses(401, 403, 404, 422, 503),
    },
)
async def read_file(
    file_id: Annotated[str, Path(min_length=1, max_length=36)],
    chatbot_id: Annotated[str, Query(min_length=1, max_length=64)],
    services: ServicesDep,
    token: SessionTokenDep,
    key: OptionalApiKeyDep,
) -> Response:
    """A stored image, as normalised (no metadata), for its conversation's session token
    (``?token=`` or ``X-Session-Token``) or an admin API key covering its chatbot (403 for a key
    that does not); 404 for any other token."""
    chatbot_key = key is not None and key.is_admin and key.covers(chatbot_id)
    if key is not None and not chatbot_key and not token:
        raise PermissionDeniedError(f"this API key does not cover chatbot '{chatbot_id}'")
    loaded = await open_image(
        db=services.db,
        storage=services.files,
        sessions=services.conversation.sessions,
        chatbot_id=chatbot_id,
        file_id=file_id,
        session_token=token,
        chatbot_key=chatbot_key,
    )
    return Response(
        content=loaded.data,
        media_type=loaded.file.mime,
        headers={
            "Cache-Control": "private, max-age=3600",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'",
            "ETag": f'"{loaded.file.sha256}"',
        },
    )
