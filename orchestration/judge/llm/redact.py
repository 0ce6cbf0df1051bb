"""Redact emails, phone numbers and payment card numbers before a transcript leaves the machine.

- phone numbers: Google's libphonenumber (`phonenumbers.PhoneNumberMatcher`), which finds
  numbers written in any common format and checks them against the numbering plan of their
  country (international `+` numbers anywhere; national numbers for `region`). Dates, order
  numbers and amounts are not valid phone numbers, so they stay.
- emails: one regex (a local part, `@`, a dotted domain with a 2+ letter TLD).
- cards: 13-19 digits, optionally grouped by spaces or dashes, that pass the Luhn check (an
  order number of the same length almost never does).

Cards go first (a card number can look like a phone number), then emails, then phones. Each hit
is replaced by a label (`[CARD]`, `[EMAIL]`, `[PHONE]`) and counted.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import phonenumbers

__all__ = ["Redactor", "luhn_valid"]

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?!\w)")
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


@dataclass
class Redactor:
    """Replaces personal data in text by labels; `region` is the country for national numbers."""

    region: str = "US"
    counts: Counter[str] = field(default_factory=Counter)

    def _card(self, match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            self.counts["card"] += 1
            return "[CARD]"
        return match.group()

    def _email(self, match: re.Match[str]) -> str:
        self.counts["email"] += 1
        return "[EMAIL]"

    def _phones(self, text: str) -> str:
        if sum(c.isdigit() for c in text) < 7:
            return text  # no phone number fits in fewer digits: skip the matcher (hot path)
        out, last = [], 0
        for match in phonenumbers.PhoneNumberMatcher(text, self.region):
            out.append(text[last : match.start])
            out.append("[PHONE]")
            last = match.end
            self.counts["phone"] += 1
        out.append(text[last:])
        return "".join(out)

    def redact(self, text: str) -> str:
        """`text` with cards, emails and phone numbers replaced; `counts` grows by the hits."""
        text = _CARD.sub(self._card, text)
        if "@" in text:
            text = _EMAIL.sub(self._email, text)
        return self._phones(text)
