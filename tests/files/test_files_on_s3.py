"""The same shopper's photos on an S3-compatible store: moto's S3 server on loopback stands in
for AWS, MinIO or R2. The objects are checked with a separate boto3 client, the presigned URL
with a plain HTTP GET; a store that is down (or goes down) gives a categorised 503 and loses
nothing. The table parts run on SQLite and PostgreSQL like the rest of the suite.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer
from pydantic import ValidationError

from samtale.api.errors import status_for
from samtale.errors import ErrorCategory
from samtale.files.errors import FileNotFoundInStoreError, FileStorageError, FileTooLargeError, StorageFailure
from samtale.files.factory import build_file_storage
from samtale.files.s3 import S3FileStorage
from samtale.files.service import delete_files_of_shopper, load_file, store_file
from samtale.files.storage import FileStorage
from samtale.files.types import FilesDeleted
from samtale.services import Services
from samtale.settings import Settings
from tests.conftest import SettingsFactory
from tests.files.helpers import Photo, add_shops, chat, file_rows, photo, send_photo

PREFIX = "samtale/"
CREDENTIALS = {"s3_access_key_id": "samtale-test", "s3_secret_access_key": "samtale-test-secret"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class S3Server:
    """moto's S3 API on 127.0.0.1 (a thread of this process), stoppable and restartable on its port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: ThreadedMotoServer | None = None

    def start(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-north-1"})

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="eu-north-1",
            aws_access_key_id="samtale-test",
            aws_secret_access_key="samtale-test-secret",
        )


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    server = S3Server()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def bucket(s3: S3Server) -> str:
    name = f"shop-files-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(name)
    return name


def s3_settings(make_settings: SettingsFactory, *, url: str, bucket: str, **overrides: Any) -> Settings:
    return make_settings(
        file_storage="s3",
        s3_bucket=bucket,
        s3_prefix=PREFIX,
        s3_endpoint_url=url,
        s3_region="eu-north-1",
        s3_addressing_style="path",
        s3_retries=0,
        s3_timeout_s=2.0,
        max_upload_bytes=300 * 1024,
        **CREDENTIALS,
        **overrides,
    )


@pytest.fixture
def settings(make_settings: SettingsFactory, s3: S3Server, bucket: str) -> Settings:
    return s3_settings(make_settings, url=s3.url, bucket=bucket)


@pytest.fixture(scope="module")
def chelsea() -> Photo:
    return photo("chelsea.png")


@pytest.fixture(scope="module")
def coffee() -> Photo:
    return photo("coffee.png")


def objects(s3: S3Server, bucket: str) -> dict[str, tuple[bytes, str]]:
    client = s3.client()
    listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    found = {}
    for item in listed:
        got = client.get_object(Bucket=bucket, Key=item["Key"])
        found[item["Key"]] = (got["Body"].read(), got["ContentType"])
    return found


async def test_a_shoppers_photo_is_an_object_in_the_bucket_downloadable_by_url_and_erased_with_the_shopper(
    client: httpx.AsyncClient, services: Services, s3: S3Server, bucket: str, chelsea: Photo, coffee: Photo
) -> None:
    await add_shops(services)
    anna = await chat(client, services, chatbot_id="vinbar", user_id="anna", text="Which wine goes with this cat?")
    assert isinstance(services.files, S3FileStorage)
    assert "samtale-test-secret" not in repr(services.files) and "samtale-test-secret" not in repr(services.settings)

    info = (await send_photo(services, anna, chelsea, mime="image/PNG; charset=binary", name="kät ø.png")).file
    assert info.storage_backend == "s3" and info.mime == "image/png"
    stored = await asyncio.to_thread(objects, s3, bucket)
    assert stored == {PREFIX + info.storage_key: (chelsea.data, "image/png")}

    loaded = await load_file(db=services.db, storage=services.files, chatbot_id="vinbar", file_id=info.id)
    assert loaded.data == chelsea.data and loaded.file == info
    url = await services.files.url(info.storage_key, filename=info.name, mime=info.mime)
    assert url is not None and url.startswith(s3.url) and "Signature" in url
    async with httpx.AsyncClient() as browser:
        download = await browser.get(url)
    assert download.status_code == 200 and download.content == chelsea.data
    assert download.headers["content-type"] == "image/png"
    assert download.headers["content-disposition"] == (
        "attachment; filename=\"kat _.png\"; filename*=UTF-8''k%C3%A4t%20%C3%B8.png"
    )

    with pytest.raises(FileTooLargeError):  # SAMTALE_MAX_UPLOAD_BYTES holds for every backend
        await send_photo(services, anna, coffee)
    with pytest.raises(FileNotFoundInStoreError):  # an unknown id, or another shop's
        await load_file(db=services.db, storage=services.files, chatbot_id="olbar", file_id=info.id)
    with pytest.raises(FileNotFoundInStoreError):  # a key the bucket does not hold
        await services.files.get("vinbar/2026/11/0123456789abcdef")
    assert not await services.files.exists("vinbar/2026/11/0123456789abcdef")
    assert await services.files.exists(info.storage_key)

    second = (await send_photo(services, anna, chelsea, message_id=anna.question_id)).file
    erased = await delete_files_of_shopper(
        db=services.db, storage=services.files, chatbot_id="vinbar", shopper_id=anna.shopper_id
    )
    assert erased == FilesDeleted(files=2, size_bytes=2 * len(chelsea.data)) and second.id != info.id
    assert await asyncio.to_thread(objects, s3, bucket) == {}
    assert await file_rows(services) == []


