"""Exceptions of the template builder, rooted in :class:`samtale.errors.SamtaleError`."""

from __future__ import annotations

from samtale.errors import ErrorCategory, InputError, NotFoundError, PayloadTooLargeError, ServiceError


class TemplateSessionNotFoundError(NotFoundError):
    """No template-builder session has the given id (HTTP 404)."""

    code = "template_session_not_found"


class TemplateMessageTooLongError(PayloadTooLargeError):
    """A chat message is over :data:`samtale.template_builder.service.MAX_MESSAGE_CHARS` (HTTP 413)."""

    code = "template_message_too_long"


class TemplatePayloadError(InputError):
    """A template payload is not JSON, not an object, or not ready to submit (HTTP 422)."""

    code = "invalid_template_payload"


class TemplateLLMError(ServiceError):
    """The LLM behind the assistant could not be reached or answered with an error (HTTP 503)."""

    code = "template_llm_error"
    category = ErrorCategory.LLM


class MetaAPIError(ServiceError):
    """Meta's Graph API refused or failed a template submission (HTTP 503 at our edge).

    ``details`` carries ``code``, ``error_subcode`` and Meta's own message next to our
    plain-language ``message``.
    """

    code = "meta_api_error"
