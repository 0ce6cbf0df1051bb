from __future__ import annotations

import json
from datetime import date

import pyarrow.compute as pc
import pytest

from orchestration.extract import landing
from orchestration.extract.landing import extract_day
from tests.conftest import WriteDay, conversation

DAY = date(2026, 3, 2)


def test_every_line_is_a_conversation_or_a_quarantine_row(write_day: WriteDay) -> None:
    a = conversation("a", ("customer", "hi"), ("human", "hello"))
    b = conversation("b", ("customer", "refund please"), ("ai", "done"))
    landing = write_day(
        DAY,
        {
            "1.jsonl": [a, "", "not json", b, conversation("a", ("customer", "newer a"))],
            "2.jsonl": [b"\xff\xfe", conversation("c", ("system", "bot joined"))],
        },
    )
    day = extract_day(landing, DAY)
    assert day.files == ["1.jsonl", "2.jsonl"]
    assert day.lines_in == 6  # the blank line is not a record
    assert sorted(loc.conversation.conversation_id for loc in day.conversations) == ["a", "b"]
    reasons = sorted(err.reason for err, _ in day.quarantine)
    assert reasons == sorted(
        ["invalid_json", "duplicate_conversation_id", "invalid_utf8", "no_customer_message"]
    )
    assert day.lines_in == len(day.conversations) + len(day.quarantine)


def test_duplicate_keeps_the_last_occurrence_across_files(write_day: WriteDay) -> None:
    first = conversation("dup", ("customer", "first version"))
    last = conversation("dup", ("customer", "last version"))
    landing = write_day(DAY, {"a.jsonl": [first], "b.jsonl": [last]})
    day = extract_day(landing, DAY)
    (kept,) = day.conversations
    assert kept.conversation.messages[0].text == "last version"
    assert kept.source_file == "2026-03-02/b.jsonl"
    ((error, raw),) = day.quarantine
    assert (error.source_file, error.source_line, error.reason) == (
        "2026-03-02/a.jsonl",
        1,
        "duplicate_conversation_id",
    )
    assert "b.jsonl:1" in error.detail and "first version" in raw


def test_tables_match_the_warehouse_schema(write_day: WriteDay) -> None:
    landing = write_day(
        DAY,
        {"x.jsonl": [conversation("a", ("customer", "hi"), ("ai", "hey"), csat={"score": 5}), "{"]},
    )
    tables = extract_day(landing, DAY).tables()
    assert tables["conversations"].num_rows == 1
    assert tables["messages"].num_rows == 2
    assert tables["quarantine"].column("reason").to_pylist() == ["invalid_json"]
    assert tables["files"].to_pylist() == [{"source_file": "2026-03-02/x.jsonl", "lines": 2}]
    row = tables["conversations"].to_pylist()[0]
    assert row["csat_score"] == 5 and row["is_surveyed"] is True


def test_missing_day_folder_is_an_empty_day(tmp_path) -> None:
    day = extract_day(tmp_path, DAY)
    assert (day.lines_in, day.files, day.conversations) == (0, [], [])


def _good(**changes) -> dict:
    record = conversation(
        "x", ("customer", "hi"), ("ai", "hello"), ("human", "sorted"), csat={"score": 4}
    )
    record.update(changes)
    return record


def _message(**fields) -> dict:
    return {"role": "customer", "text": "hi", **fields}


