"""The S3-compatible backend (AWS S3, MinIO, Cloudflare R2, Ceph, Garage…), through boto3.

Why boto3 in threads rather than aiobotocore/aioboto3: the official SDK is the best-kept client of
the S3 API and its quirks across stores, and aiobotocore (under aioboto3) still reads botocore's
JSON service models and ``~/.aws/config`` with blocking calls inside the event loop when a client
is made, which the test suite's blockbuster guard (rightly) refuses. Here every S3 call, and the
one-time client creation, runs in a pool of ``max_connections`` threads of its own, beside the
same number of pooled HTTP connections; the default executor (local files, hashing) is not
starved by a slow store. boto3's client is thread-safe.

Every object key is ``prefix + key``. Checksums are computed only when the S3 API requires them
(``request_checksum_calculation="when_required"``): the flexible checksums botocore sends by
default since 1.36 are refused by several S3-compatible stores; the file service verifies each
file's SHA-256 on reading instead. Failures become :class:`~samtale.files.errors.FileStorageError`
with a :class:`~samtale.files.errors.StorageFailure` reason; the secret is never logged.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)
from pydantic import SecretStr

from samtale.files.errors import FileNotFoundInStoreError, FileStorageError, StorageFailure
from samtale.files.storage import check_storage_key, content_disposition, storage_failure

logger = logging.getLogger(__name__)

BACKEND = "s3"
T = TypeVar("T")

_DENIED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled", "ExpiredToken"}
_MISSING = {"NoSuchKey", "404", "NotFound"}


class S3FileStorage:
    """Files as objects of one bucket. Implements :class:`~samtale.files.storage.FileStorage`.

    Args:
        bucket: the bucket (it must exist; samtale never creates one).
        prefix: prepended to every key (e.g. ``"samtale/"``).
        endpoint_url: the S3 API of a non-AWS store (``http://127.0.0.1:9000`` for MinIO), or None for AWS.
        region: the bucket's region (None = ``us-east-1``; R2 takes ``auto``).
        access_key_id, secret_access_key: static credentials, or both None for botocore's own
            chain (``AWS_*`` variables, shared config, an IAM role).
        addressing_style: ``path`` (bucket in the path: MinIO and most self-hosted stores),
            ``virtual`` (bucket in the host name) or ``auto``.
        timeout_s: connect and read timeout of one call, seconds.
        retries: retries of a failed call (botocore's standard retry mode, with backoff).
        max_connections: pooled connections, and threads making the calls.
        url_expiry_s: lifetime of a presigned download URL, seconds.
    """

    name = BACKEND

    def __init__(
        self,
        *,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: SecretStr | None = None,
        addressing_style: Literal["auto", "path", "virtual"] = "auto",
        timeout_s: float = 10.0,
        retries: int = 2,
        max_connections: int = 10,
        url_expiry_s: int = 900,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.endpoint_url = endpoint_url
        self.url_expiry_s = url_expiry_s
        self._region = region or "us-east-1"
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        self._config = Config(
            connect_timeout=timeout_s,
            read_timeout=timeout_s,
            retries={"mode": "standard", "total_max_attempts": retries + 1},
            max_pool_connections=max_connections,
            s3={"addressing_style": addressing_style},
            signature_version="s3v4",
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._executor = ThreadPoolExecutor(max_workers=max_connections, thread_name_prefix="samtale-s3")
        self._client: Any = None
        self._client_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"S3FileStorage(bucket={self.bucket!r}, prefix={self.prefix!r}, endpoint_url={self.endpoint_url!r})"

    def _s3(self) -> Any:
        """The boto3 client, made at the first call (in a worker thread: it reads botocore's models)."""
        with self._client_lock:
            if self._client is None:
                session = boto3.session.Session(
                    aws_access_key_id=self._access_key_id,
                    aws_secret_access_key=(
                        self._secret_access_key.get_secret_value() if self._secret_access_key else None
                    ),
                    region_name=self._region,
                )
                self._client = session.client("s3", endpoint_url=self.endpoint_url, config=self._config)
            return self._client

    async def _call(self, doing: str, work: Callable[[Any], T]) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, lambda: work(self._s3()))
        except (FileNotFoundInStoreError, FileStorageError):
            raise
        except (BotoCoreError, ClientError) as exc:
            raise self._failure(exc, doing) from None

    def _failure(self, exc: Exception, doing: str) -> Exception:
        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _MISSING:
                return FileNotFoundInStoreError("no file is stored under this key")
            reason = (
                StorageFailure.ACCESS_DENIED
                if code in _DENIED
                else StorageFailure.NO_SUCH_BUCKET
                if code == "NoSuchBucket"
                else StorageFailure.FAILED
            )
            logger.error("S3 file storage: %s in bucket %r failed: %s", doing, self.bucket, code or "unknown error")
        else:
            if isinstance(exc, ReadTimeoutError):
                reason = StorageFailure.TIMEOUT
            elif isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ConnectionClosedError):
                reason = StorageFailure.UNREACHABLE
            elif isinstance(exc, NoCredentialsError | PartialCredentialsError):
                reason = StorageFailure.ACCESS_DENIED
            else:
                reason = StorageFailure.FAILED
            logger.error(
                "S3 file storage: %s in bucket %r at %s failed: %s",
                doing,
                self.bucket,
                self.endpoint_url or "AWS",
                type(exc).__name__,
            )
        return storage_failure(backend=BACKEND, reason=reason, doing=doing)

    def _object(self, key: str) -> str:
        return self.prefix + check_storage_key(key)

    async def put(self, key: str, data: bytes, mime: str) -> None:
        """Upload ``data`` as one object (S3 writes are atomic) with Content-Type ``mime``.

        Raises:
            FileStorageError: the store failed or refused (see :class:`StorageFailure`).
        """
        name = self._object(key)
        await self._call(
            "write a file", lambda s3: s3.put_object(Bucket=self.bucket, Key=name, Body=data, ContentType=mime)
        )

    async def get(self, key: str) -> bytes:
        """Download the object.

        Raises:
            FileNotFoundInStoreError: no such object. FileStorageError: the store failed.
        """
        name = self._object(key)

        def download(s3: Any) -> bytes:
            body = s3.get_object(Bucket=self.bucket, Key=name)["Body"]
            try:
                return bytes(body.read())
            finally:
                body.close()

        return await self._call("read a file", download)

    async def delete(self, key: str) -> None:
        """Delete the object (S3 answers the same for a missing one).

        Raises:
            FileStorageError: the store failed or refused.
        """
        name = self._object(key)
        await self._call("delete a file", lambda s3: s3.delete_object(Bucket=self.bucket, Key=name))

    async def exists(self, key: str) -> bool:
        """True when the object exists (a ``HEAD`` request).

        Raises:
            FileStorageError: the store failed or refused.
        """
        name = self._object(key)
        try:
            await self._call("look up a file", lambda s3: s3.head_object(Bucket=self.bucket, Key=name))
        except FileNotFoundInStoreError:
            return False
        return True

    async def url(self, key: str, *, filename: str, mime: str) -> str | None:
        """A presigned ``GET`` URL valid for ``url_expiry_s`` that makes the browser save the object
        as ``filename`` with type ``mime`` (signed locally: no request to the store)."""
        name = self._object(key)
        params = {
            "Bucket": self.bucket,
            "Key": name,
            "ResponseContentDisposition": content_disposition(filename),
            "ResponseContentType": mime,
        }
        return await self._call(
            "sign a download URL",
            lambda s3: str(s3.generate_presigned_url("get_object", Params=params, ExpiresIn=self.url_expiry_s)),
        )

    async def aclose(self) -> None:
        """Close the client's connections and stop its threads (waiting for running calls)."""
        client = self._client
        if client is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, client.close)
        await asyncio.to_thread(self._executor.shutdown, wait=True)
