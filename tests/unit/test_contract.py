from __future__ import annotations

import json

import pytest

from orchestration.contract import (
    MAX_MESSAGE_CHARS,
    REASONS,
    ContractError,
    Conversation,
    parse_record,
)

GOOD = {
    "conversation_id": "c-1",
    "channel": "email",
    "started_at": "2026-03-02T09:00:00+01:00",
    "team": "billing",
    "messages": [
        {"role": "customer", "text": "My invoice is wrong", "sent_at": "2026-03-02T09:00:00+01:00"},
        {
            "role": "agent",
            "author_kind": "ai",
            "text": "Let me check",
            "sent_at": "2026-03-02T09:01:00+01:00",
        },
        {"role": "agent", "author_kind": "human", "author_id": "a7", "text": "Fixed it"},
    ],
    "csat": {"score": 4, "sent_at": "2026-03-02T10:00:00Z", "answered_at": "2026-03-02T11:00:00Z"},
    "tags": ["vip"],
}


def _with(**changes: object) -> bytes:
    record = {**GOOD, **changes}
    return json.dumps({k: v for k, v in record.items() if v is not ...}).encode()


def test_valid_record_is_parsed_and_normalised_to_utc() -> None:
    parsed = parse_record(json.dumps(GOOD).encode(), "2026-03-02/a.jsonl", 1)
    assert isinstance(parsed, Conversation)
    assert parsed.started_at.isoformat() == "2026-03-02T08:00:00+00:00"
    assert parsed.ended_at.isoformat() == "2026-03-02T08:01:00+00:00"  # derived from messages
    assert parsed.csat.score == 4
    assert [m.author_kind for m in parsed.messages] == [None, "ai", "human"]


def test_started_at_derived_from_first_message_time() -> None:
    parsed = parse_record(_with(started_at=...), "f", 1)
    assert isinstance(parsed, Conversation)
    assert parsed.started_at.isoformat() == "2026-03-02T08:00:00+00:00"


def test_naive_timestamp_is_taken_as_utc() -> None:
    parsed = parse_record(_with(started_at="2026-03-02T07:00:00"), "f", 1)
    assert isinstance(parsed, Conversation)
    assert parsed.started_at.isoformat() == "2026-03-02T07:00:00+00:00"


msgs_no_customer = [{"role": "agent", "author_kind": "human", "text": "hello?"}]
no_times = [{"role": "customer", "text": "hi"}]


@pytest.mark.parametrize(
    ("line", "reason", "field", "has_id"),
    [
        (b"{not json", "invalid_json", None, False),
        (
            b'{"conversation_id": "c-1", "channel": "chat", "messages": [\xff]}',
            "invalid_utf8",
            None,
            False,
        ),
        (b"[1, 2, 3]", "not_an_object", None, False),
        (_with(conversation_id=...), "missing_field", "conversation_id", False),
        (_with(conversation_id=""), "invalid_conversation_id", "conversation_id", False),
        (_with(conversation_id="   "), "invalid_conversation_id", "conversation_id", True),
        (_with(channel="fax"), "invalid_channel", "channel", True),
        (_with(messages=[{"role": "bot", "text": "x"}]), "unknown_role", "messages[0].role", True),
        (_with(messages=[]), "no_messages", "messages", True),
        (_with(messages=msgs_no_customer), "no_customer_message", "messages", True),
        (
            _with(messages=[{"role": "customer", "text": "x"}, {"role": "agent", "text": "y"}]),
            "missing_author_kind",
            "messages[1].author_kind",
            True,
        ),
        (_with(started_at="last tuesday"), "invalid_timestamp", "started_at", True),
        (_with(started_at=..., messages=no_times), "missing_field", "started_at", True),
        (_with(ended_at="2020-01-01T00:00:00Z"), "invalid_timestamp", "ended_at", True),
        (
            _with(messages=[{"role": "customer", "text": "x" * (MAX_MESSAGE_CHARS + 1)}]),
            "message_too_long",
            "messages[0].text",
            True,
        ),
        (_with(csat={"score": 9}), "invalid_value", "csat.score", True),
    ],
)
def test_bad_records_name_reason_field_and_location(
    line: bytes, reason: str, field: str | None, has_id: bool
) -> None:
    error = parse_record(line, "2026-03-02/a.jsonl", 7)
    assert isinstance(error, ContractError)
    assert error.reason == reason and reason in REASONS
    assert error.field == field
    assert (error.conversation_id is not None) == has_id
    text = str(error)
    assert "2026-03-02/a.jsonl:7" in text
    if field:
        assert field in text
