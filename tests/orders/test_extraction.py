"""The rule extractor finds the order number a shopper typed, and nothing that only looks like one."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from samtale.orders.extraction import evaluate_extraction, extract_order_number, extract_order_variables

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "intents"


def _rows(name: str) -> list[tuple[str, str]]:
    with (DATA / name).open(encoding="utf-8", newline="") as handle:
        return [(row["utterance"], row["order_number"]) for row in csv.DictReader(handle)]


def test_the_held_out_bitext_rows_are_extracted_at_least_99_percent_exactly() -> None:
    report = evaluate_extraction(_rows("bitext-order-numbers-dev.csv"))

    assert report.total == 180
    assert report.exact_match >= 0.99, report.errors


@pytest.mark.parametrize(
    ("utterance", "expected"),
    [
        ("i have to see oredr 00123842 status i need help", "00123842"),
        ("cancelling order732201349959", "732201349959"),
        ("I don't know how I can see my bill #00108", None),
        ("I'm waiting for a reimbursement of $1499", None),
        ("I am waiting for a restitution of 1499 dollars", None),
        ("add something to order", None),
    ],
)
def test_real_bitext_shapes_from_the_training_file(utterance: str, expected: str | None) -> None:
    assert (utterance, expected or "") in _rows("bitext-order-numbers-train.csv")
    assert extract_order_number(utterance) == expected


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Where is my order #1001?", "1001"),
        ("my order CT-1001 has not arrived", "CT-1001"),
        ("Magento order 000000123 please", "000000123"),
        ("Hvor er min ordre nr. 1001?", "1001"),
        ("I paid 499 kr for order 1002", "1002"),
        ("invoice 12345 belongs to order 555555", "555555"),
        ("please call me on +45 12 34 56 78", None),
        ("I ordered 3 bottles on 12/05/2024", None),
    ],
)
def test_shop_formats_are_found_and_lookalikes_are_not(message: str, expected: str | None) -> None:
    assert extract_order_number(message) == expected


def test_email_postcode_and_phone_come_out_of_one_message() -> None:
    found = extract_order_variables(
        message="Order #1001, email Jane@Example.com, postnummer 2100, tlf +45 12 34 56 78",
    )

    assert found.order_number == "1001"
    assert found.email == "jane@example.com"
    assert found.postcode == "2100"
    assert found.phone == "+4512345678"


def test_a_bare_answer_is_read_in_the_light_of_the_question_before_it() -> None:
    history = [("user", "where is my parcel?"), ("assistant", "What is your order number?")]
    assert extract_order_variables(message="1001", history=history).order_number == "1001"

    history = [("user", "order 1001"), ("assistant", "What is the email address or postcode on the order?")]
    found = extract_order_variables(message="2100", history=history)
    assert (found.order_number, found.postcode) == ("1001", "2100")


def test_the_newest_turn_wins_and_missing_values_come_from_earlier_turns() -> None:
    history = [("user", "my order is #1001"), ("assistant", "What is the email address on the order?")]

    found = extract_order_variables(message="actually it is order 1002, jane@example.com", history=history)

    assert (found.order_number, found.email) == ("1002", "jane@example.com")
    assert extract_order_variables(message="jane@example.com", history=history).order_number == "1001"
