"""Typed model of the body of ``POST /{version}/{WABA_ID}/message_templates``.

Source: Meta, WhatsApp Business Platform, "Message templates" and "Template components"
(request syntax of the Message Templates API). The model is deliberately permissive about
*values* (names, limits, combinations are the validator's job, so each broken rule gets its own
path, rule id and message) and strict about *shapes* (text is a string, buttons a list…).
Meta accepts enum values in either case (``"marketing"`` or ``"MARKETING"``); so does this model.
Unknown extra keys are kept, so a payload round-trips unchanged.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", strict=False)


class NamedParamExample(_Model):
    """One example of a named parameter: ``{"param_name": "first_name", "example": "Pablo"}``."""

    param_name: str
    example: str


class ComponentExample(_Model):
    """The ``example`` object of a HEADER or BODY component.

    * ``header_text``: one example for the text header's variable.
    * ``header_text_named_params`` / ``body_text_named_params``: examples of named parameters.
    * ``header_handle``: the uploaded media handle of an IMAGE, VIDEO, GIF or DOCUMENT header.
    * ``body_text``: one list holding an example per positional body variable, in order.
    """

    header_text: list[str] | None = None
    header_text_named_params: list[NamedParamExample] | None = None
    header_handle: list[str] | None = None
    body_text: list[list[str]] | None = None
    body_text_named_params: list[NamedParamExample] | None = None


class SupportedApp(_Model):
    """An Android app allowed to receive a one-tap or zero-tap code."""

    package_name: str | None = None
    signature_hash: str | None = None


class Button(_Model):
    """One button of a BUTTONS component (QUICK_REPLY, URL, PHONE_NUMBER, COPY_CODE, OTP, FLOW…).

    ``example`` is a list of strings for a URL button (the full example URL) and a string for a
    COPY_CODE button (the example offer code).
    """

    type: str | None = None
    text: str | None = None
    url: str | None = None
    phone_number: str | None = None
    example: str | list[str] | None = None
    otp_type: str | None = None
    autofill_text: str | None = None
    package_name: str | None = None
    signature_hash: str | None = None
    supported_apps: list[SupportedApp] | None = None
    zero_tap_terms_accepted: bool | None = None


class LimitedTimeOffer(_Model):
    """The ``limited_time_offer`` object: the offer label and whether a countdown is shown."""

    text: str | None = None
    has_expiration: bool | None = None


class Card(_Model):
    """One carousel card: its own HEADER, optional BODY and BUTTONS."""

    components: list[Component] = Field(default_factory=list)


class Component(_Model):
    """One template component (HEADER, BODY, FOOTER, BUTTONS, CAROUSEL, LIMITED_TIME_OFFER).

    Authentication templates use ``add_security_recommendation`` on the BODY and
    ``code_expiration_minutes`` on the FOOTER instead of text.
    """

    type: str | None = None
    format: str | None = None
    text: str | None = None
    example: ComponentExample | None = None
    buttons: list[Button] | None = None
    cards: list[Card] | None = None
    add_security_recommendation: bool | None = None
    code_expiration_minutes: int | None = None
    limited_time_offer: LimitedTimeOffer | None = None

    @property
    def kind(self) -> str:
        """The component type in upper case (``""`` when missing)."""
        return (self.type or "").upper()


class TemplatePayload(_Model):
    """The whole creation payload.

    Attributes:
        name: template name, ``^[a-z0-9_]{1,512}$``.
        language: a Meta language code such as ``en_US`` or ``da``.
        category: MARKETING, UTILITY or AUTHENTICATION.
        components: the template components, in display order.
        parameter_format: ``POSITIONAL`` (default) or ``NAMED``.
        message_send_ttl_seconds: how long Meta keeps trying to deliver a message (seconds).
    """

    name: str | None = None
    language: str | None = None
    category: str | None = None
    components: list[Component] = Field(default_factory=list)
    parameter_format: str | None = None
    allow_category_change: bool | None = None
    message_send_ttl_seconds: int | None = None

    def to_api(self) -> dict[str, Any]:
        """The JSON body to send to Meta (``None`` fields left out)."""
        return self.model_dump(mode="json", exclude_none=True)


Card.model_rebuild()
