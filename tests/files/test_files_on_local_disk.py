"""A shopper sends photos in a conversation; they land in the data folder, come back intact, and
go when the shopper is erased. The default backend (a folder under ``data_dir``), on SQLite and
PostgreSQL (``SAMTALE_TEST_POSTGRES_URL``): the table's keys, cascades and indexes are real.

The conversation comes from the HTTP API; the photo is stored through the file service, as the
images issue's upload route will.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, select

from samtale.api.errors import status_for
from samtale.errors import ErrorCategory
from samtale.files.errors import (
    FileNotFoundInStoreError,
    FileOwnerNotFoundError,
    FileStorageError,
    FileTooLargeError,
    InvalidFileError,
    StorageFailure,
)
from samtale.files.local import LocalFileStorage
from samtale.files.service import (
    delete_file,
    delete_files_of_conversation,
    delete_files_of_shopper,
    get_file,
    list_conversation_files,
    load_file,
    store_file,
)
from samtale.files.types import FilesDeleted
from samtale.services import Services
from samtale.settings import Settings
from samtale.storage.models import ConversationSession, Shopper, UploadedFile
from tests.conftest import SettingsFactory
from tests.files.helpers import Photo, add_shops, chat, file_rows, photo, send_photo

LIMIT = 300 * 1024
"""This module's upload limit: above chelsea.png (240 KB), below coffee.png (467 KB)."""


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings(max_upload_bytes=LIMIT)


@pytest.fixture(scope="module")
def chelsea() -> Photo:
    return photo("chelsea.png")


@pytest.fixture(scope="module")
def coffee() -> Photo:
    return photo("coffee.png")