async def test_a_store_that_is_down_or_has_no_such_bucket_gives_a_categorised_503_and_no_row(
    client: httpx.AsyncClient, services: Services, make_settings: SettingsFactory, s3: S3Server, chelsea: Photo
) -> None:
    await add_shops(services)
    anna = await chat(client, services, chatbot_id="vinbar", user_id="anna", text="Hello")
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    for url, bucket, reason in [
        (nobody, "shop-files", StorageFailure.UNREACHABLE),
        (s3.url, "no-such-bucket", StorageFailure.NO_SUCH_BUCKET),
    ]:
        storage = build_file_storage(s3_settings(make_settings, url=url, bucket=bucket))
        try:
            with pytest.raises(FileStorageError) as failed:
                await _store(services, storage, anna.shopper_id, chelsea)
        finally:
            await storage.aclose()
        assert failed.value.reason is reason and failed.value.category is ErrorCategory.FILE_STORAGE
        assert status_for(failed.value) == 503
        assert failed.value.details == {"backend": "s3", "reason": reason.value}
        assert bucket not in failed.value.message and "127.0.0.1" not in failed.value.message
    assert await file_rows(services) == []


async def _store(services: Services, storage: FileStorage, shopper: str, picture: Photo) -> None:
    await store_file(
        db=services.db,
        storage=storage,
        chatbot_id="vinbar",
        data=picture.data,
        name=picture.name,
        mime="image/png",
        max_bytes=services.settings.max_upload_bytes,
        shopper_id=shopper,
    )


@pytest.fixture
def flaky_s3() -> Iterator[S3Server]:
    server = S3Server()
    server.start()
    yield server
    server.stop()


async def test_when_the_store_goes_down_loading_says_so_and_an_erasure_keeps_its_rows_to_be_repeated(
    client: httpx.AsyncClient, services: Services, make_settings: SettingsFactory, flaky_s3: S3Server, chelsea: Photo
) -> None:
    await add_shops(services)
    anna = await chat(client, services, chatbot_id="vinbar", user_id="anna", text="Hello")
    bucket = "flaky-shop-files"
    await asyncio.to_thread(flaky_s3.create_bucket, bucket)
    storage = build_file_storage(s3_settings(make_settings, url=flaky_s3.url, bucket=bucket))
    try:
        await _store(services, storage, anna.shopper_id, chelsea)
        (row,) = await file_rows(services)

        await asyncio.to_thread(flaky_s3.stop)
        with pytest.raises(FileStorageError) as down:
            await load_file(db=services.db, storage=storage, chatbot_id="vinbar", file_id=row.id)
        assert down.value.reason is StorageFailure.UNREACHABLE
        with pytest.raises(FileStorageError):
            await delete_files_of_shopper(
                db=services.db, storage=storage, chatbot_id="vinbar", shopper_id=anna.shopper_id
            )
        assert [kept.id for kept in await file_rows(services)] == [row.id]  # nothing forgotten while it is down

        await asyncio.to_thread(flaky_s3.start)  # back, on the same address
        assert (await load_file(db=services.db, storage=storage, chatbot_id="vinbar", file_id=row.id)).data == (
            chelsea.data
        )
        erased = await delete_files_of_shopper(
            db=services.db, storage=storage, chatbot_id="vinbar", shopper_id=anna.shopper_id
        )
        assert erased.files == 1 and await file_rows(services) == []
        assert await asyncio.to_thread(objects, flaky_s3, bucket) == {}
    finally:
        await storage.aclose()


def test_settings_refuse_s3_without_a_bucket_or_with_half_a_key_pair(make_settings: SettingsFactory) -> None:
    with pytest.raises(ValidationError, match="SAMTALE_S3_BUCKET"):
        make_settings(file_storage="s3")
    with pytest.raises(ValidationError, match="SAMTALE_S3_SECRET_ACCESS_KEY"):
        make_settings(file_storage="s3", s3_bucket="shop-files", s3_access_key_id="AKIA-only")
    assert make_settings().file_storage == "local"  # the default needs nothing
