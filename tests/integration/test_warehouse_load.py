"""Replace-by-partition on a real DuckDB file: reruns are exact, failures change nothing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from orchestration.extract.landing import extract_day, quarantine_table
from orchestration.warehouse.load import PartitionLoad, connect, load_partition
from orchestration.warehouse.schema import TABLES, arrow_schema
from tests.conftest import WriteDay, conversation

DAY = date(2026, 3, 2)
OTHER = date(2026, 3, 3)


def _scores(day: date, ids: list[str], version: str = "v1", score: int = 4) -> dict[str, pa.Table]:
    schema = arrow_schema("scored.conversation_scores")
    rows = []
    for cid in ids:
        row = {name: None for name in schema.names}
        row.update(
            partition_date=day,
            conversation_id=cid,
            judge_kind="offline",
            judge_name="test",
            judge_version=version,
            score=score,
            rationale="fixture",
        )
        rows.append(row)
    return {
        "scores": pa.Table.from_pylist(rows, schema=schema),
        "quarantine": quarantine_table(day, "judge", []),
    }


def _snapshot(path: Path) -> dict[str, list[tuple]]:
    with connect(path, read_only=True) as con:
        return {
            table: sorted(
                con.execute(f"select * exclude (loaded_at) from {table}").fetchall()
                if table == "raw.partition_loads"
                else con.execute(f"select * from {table}").fetchall(),
                key=repr,
            )
            for table in TABLES
        }


def _load(path: Path, landing: Path, day: date, version: str = "v1", run_id: str = "r") -> None:
    extracted = extract_day(landing, day)
    raw = extracted.tables()
    ids = raw["conversations"].column("conversation_id").to_pylist()
    with connect(path) as con:
        load_partition(
            con,
            PartitionLoad(day, extracted.lines_in, "offline", version, run_id),
            raw,
            _scores(day, ids, version),
        )


@pytest.fixture
def landing(write_day: WriteDay) -> Path:
    write_day(DAY, {"a.jsonl": [conversation("a", ("customer", "x")), "oops"]})
    return write_day(OTHER, {"a.jsonl": [conversation("z", ("customer", "y"))]})


def test_rerun_gives_exactly_the_same_rows(tmp_path: Path, landing: Path) -> None:
    db = tmp_path / "wh.duckdb"
    _load(db, landing, DAY)
    _load(db, landing, OTHER)
    first = _snapshot(db)
    _load(db, landing, DAY, run_id="another-run")
    second = _snapshot(db)
    assert {t: rows for t, rows in second.items() if t != "raw.partition_loads"} == {
        t: rows for t, rows in first.items() if t != "raw.partition_loads"
    }
    assert len(first["raw.conversations"]) == 2 and len(first["raw.quarantine"]) == 1


def test_rerun_after_landing_changed_replaces_the_day_only(
    tmp_path: Path, landing: Path, write_day: WriteDay
) -> None:
    db = tmp_path / "wh.duckdb"
    _load(db, landing, DAY)
    _load(db, landing, OTHER)
    write_day(DAY, {"a.jsonl": [conversation("b", ("customer", "x"))]})
    _load(db, landing, DAY)
    with connect(db, read_only=True) as con:
        ids = con.execute(
            "select partition_date, conversation_id from raw.conversations order by 1"
        ).fetchall()
        assert ids == [(DAY, "b"), (OTHER, "z")]
        assert con.execute("select count(*) from raw.quarantine").fetchone() == (0,)


def test_other_judge_versions_are_kept_side_by_side(tmp_path: Path, landing: Path) -> None:
    db = tmp_path / "wh.duckdb"
    _load(db, landing, DAY, version="v1")
    _load(db, landing, DAY, version="v2")
    with connect(db, read_only=True) as con:
        assert con.execute(
            "select judge_version, count(*) from scored.conversation_scores group by 1 order by 1"
        ).fetchall() == [("v1", 1), ("v2", 1)]
        assert con.execute("select judge_version from raw.partition_loads").fetchall() == [("v2",)]


def test_a_failed_load_leaves_the_previous_state(tmp_path: Path, landing: Path) -> None:
    db = tmp_path / "wh.duckdb"
    _load(db, landing, DAY)
    before = _snapshot(db)
    extracted = extract_day(landing, DAY)
    broken = _scores(DAY, ["a"])
    broken["scores"] = broken["scores"].drop_columns(["score"])  # schema violation mid-load
    with connect(db) as con:
        with pytest.raises(duckdb.BinderException, match="score"):
            load_partition(
                con, PartitionLoad(DAY, 2, "offline", "v1", "r2"), extracted.tables(), broken
            )
        assert _insertion_order_kept(con)  # the load's unordered inserts end with it
        load_partition(
            con,
            PartitionLoad(DAY, 2, "offline", "v1", "r3"),
            extracted.tables(),
            _scores(DAY, ["a"]),
        )
        assert _insertion_order_kept(con)
    assert _snapshot(db) != before  # the second load went in


def _insertion_order_kept(con: duckdb.DuckDBPyConnection) -> bool:
    ((value,),) = con.execute("select current_setting('preserve_insertion_order')").fetchall()
    return value is True