def files_on_disk(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


async def test_a_shoppers_photo_is_stored_in_the_data_folder_loaded_intact_and_erased_with_the_shopper(
    client: httpx.AsyncClient, services: Services, chelsea: Photo
) -> None:
    await add_shops(services)
    anna = await chat(client, services, chatbot_id="vinbar", user_id="anna", text="Which wine goes with this cat?")
    assert isinstance(services.files, LocalFileStorage)
    assert services.files.root == (services.settings.data_dir / "files").absolute()

    stored = await send_photo(services, anna, chelsea, name="C:\\fakepath\\..\\..\\etc\\passwd.png\x00")
    info = stored.file
    assert not stored.reused
    assert (info.size_bytes, info.width, info.height) == (len(chelsea.data), chelsea.width, chelsea.height)
    assert len(info.sha256) == 64 and info.storage_backend == "local" and not info.processed
    assert info.name == "passwd.png"  # the untrusted name is kept for display only
    assert info.storage_key.startswith("vinbar/") and "passwd" not in info.storage_key
    on_disk = await asyncio.to_thread(files_on_disk, services.settings.data_dir)
    assert on_disk == [services.files.root / info.storage_key]  # one file, no temporary left behind

    loaded = await load_file(db=services.db, storage=services.files, chatbot_id="vinbar", file_id=info.id)
    assert loaded.data == chelsea.data and loaded.file == info
    listed = await list_conversation_files(db=services.db, chatbot_id="vinbar", conversation_session_id=anna.session_id)
    assert listed == [info]

    again = await send_photo(services, anna, chelsea)  # the widget retried the upload
    assert again.reused and again.file.id == info.id
    attached = await send_photo(services, anna, chelsea, message_id=anna.question_id)  # sent with a message
    assert not attached.reused and attached.file.storage_key != info.storage_key
    unowned = await send_photo(services, anna, chelsea, shopper_id=None)  # in her conversation, shopper unknown
    assert not unowned.reused and unowned.file.shopper_id is None
    assert len(await asyncio.to_thread(files_on_disk, services.files.root)) == 3

    # Another shop knows nothing of Anna's photos, whatever id it guesses.
    with pytest.raises(FileNotFoundInStoreError):
        await load_file(db=services.db, storage=services.files, chatbot_id="olbar", file_id=info.id)
    assert (
        await delete_files_of_shopper(
            db=services.db, storage=services.files, chatbot_id="olbar", shopper_id=anna.shopper_id
        )
        == FilesDeleted()
    )

    erased = await delete_files_of_shopper(
        db=services.db, storage=services.files, chatbot_id="vinbar", shopper_id=anna.shopper_id
    )
    assert erased == FilesDeleted(files=3, size_bytes=3 * len(chelsea.data))  # hers, and those in her chats
    assert await asyncio.to_thread(files_on_disk, services.files.root) == []
    assert await file_rows(services) == []
    with pytest.raises(FileNotFoundInStoreError):
        await get_file(db=services.db, chatbot_id="vinbar", file_id=info.id)


async def test_a_photo_over_the_upload_limit_is_refused_with_413_and_nothing_is_written(
    client: httpx.AsyncClient, services: Services, coffee: Photo, chelsea: Photo
) -> None:
    await add_shops(services)
    anna = await chat(client, services, chatbot_id="vinbar", user_id="anna", text="Is this coffee sold here?")
    assert services.settings.max_upload_bytes == LIMIT  # SAMTALE_MAX_UPLOAD_BYTES is the limit

    with pytest.raises(FileTooLargeError) as refused:
        await send_photo(services, anna, coffee)
    assert status_for(refused.value) == 413
    assert refused.value.details == {"size_bytes": len(coffee.data), "limit_bytes": LIMIT}
    assert await file_rows(services) == [] and await asyncio.to_thread(files_on_disk, services.settings.data_dir) == []

    exactly = Photo(name="cut.png", data=chelsea.data + bytes(LIMIT - len(chelsea.data)), width=1, height=1)
    assert len((await send_photo(services, anna, exactly)).file.sha256) == 64  # the limit itself is allowed
    with pytest.raises(InvalidFileError):
        await send_photo(services, anna, Photo(name="empty.png", data=b"", width=1, height=1))
    with pytest.raises(InvalidFileError):
        await send_photo(services, anna, chelsea, mime="an image")
    with pytest.raises(InvalidFileError):
        await send_photo(services, anna, chelsea, width=0)


async def test_an_unknown_file_or_key_is_404_and_lost_or_altered_bytes_are_told_apart(
    client: httpx.AsyncClient, services: Services, chelsea: Photo
) -> None:
    await add_shops(services)
    anna = await chat(client, services, chatbot_id="vinbar", user_id="anna", text="Look at my cat")
    with pytest.raises(FileNotFoundInStoreError) as unknown:
        await load_file(db=services.db, storage=services.files, chatbot_id="vinbar", file_id="no-such-file")
    assert status_for(unknown.value) == 404 and unknown.value.code == "file_not_found"
    with pytest.raises(FileNotFoundInStoreError):
        await services.files.get("vinbar/2026/11/0123456789abcdef")
    assert not await services.files.exists("vinbar/2026/11/0123456789abcdef")
    await services.files.delete("vinbar/2026/11/0123456789abcdef")  # deleting nothing is not an error
    for escape in ("../outside", "vinbar/../../outside", "/etc/passwd", "vinbar/.hidden", ""):
        with pytest.raises(ValueError):
            await services.files.get(escape)

    info = (await send_photo(services, anna, chelsea)).file
    assert isinstance(services.files, LocalFileStorage)
    path = services.files.path_of(info.storage_key)
    await asyncio.to_thread(path.write_bytes, chelsea.data[:-1] + b"\x00")  # altered on disk
    with pytest.raises(FileStorageError) as altered:
        await load_file(db=services.db, storage=services.files, chatbot_id="vinbar", file_id=info.id)
    assert altered.value.reason is StorageFailure.CORRUPT and status_for(altered.value) == 503
    await asyncio.to_thread(path.unlink)  # lost
    with pytest.raises(FileNotFoundInStoreError):
        await load_file(db=services.db, storage=services.files, chatbot_id="vinbar", file_id=info.id)

    with pytest.raises(FileOwnerNotFoundError):  # Anna's conversation is not another shop's to attach to
        await send_photo(services, anna, chelsea, conversation_session_id=anna.session_id, shopper_id=None,
                         chatbot_id="olbar")  # fmt: skip


async def test_a_folder_that_cannot_be_written_is_a_categorised_503_and_leaves_no_row(
    client: httpx.AsyncClient, make_settings: SettingsFactory, services: Services, chelsea: Photo, tmp_path: Path
) -> None:
    await add_shops(services)
    anna = await chat(client, services, chatbot_id="vinbar", user_id="anna", text="Hello")
    blocked = tmp_path / "not-a-folder"
    await asyncio.to_thread(blocked.write_text, "a file where the folder should be")
    broken = LocalFileStorage(root=blocked)
    with pytest.raises(FileStorageError) as failed:
        await store_file(
            db=services.db,
            storage=broken,
            chatbot_id="vinbar",
            data=chelsea.data,
            name=chelsea.name,
            mime="image/png",
            max_bytes=LIMIT,
            shopper_id=anna.shopper_id,
        )
    assert failed.value.reason is StorageFailure.DISK and failed.value.category is ErrorCategory.FILE_STORAGE
    assert status_for(failed.value) == 503 and failed.value.details == {"backend": "local", "reason": "disk"}
    assert await file_rows(services) == []


async def test_purging_a_conversation_keeps_its_files_rows_until_the_service_deletes_them_and_a_shoppers_row_cascades(
    client: httpx.AsyncClient, services: Services, chelsea: Photo
) -> None:
    await add_shops(services)
    anna = await chat(client, services, chatbot_id="vinbar", user_id="anna", text="My cat")
    bob = await chat(client, services, chatbot_id="vinbar", user_id="bob", text="My cat too")
    annas = (await send_photo(services, anna, chelsea, message_id=anna.question_id)).file
    bobs = (await send_photo(services, bob, chelsea)).file
    assert annas.sha256 == bobs.sha256 and annas.storage_key != bobs.storage_key  # bytes are never shared

    async with services.db.session() as session:  # what a careless purge would do: delete the conversation
        await session.execute(delete(ConversationSession).where(ConversationSession.id == anna.session_id))
    row = (await file_rows(services))[0]
    assert (row.id, row.conversation_session_id, row.message_id) == (annas.id, None, None)  # SET NULL: still known
    assert await delete_files_of_conversation(
        db=services.db, storage=services.files, chatbot_id="vinbar", conversation_session_id=bob.session_id
    ) == FilesDeleted(files=1, size_bytes=len(chelsea.data))
    assert (await load_file(db=services.db, storage=services.files, chatbot_id="vinbar", file_id=annas.id)).data

    assert await delete_file(db=services.db, storage=services.files, chatbot_id="vinbar", file_id=annas.id) == (
        FilesDeleted(files=1, size_bytes=len(chelsea.data))
    )
    carol = await chat(client, services, chatbot_id="vinbar", user_id="carol", text="Hi")
    await send_photo(services, carol, chelsea)
    async with services.db.session() as session:
        await session.execute(delete(Shopper).where(Shopper.id == carol.shopper_id))
        left = (await session.scalars(select(UploadedFile.id))).all()
    assert left == []  # users → files cascades (the bytes are the service's job: delete_files_of_shopper first)
