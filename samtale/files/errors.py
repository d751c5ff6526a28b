"""Errors of the file store, under :class:`samtale.errors.SamtaleError`.

Tree::

    InputError
    ├── InvalidFileError            an empty file, a malformed MIME type, bad pixel sizes   (422)
    └── PayloadTooLargeError
        └── FileTooLargeError       over ``Settings.max_upload_bytes``                     (413)
    NotFoundError
    ├── FileNotFoundInStoreError    no such file for this chatbot, or its bytes are gone   (404)
    └── FileOwnerNotFoundError      the shopper, conversation or message is not this chatbot's (404)
    ServiceError
    └── FileStorageError            the backend failed (disk, S3 down or refusing)         (503)
"""

from __future__ import annotations

from enum import StrEnum

from samtale.errors import ErrorCategory, InputError, NotFoundError, PayloadTooLargeError, ServiceError


class InvalidFileError(InputError):
    """The file or its metadata cannot be stored as given (the message says which part)."""

    code = "invalid_file"


class FileTooLargeError(PayloadTooLargeError):
    """The file is larger than the upload limit; ``details`` has ``size_bytes`` and ``limit_bytes``."""

    code = "file_too_large"


class FileNotFoundInStoreError(NotFoundError):
    """No file with this id for this chatbot (another chatbot's file is reported the same way),
    or no bytes under this storage key."""

    code = "file_not_found"


class FileOwnerNotFoundError(NotFoundError):
    """The shopper, conversation or message a file was to belong to does not exist for this chatbot
    (another chatbot's is reported the same way); ``details["owner"]`` says which."""

    code = "file_owner_not_found"


class StorageFailure(StrEnum):
    """Why a backend failed, in ``FileStorageError.details["reason"]`` (what an operator checks)."""

    UNREACHABLE = "unreachable"
    """No connection to the S3 endpoint (down, wrong URL, DNS, firewall)."""
    TIMEOUT = "timeout"
    """Connected, but no answer within ``s3_timeout_s``."""
    ACCESS_DENIED = "access_denied"
    """The store refused the credentials or the signature, or they are missing."""
    NO_SUCH_BUCKET = "no_such_bucket"
    """The configured bucket does not exist."""
    DISK = "disk"
    """The local folder cannot be written or read (permissions, no space)."""
    CORRUPT = "corrupt"
    """The bytes read back do not have the stored SHA-256."""
    BACKEND_MISMATCH = "backend_mismatch"
    """The row's bytes live on another backend than this deployment's (``file_storage`` changed)."""
    FAILED = "failed"
    """Any other refusal of the store (its error code is logged)."""


class FileStorageError(ServiceError):
    """The file storage backend failed (HTTP 503, category ``file_storage``).

    Args:
        message: what failed, for an operator; never a secret, a key or a shopper's data.
        backend: ``local`` or ``s3``.
        reason: a :class:`StorageFailure`.
    """

    code = "file_storage_unavailable"
    category = ErrorCategory.FILE_STORAGE

    def __init__(self, message: str, *, backend: str, reason: StorageFailure) -> None:
        super().__init__(message, details={"backend": backend, "reason": reason.value})
        self.backend = backend
        self.reason = reason
