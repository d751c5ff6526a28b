"""Build the deployment's file storage backend from :class:`~samtale.settings.Settings`."""

from __future__ import annotations

from samtale.files.local import LocalFileStorage
from samtale.files.s3 import S3FileStorage
from samtale.files.storage import FileStorage
from samtale.settings import Settings


def build_file_storage(settings: Settings) -> FileStorage:
    """The backend ``settings.file_storage`` names: the local folder ``settings.files_dir``, or the
    S3-compatible bucket of the ``s3_*`` settings. Makes no I/O (the folder is created at the first
    write, the S3 client at the first call), so it is safe anywhere."""
    if settings.file_storage == "s3":
        assert settings.s3_bucket is not None  # Settings refuses s3 without a bucket
        return S3FileStorage(
            bucket=settings.s3_bucket,
            prefix=settings.s3_prefix,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
            addressing_style=settings.s3_addressing_style,
            timeout_s=settings.s3_timeout_s,
            retries=settings.s3_retries,
            max_connections=settings.s3_max_connections,
            url_expiry_s=settings.s3_url_expiry_s,
        )
    return LocalFileStorage(root=settings.files_dir)
