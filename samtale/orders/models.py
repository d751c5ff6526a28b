"""The normalised order every tracker returns, whatever the shop system (DESIGN section 11).

An :class:`Order` deliberately has no field for the shopper's email, phone number or address:
the second factor is checked inside the tracker, so personal data can never reach the prompt,
the ``order`` SSE event or a log line through this model.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: The status vocabulary trackers normalise to (each tracker maps its shop system's states onto it).
ORDER_STATUSES = (
    "pending",
    "processing",
    "on_hold",
    "partially_shipped",
    "shipped",
    "delivered",
    "cancelled",
    "refunded",
    "unknown",
)


def _as_datetime(value: Any) -> Any:
    """Accept a bare date (``2024-05-03``) as midnight UTC; leave anything else to Pydantic."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime.combine(value, time.min, tzinfo=UTC)
    if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
        return datetime.combine(date.fromisoformat(value), time.min, tzinfo=UTC)
    if isinstance(value, str) and len(value) == 19 and value[10] == " ":
        # Magento writes "2024-05-01 10:00:00" in UTC without an offset.
        return datetime.fromisoformat(value.replace(" ", "T")).replace(tzinfo=UTC)
    return value


class OrderItem(BaseModel):
    """One order line: the product name as the shop shows it, how many, and the SKU when known."""

    model_config = ConfigDict(extra="forbid")

    name: str
    quantity: int = Field(ge=0)
    sku: str | None = None


class Shipment(BaseModel):
    """One fulfillment / parcel: carrier, tracking number and URL, status and estimated delivery (UTC)."""

    model_config = ConfigDict(extra="forbid")

    carrier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    status: str | None = None
    estimated_delivery: datetime | None = None

    _dates = field_validator("estimated_delivery", mode="before")(_as_datetime)


class Order(BaseModel):
    """An order as the shopper may see it once the order number and a second factor matched.

    ``status`` is one of :data:`ORDER_STATUSES`; ``financial_status`` is the shop's payment
    state in lower case (``paid``, ``pending``, ``refunded``…); ``placed_at`` is UTC.
    """

    model_config = ConfigDict(extra="forbid")

    order_number: str
    placed_at: datetime | None = None
    status: str = "unknown"
    financial_status: str | None = None
    items: list[OrderItem] = Field(default_factory=list)
    shipments: list[Shipment] = Field(default_factory=list)

    _dates = field_validator("placed_at", mode="before")(_as_datetime)

    @field_validator("status")
    @classmethod
    def _known_status(cls, value: str) -> str:
        return value if value in ORDER_STATUSES else "unknown"

    def to_summary(self) -> dict[str, Any]:
        """A JSON-ready dict for the prompt and the ``order`` SSE event (datetimes as ISO 8601).

        It holds only the fields of this model, so never an email, phone number or address.
        """
        return self.model_dump(mode="json")
