"""The root of samtale's exception tree and the error categories operators see.

Every domain defines its own exceptions under :class:`SamtaleError` (``KnowledgeError``,
``LLMError``, ``OrderAPIError``…). The HTTP edge (``samtale.api.errors``) translates them to a
status code and a JSON body ``{"error": {"code", "message", "details"}}``; nothing below the
edge knows about HTTP.

Tree::

    SamtaleError
    ├── InputError              bad input from a caller            (422 unless narrowed)
    │   ├── PayloadTooLargeError                                   (413)
    │   └── UnsupportedMediaError                                  (415)
    ├── NotFoundError           unknown chatbot, stream, session…  (404)
    ├── ConflictError           duplicate or stale write           (409)
    ├── AuthError               missing or wrong credentials       (401)
    │   └── PermissionDeniedError  right credentials, wrong scope  (403)
    ├── RateLimitedError        too many attempts                  (429)
    └── ServiceError            an outside service or our own storage failed (503)
        (domains subclass this: LLMError, OrderAPIError, VectorStoreError…)
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar


class ErrorCategory(StrEnum):
    """Categories of failure, as seed 000 names them; each has a recovery suggestion."""

    NETWORK = "network"
    VECTOR_STORE = "vector_store"
    TEMPLATE = "template"
    DATABASE = "database"
    STREAMING = "streaming"
    LLM = "llm"
    ORDER_API = "order_api"
    VALIDATION = "validation"
    FILE_STORAGE = "file_storage"
    """Not in seed 000's list: the uploaded-file store (local folder or S3-compatible, issue 13)."""


RECOVERY_SUGGESTIONS: dict[ErrorCategory, str] = {
    ErrorCategory.NETWORK: "Check that the outside service is reachable from this host; the call is retried "
    "with exponential backoff where that is safe.",
    ErrorCategory.VECTOR_STORE: "Check the knowledge index exists and was built with the configured embedding "
    "model; re-ingest it if its dimension does not match.",
    ErrorCategory.TEMPLATE: "Fix the prompt template named in the error (Jinja2 syntax or an unknown variable) "
    "and re-import the chatbot config.",
    ErrorCategory.DATABASE: "Check SAMTALE_DATABASE_URL and that migrations ran (`samtale migrate`).",
    ErrorCategory.STREAMING: "The client may reconnect with Last-Event-ID; no event is lost while the stream "
    "is retained.",
    ErrorCategory.LLM: "Check the LLM provider's base URL, API key and model; the turn was stored as failed "
    "and can be asked again.",
    ErrorCategory.ORDER_API: "Check the shop's order API credentials and status page; the shopper was told the "
    "order system is not answering.",
    ErrorCategory.VALIDATION: "Correct the request as the message says and send it again.",
    ErrorCategory.FILE_STORAGE: "Check SAMTALE_FILE_STORAGE and its folder (free space, permissions) or, for S3, "
    'the bucket, endpoint, region and credentials (docs/operations.md, "Uploaded files"). A failed call can be '
    "repeated: a file's row is written after its bytes and deleted only after them.",
}


class SamtaleError(Exception):
    """Base of every error samtale raises on purpose.

    Args:
        message: a sentence a user or operator can act on; never contains secrets or
            shoppers' personal data.
        details: optional JSON-serialisable facts (field names, limits) for the caller.
    """

    code: ClassVar[str] = "error"
    category: ClassVar[ErrorCategory] = ErrorCategory.VALIDATION

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class InputError(SamtaleError):
    """The caller sent something we cannot accept (HTTP 422)."""

    code = "invalid_input"


class PayloadTooLargeError(InputError):
    """The input is over a configured size limit (HTTP 413)."""

    code = "payload_too_large"


class UnsupportedMediaError(InputError):
    """The input is of a type we do not accept (HTTP 415)."""

    code = "unsupported_media_type"


class NotFoundError(SamtaleError):
    """The named chatbot, stream, session or document does not exist for this tenant (HTTP 404)."""

    code = "not_found"


class ConflictError(SamtaleError):
    """The write conflicts with what is stored (HTTP 409)."""

    code = "conflict"


class AuthError(SamtaleError):
    """Credentials are missing or wrong (HTTP 401)."""

    code = "unauthorized"


class PermissionDeniedError(AuthError):
    """Credentials are valid but do not cover this resource (HTTP 403)."""

    code = "forbidden"


class RateLimitedError(SamtaleError):
    """Too many attempts in a window (HTTP 429, with ``Retry-After: retry_after_s`` when known)."""

    code = "rate_limited"

    def __init__(
        self, message: str, *, retry_after_s: int | None = None, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message, details=details)
        self.retry_after_s = retry_after_s


class ServiceError(SamtaleError):
    """An outside service or our own storage failed (HTTP 503). Domains subclass it."""

    code = "service_unavailable"
    category = ErrorCategory.NETWORK
