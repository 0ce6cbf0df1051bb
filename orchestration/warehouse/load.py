"""Write one day's raw, scored and quarantine rows into the warehouse, atomically.

Replace-by-partition: within ONE transaction, delete every row of the day from every table this
stage owns and insert the new ones. A rerun gives exactly the same rows; a failure leaves the
previous state. Scores are replaced for the judge version that ran (other versions' rows stay,
so judges can be compared on the same conversations).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from orchestration.warehouse.schema import DDL, TABLES

__all__ = ["PartitionLoad", "connect", "ensure_schema", "load_partition"]


@dataclass(frozen=True)
class PartitionLoad:
    day: date
    lines_in: int
    judge_kind: str
    judge_version: str
    run_id: str


def connect(path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    path.parent.mkdir(parents=True, exist_ok=True)
    return duckdb.connect(str(path), read_only=read_only)


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    for statement in DDL:
        con.execute(statement)


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table) -> None:
    rows = rows.select(TABLES[table].names).cast(TABLES[table])
    con.register("incoming", rows)
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM incoming")
    finally:
        con.unregister("incoming")


def load_partition(
    con: duckdb.DuckDBPyConnection,
    load: PartitionLoad,
    raw: dict[str, pa.Table],
    scored: dict[str, pa.Table],
) -> dict[str, int]:
    """Replace the day in raw.* and scored.* in one transaction; return row counts."""
    ensure_schema(con)
    quarantine = pa.concat_tables([raw["quarantine"], scored["quarantine"]])
    scores = scored["scores"]
    counts = {
        "lines_in": load.lines_in,
        "conversations_loaded": raw["conversations"].num_rows,
        "messages_loaded": raw["messages"].num_rows,
        "conversations_scored": scores.num_rows,
        "conversations_quarantined": quarantine.num_rows,
        "quarantined_at_extract": raw["quarantine"].num_rows,
        "quarantined_at_judge": scored["quarantine"].num_rows,
    }
    audit = pa.Table.from_pylist(
        [
            {
                "partition_date": load.day,
                "lines_in": load.lines_in,
                "conversations_loaded": counts["conversations_loaded"],
                "conversations_scored": counts["conversations_scored"],
                "conversations_quarantined": counts["conversations_quarantined"],
                "judge_kind": load.judge_kind,
                "judge_version": load.judge_version,
                "dagster_run_id": load.run_id,
                "loaded_at": datetime.now(UTC),
            }
        ],
        schema=TABLES["raw.partition_loads"],
    )
    day = load.day
    con.execute("BEGIN TRANSACTION")
    try:
        for table in ("raw.conversations", "raw.messages", "raw.quarantine", "raw.partition_loads"):
            con.execute(f"DELETE FROM {table} WHERE partition_date = ?", [day])
        con.execute(
            "DELETE FROM scored.conversation_scores WHERE partition_date = ? AND judge_version = ?",
            [day, load.judge_version],
        )
        _insert(con, "raw.conversations", raw["conversations"])
        _insert(con, "raw.messages", raw["messages"])
        _insert(con, "raw.quarantine", quarantine)
        _insert(con, "raw.partition_loads", audit)
        _insert(con, "scored.conversation_scores", scores)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return counts
