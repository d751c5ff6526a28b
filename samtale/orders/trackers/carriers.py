"""Tracking URLs built from a carrier and a tracking number, for APIs that only give the number
(Magento ``tracks``, commercetools ``trackingData``). A shop may add or override templates with
the ``tracking_url_templates`` setting (``{carrier_code: "https://…{number}"}``)."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

#: Public tracking pages of common carriers; ``{number}`` is replaced by the URL-quoted number.
TRACKING_URL_TEMPLATES: dict[str, str] = {
    "ups": "https://www.ups.com/track?tracknum={number}",
    "usps": "https://tools.usps.com/go/TrackConfirmAction?tLabels={number}",
    "fedex": "https://www.fedex.com/fedextrack/?trknbr={number}",
    "dhl": "https://www.dhl.com/global-en/home/tracking.html?tracking-id={number}",
    "postnord": "https://www.postnord.dk/varktojer/track-trace?shipmentId={number}",
    "gls": "https://gls-group.com/DK/da/find-pakke?match={number}",
    "dao": "https://www.dao.as/privat/find-din-pakke?stregkode={number}",
    "bring": "https://tracking.bring.com/tracking/{number}",
    "dpd": "https://tracking.dpd.de/status/en_US/parcel/{number}",
}


def tracking_url(carrier: str | None, number: str | None, *, templates: Mapping[str, str] | None = None) -> str | None:
    """The tracking page of ``number`` at ``carrier`` (matched case-insensitively, ignoring spaces
    and dashes), or ``None`` when either is missing or the carrier is unknown."""
    if not carrier or not number:
        return None
    key = carrier.lower().replace(" ", "").replace("-", "").replace("_", "")
    known = {**TRACKING_URL_TEMPLATES, **{k.lower(): v for k, v in (templates or {}).items()}}
    template = known.get(key)
    return template.replace("{number}", quote(number, safe="")) if template else None
