"""Redaction before a transcript is sent: emails, phone numbers, card numbers (Luhn)."""

from __future__ import annotations

import pytest

from orchestration.judge.llm.redact import Redactor, luhn_valid


@pytest.mark.parametrize(
    ("text", "expected", "counts"),
    [
        ("mail me at jo.bloggs+cx@example.co.uk", "mail me at [EMAIL]", {"email": 1}),
        ("call (415) 555-2671 now", "call [PHONE] now", {"phone": 1}),
        ("UK office +44 20 7946 0958.", "UK office [PHONE].", {"phone": 1}),
        ("my number is 415.555.2671", "my number is [PHONE]", {"phone": 1}),
        ("card 4111 1111 1111 1111 please", "card [CARD] please", {"card": 1}),
        ("card 5500-0000-0000-0004", "card [CARD]", {"card": 1}),
        (
            "a@b.io, 4111111111111111, +1 415 555 2671",
            "[EMAIL], [CARD], [PHONE]",
            {"email": 1, "card": 1, "phone": 1},
        ),
    ],
)
def test_personal_data_is_replaced_and_counted(
    text: str, expected: str, counts: dict[str, int]
) -> None:
    redactor = Redactor()
    assert redactor.redact(text) == expected
    assert dict(redactor.counts) == counts


@pytest.mark.parametrize(
    "text",
    [
        "Order 1234567890123 shipped on 2026-03-02 at 09:15.",  # not Luhn-valid, a date
        "I paid $1,234.56 twice, invoice 88123.",
        "tracking number 1Z999AA10123456784",
        "4111 1111 1111 1112",  # 16 digits that fail the Luhn check
        "version 3.11.4 and user@localhost",  # no TLD: not an email
        "room 4411, flight BA 2490",
    ],
)
def test_ordinary_numbers_and_words_stay(text: str) -> None:
    redactor = Redactor()
    assert redactor.redact(text) == text
    assert not redactor.counts


@pytest.mark.parametrize(
    ("digits", "valid"),
    [("4111111111111111", True), ("79927398713", True), ("79927398710", False), ("0", True)],
)
def test_luhn(digits: str, valid: bool) -> None:
    assert luhn_valid(digits) is valid


def test_counts_accumulate_across_texts() -> None:
    redactor = Redactor()
    redactor.redact("x@y.com")
    redactor.redact("z@w.org and (212) 555-0199")
    assert redactor.counts == {"email": 2, "phone": 1}