# Lines the SQL fast path must treat exactly as the pydantic contract does: accepted with the
# same values, or refused (then the pydantic parser words the reason).
TRICKY: list = [
    _good(conversation_id="ok-1"),
    _good(conversation_id="ok-2", tags=["vip", 'q"uote'], team=None),
    _good(conversation_id="ok-3", started_at="2026-03-02T09:00:00+02:00"),
    _good(conversation_id="ok-4", started_at="2026-03-02T09:00:00"),  # offset-less = UTC
    _good(conversation_id="ok-5", started_at="2026-03-02T09:00:00.123456Z"),
    _good(conversation_id="ok-6", started_at="2026-03-02 09:00:00Z"),  # pydantic's layouts
    _good(conversation_id="ok-7", started_at=1772442000),  # epoch seconds
    _good(conversation_id="ok-8", tags=["étoile"], extra={"ignored": True}),
    _good(
        conversation_id="ok-9",
        started_at=None,
        messages=[
            _message(sent_at="2026-03-02T09:05:00Z"),
            _message(
                role="agent", author_kind="human", author_id="a1", sent_at="2026-03-02T09:01:00Z"
            ),
        ],
    ),
    _good(conversation_id="ok-10", csat={"score": None, "sent_at": "2026-03-02T10:00:00Z"}),
    _good(conversation_id="ok-11", csat={"score": 5.0}),
    _good(conversation_id="ok-12", csat={"score": "3"}),
    _good(conversation_id="ok-13", messages=[_message(text="x" * 20_000)]),
    _good(conversation_id="ok-14", csat=None),
    _good(conversation_id="  padded  "),
    _good(conversation_id="ü"),
    _good(conversation_id=""),
    _good(conversation_id=" \t"),
    _good(conversation_id="\u3000"),
    _good(conversation_id="x" * 257),
    _good(conversation_id=42),
    _good(conversation_id="bad-channel", channel="fax"),
    _good(conversation_id="bad-role", messages=[_message(role="bot")]),
    _good(conversation_id="no-kind", messages=[_message(), _message(role="agent")]),
    _good(conversation_id="bad-kind", messages=[_message(role="agent", author_kind="robot")]),
    _good(conversation_id="no-messages", messages=[]),
    _good(conversation_id="messages-not-list", messages={"role": "customer"}),
    _good(conversation_id="message-not-object", messages=["hi"]),
    _good(conversation_id="no-customer", messages=[_message(role="system")]),
    _good(conversation_id="bad-time", started_at="yesterday"),
    _good(conversation_id="bad-date", started_at="2026-02-30T09:00:00Z"),
    _good(conversation_id="hour-24", started_at="2026-03-02T24:00:00Z"),
    _good(conversation_id="ended-early", ended_at="2026-03-01T09:00:00Z"),
    _good(conversation_id="no-start", started_at=None),
    _good(conversation_id="too-long", messages=[_message(text="x" * 20_001)]),
    _good(conversation_id="long-unicode", messages=[_message(text="é" * 20_000)]),
    _good(conversation_id="text-number", messages=[_message(text=5)]),
    _good(conversation_id="author-number", messages=[_message(author_id=5)]),
    _good(conversation_id="csat-6", csat={"score": 6}),
    _good(conversation_id="csat-list", csat=[5]),
    _good(conversation_id="tags-null", tags=None),
    _good(conversation_id="tags-numbers", tags=[1]),
    _good(conversation_id="team-number", team=7),
    {"channel": "chat", "messages": [_message()]},
    "[1, 2]",
    '"just a string"',
    "{",
    b"\xff\xfe",
    "   ",
    _good(conversation_id="dup"),
    _good(conversation_id="dup", team="second"),
    _good(conversation_id="dup", team="third"),
    # a repeated key: the first occurrence counts, on both paths
    '{"conversation_id": "key-twice", "channel": "chat", "started_at": "2026-03-02T09:00:00Z",'
    ' "messages": [{"role": "customer", "text": "first", "text": "second"}], "channel": "fax"}',
    '{"conversation_id": "key-twice-2", "channel": "chat", "started_at": "2026-03-02T09:00:00Z",'
    ' "csat": {"score": 2, "score": 5}, "team": null, "team": "t",'
    ' "messages": [{"role": "customer", "text": "hi"}], "conversation_id": "other"}',
    # JSON DuckDB reads and the contract's parser may not: non-finite numbers (the contract
    # takes NaN and Infinity, not nan or inf), trailing commas
    *(
        json.dumps({k: v for k, v in _good(conversation_id=name).items() if k != "csat"})[:-1]
        + tail
        + "}"
        for name, tail in [
            ("extra-NaN", ', "x": NaN'),
            ("extra-Infinity", ', "x": [-Infinity]'),
            ("extra-nan", ', "x": nan'),
            ("extra-inf", ', "x": [1, -inf]'),
            ("extra-infinity", ', "x": {"y": infinity}'),
            ("csat-NaN", ', "csat": {"score": NaN}'),
            ("comma-object", ', "x": 1,'),
            ("comma-array", ', "tags": ["a", ]'),
        ]
    ),
]


