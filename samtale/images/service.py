"""Accept a shopper's image: check the chatbot takes images and the size, normalise it off the
event loop, store the normalised bytes through the file store (:mod:`samtale.files.service`).

The normalised image (:mod:`samtale.images.normalise`) is what is stored and what
``GET /api/files/{file_id}`` returns; the upload's own bytes, with their metadata, are never
written anywhere. Storing goes through :func:`samtale.files.service.store_file`, so the same
image uploaded again by the same conversation before a message uses it is the first row again
(``reused``: deduplicated by SHA-256 per chatbot, index ``ix_files_chatbot_sha256``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from samtale.chatbots.schema import ChatbotConfig
from samtale.files.errors import FileNotFoundInStoreError
from samtale.files.service import get_file, store_file
from samtale.files.storage import FileStorage
from samtale.files.types import FileInfo
from samtale.images.errors import ImagesDisabledError, ImageTooLargeError, InvalidImageError
from samtale.images.normalise import ImageLimits, NormalisedImage, normalise_image
from samtale.settings import Settings
from samtale.storage.db import Database

_URLSAFE = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_DATA_URL = re.compile(r"data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?:;[\w=.+-]+)*?;base64,", re.ASCII)


@dataclass(frozen=True, slots=True)
class AcceptedImage:
    """An image stored for a chatbot: its ``files`` row, and what normalisation found
    (``image``; None when an earlier identical upload was reused and nothing was decoded again)."""

    file: FileInfo
    image: NormalisedImage | None
    reused: bool = False


def limits_of(settings: Settings) -> ImageLimits:
    """The normalisation limits of the process settings (``SAMTALE_IMAGE_*``)."""
    return ImageLimits(
        max_pixels=settings.image_max_pixels,
        max_side_px=settings.image_max_side_px,
        jpeg_quality=settings.image_jpeg_quality,
    )


def image_workers(settings: Settings) -> int:
    """Threads for image work: ``SAMTALE_IMAGE_WORKERS``, or one less than the cores (at least 1)."""
    return settings.image_workers or max(1, (os.cpu_count() or 2) - 1)


@functools.cache
def _executor(workers: int) -> ThreadPoolExecutor:
    """The process's image threads (one pool per size; threads start on first use)."""
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="samtale-image")


async def normalise_off_loop(data: bytes, *, settings: Settings) -> NormalisedImage:
    """:func:`~samtale.images.normalise.normalise_image` in the image threads (:func:`image_workers`
    of them: a burst of 20 uploads queues there instead of taking every core from the event loop).

    Raises:
        UnsupportedImageError, InvalidImageError: as ``normalise_image``.
    """
    work = functools.partial(normalise_image, data, limits=limits_of(settings))
    return await asyncio.get_running_loop().run_in_executor(_executor(image_workers(settings)), work)


def max_image_bytes(*, chatbot: ChatbotConfig, settings: Settings) -> int:
    """The chatbot's image limit in bytes: ``images.max_bytes`` capped by ``SAMTALE_IMAGE_MAX_BYTES``."""
    own = chatbot.images.max_bytes
    return settings.image_max_bytes if own is None else min(own, settings.image_max_bytes)


def require_images(chatbot: ChatbotConfig) -> None:
    """Check that ``chatbot`` takes images.

    Raises:
        ImagesDisabledError: the chatbot has ``image_enabled: false`` (403).
    """
    if not chatbot.image_enabled:
        raise ImagesDisabledError(
            f"chatbot {chatbot.id} does not accept images (image_enabled is false); send text only",
            details={"chatbot_id": chatbot.id},
        )


def decode_base64_image(data: str, *, limit_bytes: int) -> bytes:
    """The bytes of the seed's ``image_data.data``: plain base64 or a ``data:…;base64,`` URL.

    The length is checked before decoding (base64 is 4 characters per 3 bytes).

    Raises:
        ImageTooLargeError: more than ``limit_bytes`` once decoded (413).
        InvalidImageError: not base64 (422).
    """
    text = data.strip()
    match = _DATA_URL.match(text)
    if match is not None:
        text = text[match.end() :]
    text = "".join(text.split())  # MIME base64 wraps lines
    if (len(text) // 4) * 3 > limit_bytes + 2:
        raise _too_large(limit_bytes)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        if not _URLSAFE.fullmatch(text):
            raise InvalidImageError(
                "image_data.data is neither base64 nor a base64 data: URL", details={"reason": "not_base64"}
            ) from None
        try:  # the URL-safe alphabet some clients send
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            raise InvalidImageError(
                "image_data.data is not complete base64", details={"reason": "not_base64"}
            ) from None
    if len(raw) > limit_bytes:
        raise _too_large(limit_bytes)
    return raw


def _too_large(limit_bytes: int) -> ImageTooLargeError:
    return ImageTooLargeError(f"the image is larger than {limit_bytes:,} bytes", details={"limit_bytes": limit_bytes})


async def accept_image(
    *,
    db: Database,
    storage: FileStorage,
    settings: Settings,
    chatbot: ChatbotConfig,
    data: bytes,
    name: str,
    conversation_session_id: str | None = None,
    shopper_id: str | None = None,
) -> AcceptedImage:
    """Validate, normalise (in a worker thread) and store one image of ``chatbot``.

    Args:
        data: the upload's bytes (untrusted).
        name: the uploaded name (shown, never trusted for the type).
        conversation_session_id: the stored conversation it belongs to, when the caller named one
            it may open; None for an upload before the conversation exists.
        shopper_id: the uploading shopper's ``users.id`` (their row must exist), when known: the
            image is then theirs (a message of another shopper cannot use it; their erasure removes it).

    Raises:
        ImagesDisabledError (403), ImageTooLargeError (413), UnsupportedImageError (415),
        InvalidImageError (422), FileOwnerNotFoundError (404), FileStorageError (503).
    """
    require_images(chatbot)
    limit = max_image_bytes(chatbot=chatbot, settings=settings)
    if len(data) > limit:
        raise _too_large(limit)
    if not data:
        raise InvalidImageError("the image is empty", details={"reason": "empty"})
    image = await normalise_off_loop(data, settings=settings)
    stored = await store_file(
        db=db,
        storage=storage,
        chatbot_id=chatbot.id,
        data=image.data,
        name=name,
        mime=image.mime,
        max_bytes=settings.max_upload_bytes,
        conversation_session_id=conversation_session_id,
        shopper_id=shopper_id,
        width=image.width,
        height=image.height,
    )
    return AcceptedImage(file=stored.file, image=image, reused=stored.reused)


async def image_for_turn(
    *, db: Database, chatbot: ChatbotConfig, file_id: str, session_id: str | None, shopper_id: str
) -> FileInfo:
    """The uploaded image a message names by ``file_id``: a file of this chatbot, an image, not yet
    used by a message, uploaded into this conversation (``session_id``) or before any conversation
    (an upload that named none), and by this shopper (``shopper_id``) or by one who gave no user id.

    Raises:
        ImagesDisabledError: the chatbot takes no images (403).
        FileNotFoundInStoreError: no such image for this chatbot and conversation (404; another
            chatbot's or conversation's file is reported the same way).
    """
    require_images(chatbot)
    info = await get_file(db=db, chatbot_id=chatbot.id, file_id=file_id)
    belongs = info.conversation_session_id is None or info.conversation_session_id == session_id
    belongs = belongs and info.shopper_id in (None, shopper_id)
    if not info.mime.startswith("image/") or info.message_id is not None or not belongs:
        raise FileNotFoundInStoreError("no such image for this conversation", details={"file_id": file_id})
    return info
