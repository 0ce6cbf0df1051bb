from __future__ import annotations

from datetime import date

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
