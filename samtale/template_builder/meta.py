"""Client of Meta's Graph API for creating message templates, with plain-language errors.

``POST https://graph.facebook.com/{version}/{WABA_ID}/message_templates`` with a bearer token;
the answer is ``{"id", "status", "category"}``. Meta's errors are
``{"error": {"message", "type", "code", "error_subcode", "error_user_title", "error_user_msg",
"fbtrace_id"}}``; :data:`SUBCODE_MESSAGES` turns the template subcodes into sentences a marketer
understands (source: Meta, WhatsApp Business Platform, "Error codes" and "Message templates").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from samtale.template_builder.errors import MetaAPIError, TemplatePayloadError

DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_VERSION = "v23.0"

SUBCODE_MESSAGES: dict[int, str] = {
    2388040: "A part of the template is over its character limit (body 1,024, header and footer 60, button label 25 "
    "characters). Shorten it and submit again.",
    2388047: "Meta does not accept the header's format: a text header has at most 60 characters and one placeholder; "
    "a media header needs a sample file.",
    2388073: "Meta does not accept the footer: it must be plain text of at most 60 characters without placeholders.",
    2388293: "The message has too many placeholders for its length. Add more fixed words or use fewer placeholders.",
    2388299: "A placeholder is at the very start or end of the message. Put some words before and after it.",
    2388019: "This WhatsApp Business Account has reached its limit of message templates. Delete templates you no "
    "longer use, then submit again.",
}
CODE_MESSAGES: dict[int, str] = {
    190: "The WhatsApp access token is invalid or has expired; update the chatbot's WhatsApp credentials.",
    4: "Meta is rate-limiting this app; wait a little and submit again.",
    80008: "Meta is rate-limiting this WhatsApp Business Account; wait a little and submit again.",
    10: "The access token lacks permission to manage this WhatsApp Business Account's templates.",
    200: "The access token lacks permission to manage this WhatsApp Business Account's templates.",
}


class MetaTemplateRejectedError(TemplatePayloadError):
    """Meta refused the template's content (HTTP 4xx with a template subcode); the marketer can fix it (422)."""

    code = "meta_rejected_template"


@dataclass(slots=True)
class SubmissionOutcome:
    """Meta's answer to an accepted creation request: the template id, its review status and category."""

    template_id: str
    status: str
    category: str | None


def plain_message(error: dict[str, Any]) -> str:
    """A sentence for a Meta error object (subcode first, then code, then Meta's own user message)."""
    subcode = error.get("error_subcode")
    if isinstance(subcode, int) and subcode in SUBCODE_MESSAGES:
        return SUBCODE_MESSAGES[subcode]
    code = error.get("code")
    if isinstance(code, int) and code in CODE_MESSAGES:
        return CODE_MESSAGES[code]
    user_message = error.get("error_user_msg") or error.get("message") or "unknown error"
    return f"Meta refused the template: {user_message}"


class MetaTemplateClient:
    """Creates message templates through the Graph API.

    Args:
        http: the shared ``httpx.AsyncClient`` (tests pass one pointed at the simulator).
        base_url: Graph API origin; overridable for the simulator.
        version: Graph API version, e.g. ``v23.0``.
        timeout_s: request timeout in seconds.
    """

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        base_url: str = DEFAULT_BASE_URL,
        version: str = DEFAULT_VERSION,
        timeout_s: float = 30.0,
    ) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.version = version
        self.timeout_s = timeout_s

    async def create_template(self, *, waba_id: str, access_token: str, payload: dict[str, Any]) -> SubmissionOutcome:
        """Send ``payload`` to ``POST /{version}/{waba_id}/message_templates``.

        Raises:
            MetaTemplateRejectedError: Meta refused the content (its subcode mapped to a sentence).
            MetaAPIError: Meta is unreachable, answered 5xx, refused the token, or rate-limited.
        """
        url = f"{self.base_url}/{self.version}/{waba_id}/message_templates"
        try:
            response = await self.http.post(
                url, json=payload, headers={"Authorization": f"Bearer {access_token}"}, timeout=self.timeout_s
            )
        except httpx.HTTPError as exc:
            raise MetaAPIError(f"Meta's Graph API could not be reached: {type(exc).__name__}") from exc
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.is_success and isinstance(body, dict) and body.get("id"):
            return SubmissionOutcome(
                template_id=str(body["id"]), status=str(body.get("status", "PENDING")), category=body.get("category")
            )
        raw_error = body.get("error") if isinstance(body, dict) else None
        error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
        details = {
            "http_status": response.status_code,
            "code": error.get("code"),
            "error_subcode": error.get("error_subcode"),
            "meta_message": error.get("error_user_msg") or error.get("message"),
            "fbtrace_id": error.get("fbtrace_id"),
        }
        message = plain_message(error) if error else f"Meta's Graph API answered HTTP {response.status_code}"
        content_error = error.get("error_subcode") in SUBCODE_MESSAGES or error.get("code") == 100
        if 400 <= response.status_code < 500 and content_error:
            raise MetaTemplateRejectedError(message, details=details)
        raise MetaAPIError(message, details=details)
