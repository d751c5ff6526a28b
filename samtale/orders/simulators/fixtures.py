"""The orders a simulator serves, in one shop-neutral shape each simulator renders in its API's.

The demo store (:func:`demo_orders`) holds order ``1001`` for jane@example.com (fulfilled, with a
tracking number and tracking URL) and order ``1002`` for other@example.com (paid, not shipped).
Names and addresses are made up for the project.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class SimItem(BaseModel):
    """One order line."""

    model_config = ConfigDict(extra="forbid")

    name: str
    quantity: int = 1
    sku: str | None = None
    price: float = 0.0


class SimShipment(BaseModel):
    """One parcel; ``status`` is ``in_transit``, ``out_for_delivery`` or ``delivered``."""

    model_config = ConfigDict(extra="forbid")

    carrier: str
    carrier_code: str
    tracking_number: str
    tracking_url: str | None = None
    status: str = "in_transit"
    estimated_delivery: datetime | None = None


class SimOrder(BaseModel):
    """An order with the shopper's personal data, as a shop stores it.

    ``number`` is the bare order number (``1001``); each simulator decorates it the way its
    shop system does (Shopify ``#1001``). ``fulfillment`` is ``unfulfilled``, ``fulfilled``,
    ``partial`` or ``cancelled``; ``financial_status`` is ``paid``, ``pending`` or ``refunded``.
    """

    model_config = ConfigDict(extra="forbid")

    number: str
    email: str
    postcode: str
    customer_name: str
    phone: str
    street: str
    city: str
    country_code: str = "DK"
    placed_at: datetime
    fulfillment: str = "unfulfilled"
    financial_status: str = "paid"
    currency: str = "DKK"
    items: list[SimItem] = Field(default_factory=list)
    shipments: list[SimShipment] = Field(default_factory=list)

    @property
    def total(self) -> float:
        """Sum of line prices × quantities."""
        return round(sum(item.price * item.quantity for item in self.items), 2)


def demo_orders() -> list[SimOrder]:
    """The demo store's orders: ``1001`` (jane@example.com, shipped with GLS) and ``1002``."""
    return [
        SimOrder(
            number="1001",
            email="jane@example.com",
            postcode="2100",
            customer_name="Jane Jensen",
            phone="+4512345678",
            street="Østerbrogade 1",
            city="København Ø",
            placed_at=datetime.fromisoformat("2025-03-03T09:15:00+00:00"),
            fulfillment="fulfilled",
            financial_status="paid",
            items=[
                SimItem(name="Barolo DOCG 2019", quantity=2, sku="WINE-BAROLO-19", price=289.0),
                SimItem(name="Riesling Kabinett 2022", quantity=1, sku="WINE-RIES-22", price=149.0),
            ],
            shipments=[
                SimShipment(
                    carrier="GLS",
                    carrier_code="gls",
                    tracking_number="GLS123456789DK",
                    tracking_url="https://gls-group.com/DK/da/find-pakke?match=GLS123456789DK",
                    status="in_transit",
                    estimated_delivery=datetime.fromisoformat("2025-03-06T16:00:00+00:00"),
                )
            ],
        ),
        SimOrder(
            number="1002",
            email="other@example.com",
            postcode="8000",
            customer_name="Ole Olsen",
            phone="+4587654321",
            street="Strøget 7",
            city="Aarhus C",
            placed_at=datetime.fromisoformat("2025-03-04T12:00:00+00:00"),
            fulfillment="unfulfilled",
            financial_status="paid",
            items=[SimItem(name="Champagne Brut NV", quantity=6, sku="WINE-CHAMP-NV", price=399.0)],
        ),
    ]
