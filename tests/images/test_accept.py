"""A chatbot that takes images stores the normalised photo once per retried upload; one that does
not refuses it with 403; a photo over the chatbot's limit is 413 before anything is decoded."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from samtale.api.errors import status_for
from samtale.files.service import load_file
from samtale.images.errors import ImagesDisabledError, ImageTooLargeError, InvalidImageError
from samtale.images.service import accept_image, decode_base64_image
from samtale.services import Services
from tests.conversation.helpers import add_chatbot
from tests.images.photos import GPS_IFD, jpeg_with_gps, photo


@pytest.fixture(scope="module")
def gps_photo() -> bytes:
    return jpeg_with_gps(photo("coffee.png"), orientation=1)


async def test_a_retried_upload_is_stored_once_and_what_is_stored_has_no_exif(
    services: Services, gps_photo: bytes
) -> None:
    shop = await add_chatbot(services, id="photoshop", name="Photo Shop", image_enabled=True)
    settings = services.settings
    first = await accept_image(
        db=services.db, storage=services.files, settings=settings, chatbot=shop, data=gps_photo, name="cup.jpg"
    )
    again = await accept_image(
        db=services.db, storage=services.files, settings=settings, chatbot=shop, data=gps_photo, name="cup.jpg"
    )
    assert not first.reused and again.reused and again.file.id == first.file.id
    assert (first.file.width, first.file.height) == (600, 400) and first.file.mime == "image/jpeg"
    loaded = await load_file(db=services.db, storage=services.files, chatbot_id="photoshop", file_id=first.file.id)
    stored = Image.open(io.BytesIO(loaded.data))
    assert not stored.getexif().get_ifd(GPS_IFD) and len(stored.getexif()) == 0


async def test_a_chatbot_without_images_refuses_with_403_and_its_own_limit_gives_413(
    services: Services, gps_photo: bytes
) -> None:
    closed = await add_chatbot(services, id="textonly", name="Text Only")
    with pytest.raises(ImagesDisabledError) as refused:
        await accept_image(
            db=services.db, storage=services.files, settings=services.settings, chatbot=closed, data=gps_photo, name="x"
        )
    assert status_for(refused.value) == 403
    small = await add_chatbot(services, id="small", name="Small", image_enabled=True, images={"max_bytes": 1000})
    with pytest.raises(ImageTooLargeError) as too_big:
        await accept_image(
            db=services.db, storage=services.files, settings=services.settings, chatbot=small, data=gps_photo, name="x"
        )
    assert status_for(too_big.value) == 413 and too_big.value.details["limit_bytes"] == 1000


def test_base64_and_data_urls_decode_and_are_bounded_before_decoding() -> None:
    assert decode_base64_image("aGVsbG8=", limit_bytes=10) == b"hello"
    assert decode_base64_image("data:image/jpeg;base64,aGVsbG8=", limit_bytes=10) == b"hello"
    with pytest.raises(ImageTooLargeError):
        decode_base64_image("A" * 4000, limit_bytes=1000)


def test_a_body_that_is_not_base64_is_422_and_wrapped_or_url_safe_base64_is_read() -> None:
    with pytest.raises(InvalidImageError) as refused:
        decode_base64_image("!!! not base64 !!!", limit_bytes=1000)
    assert refused.value.details["reason"] == "not_base64"
    assert decode_base64_image("aGVs\nbG8=", limit_bytes=10) == b"hello"
    assert decode_base64_image("-_8", limit_bytes=10) == b"\xfb\xff"


async def test_an_upload_no_message_ever_carried_is_removed_by_the_retention_job_a_day_later(
    services: Services, gps_photo: bytes
) -> None:
    from datetime import timedelta

    from samtale.conversation.retention import purge_conversations
    from samtale.files.errors import FileNotFoundInStoreError
    from samtale.files.service import get_file
    from samtale.storage.base import utcnow

    shop = await add_chatbot(services, id="forgetful", name="Forgetful", image_enabled=True)
    kept = await accept_image(
        db=services.db, storage=services.files, settings=services.settings, chatbot=shop, data=gps_photo, name="a"
    )
    soon = await purge_conversations(db=services.db, grace_days=30, files=services.files, now=utcnow())
    assert soon["unused_files"] == 0
    later = utcnow() + timedelta(hours=25)
    result = await purge_conversations(db=services.db, grace_days=30, files=services.files, now=later)
    assert result["unused_files"] == 1
    with pytest.raises(FileNotFoundInStoreError):
        await get_file(db=services.db, chatbot_id="forgetful", file_id=kept.file.id)
    assert not await services.files.exists(kept.file.storage_key)