def test_the_sql_fast_path_equals_the_pydantic_contract(write_day: WriteDay) -> None:
    landing = write_day(DAY, {"a.jsonl": TRICKY[:30], "b.jsonl": [*TRICKY[30:], b"\r\n"]})
    fast = extract_day(landing, DAY).tables()
    reference = extract_day(landing, DAY, sql=False).tables()
    for name in ("conversations", "messages", "quarantine", "files"):
        assert fast[name].equals(reference[name]), name
    kept = fast["conversations"].column("conversation_id").to_pylist()
    assert {"ok-1", "ok-7", "ok-13", "  padded  ", "ü", "dup", "key-twice", "key-twice-2"} <= set(
        kept
    )
    twice = fast["conversations"].filter(pc.field("conversation_id") == "key-twice-2").to_pylist()
    assert (twice[0]["csat_score"], twice[0]["team"]) == (2, None)
    texts = fast["messages"].filter(pc.field("conversation_id") == "key-twice")["text"]
    assert texts.to_pylist() == ["first"]
    assert fast["quarantine"].num_rows + len(kept) == sum(fast["files"].column("lines").to_pylist())


def test_the_sql_fast_path_accepts_plain_records_without_pydantic(
    write_day: WriteDay, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast path is only fast if it accepts the common record itself: pydantic sees only
    what the SQL deliberately leaves to it (layouts and types it does not read)."""
    parsed: list[int] = []
    parse = landing.parse_record
    monkeypatch.setattr(
        landing, "parse_record", lambda line, f, n: parsed.append(n) or parse(line, f, n)
    )
    landing_dir = write_day(DAY, {"a.jsonl": TRICKY[:16]})  # ok-1 .. ok-14, padded, ü
    kept = extract_day(landing_dir, DAY).tables()["conversations"]
    assert kept.num_rows == 16
    # ok-6 "2026-03-02 09:00:00Z", ok-7 epoch seconds, ok-8 a non-ASCII tag, ok-11 score 5.0,
    # ok-12 score "3"
    assert parsed == [6, 7, 8, 11, 12]


def test_small_chunks_keep_lines_and_offsets(write_day: WriteDay) -> None:
    records = [conversation(f"c{i}", ("customer", "x" * (i * 37 % 500))) for i in range(200)]
    records[150] = conversation("c3", ("customer", "the last c3 wins"))
    records[100] = conversation("c100", ("customer", "y" * 3500))  # a line of 3.5 chunks
    landing = write_day(DAY, {"a.jsonl": records, "b.jsonl": []})  # b is empty
    small = extract_day(landing, DAY, chunk_bytes=1000).tables()
    whole = extract_day(landing, DAY).tables()
    for name in ("conversations", "messages", "quarantine", "files"):
        assert small[name].equals(whole[name]), name
    (dup,) = small["quarantine"].to_pylist()
    assert (dup["source_line"], dup["reason"]) == (4, "duplicate_conversation_id")
    assert json.loads(dup["raw_line"])["conversation_id"] == "c3"
    texts = small["messages"].column("text").to_pylist()
    assert "y" * 3500 in texts and small["files"].column("lines").to_pylist() == [200, 0]


def test_crlf_lines_a_last_line_without_feed_and_many_batches(
    write_day: WriteDay, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(landing, "BATCH_LINES", 7)  # every chunk scanned as several batches
    lines = [json.dumps(conversation(f"c{i}", ("customer", f"hi {i}"))) for i in range(40)]
    lines[9] = "{not json"
    lines[30] = json.dumps(conversation("c3", ("customer", "the last c3 wins")))
    root = write_day(DAY, {})
    (root / DAY.isoformat() / "a.jsonl").write_bytes("\r\n".join(lines).encode())
    fast = extract_day(root, DAY, chunk_bytes=300).tables()
    reference = extract_day(root, DAY, sql=False).tables()
    for name in ("conversations", "messages", "quarantine", "files"):
        assert fast[name].equals(reference[name]), name
    assert fast["files"].column("lines").to_pylist() == [40]
    kept = fast["conversations"].column("conversation_id").to_pylist()
    assert kept[-1] == "c39" and len(kept) == 38
    dup, bad = fast["quarantine"].to_pylist()  # in line order
    assert (bad["source_line"], bad["reason"], bad["raw_line"]) == (10, "invalid_json", "{not json")
    assert (dup["source_line"], dup["reason"]) == (4, "duplicate_conversation_id")
    assert dup["raw_line"] == lines[3]
