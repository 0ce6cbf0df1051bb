"""The tables the Python stages own: `raw.*` (extract) and `scored.*` (judge).

One place declares them; the loader creates them and dbt reads them as sources
(`dbt_project/models/staging/_sources.yml`). Every table carries `partition_date`, the landing
day, so a partition can be replaced as a unit.
"""

from __future__ import annotations

import pyarrow as pa

__all__ = ["DDL", "TABLES", "arrow_schema"]

_TS = pa.timestamp("us", tz="UTC")

TABLES: dict[str, pa.Schema] = {
    "raw.conversations": pa.schema(
        [
            ("partition_date", pa.date32()),
            ("conversation_id", pa.string()),
            ("channel", pa.string()),
            ("team", pa.string()),
            ("started_at", _TS),
            ("ended_at", _TS),
            ("message_count", pa.int32()),
            ("csat_score", pa.int32()),
            ("csat_sent_at", _TS),
            ("csat_answered_at", _TS),
            ("is_surveyed", pa.bool_()),
            ("tags", pa.string()),  # JSON array, portable across warehouses
            ("source_file", pa.string()),
            ("source_line", pa.int64()),
        ]
    ),
    "raw.messages": pa.schema(
        [
            ("partition_date", pa.date32()),
            ("conversation_id", pa.string()),
            ("message_index", pa.int32()),
            ("role", pa.string()),
            ("author_kind", pa.string()),
            ("author_id", pa.string()),
            ("sent_at", _TS),
            ("text", pa.string()),
        ]
    ),
    "raw.quarantine": pa.schema(
        [
            ("partition_date", pa.date32()),
            ("stage", pa.string()),  # extract | judge
            ("source_file", pa.string()),
            ("source_line", pa.int64()),
            ("conversation_id", pa.string()),
            ("field", pa.string()),
            ("reason", pa.string()),
            ("detail", pa.string()),
            ("raw_line", pa.string()),
        ]
    ),
    "raw.partition_loads": pa.schema(
        [
            ("partition_date", pa.date32()),
            ("lines_in", pa.int64()),
            ("conversations_loaded", pa.int64()),
            ("conversations_scored", pa.int64()),
            ("conversations_quarantined", pa.int64()),
            ("judge_kind", pa.string()),
            ("judge_version", pa.string()),
            ("dagster_run_id", pa.string()),
            ("loaded_at", _TS),
        ]
    ),
    "scored.conversation_scores": pa.schema(
        [
            ("partition_date", pa.date32()),
            ("conversation_id", pa.string()),
            ("judge_kind", pa.string()),
            ("judge_name", pa.string()),
            ("judge_version", pa.string()),
            ("judge_model", pa.string()),
            ("score", pa.int32()),
            ("resolution_score", pa.int32()),
            ("sentiment_score", pa.int32()),
            ("service_score", pa.int32()),
            ("efficiency_score", pa.int32()),
            ("issues_total", pa.int32()),
            ("issues_resolved", pa.int32()),
            ("issues_partly", pa.int32()),
            ("issues_unresolved", pa.int32()),
            ("issues_json", pa.string()),
            ("sentiment_start", pa.float64()),
            ("sentiment_end", pa.float64()),
            ("sentiment_trajectory", pa.string()),
            ("tone_score", pa.int32()),
            ("knowledge_score", pa.int32()),
            ("timeliness_score", pa.int32()),
            ("loop_count", pa.int32()),
            ("needless_clarification_count", pa.int32()),
            ("broken_handoff_count", pa.int32()),
            ("topic", pa.string()),
            ("rationale", pa.string()),
        ]
    ),
}

_SQL_TYPES = {
    pa.date32(): "DATE",
    pa.string(): "VARCHAR",
    _TS: "TIMESTAMPTZ",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.bool_(): "BOOLEAN",
    pa.float64(): "DOUBLE",
}


def arrow_schema(table: str) -> pa.Schema:
    return TABLES[table]


def _ddl(table: str, schema: pa.Schema) -> str:
    cols = ",\n  ".join(f"{f.name} {_SQL_TYPES[f.type]}" for f in schema)
    return f"CREATE TABLE IF NOT EXISTS {table} (\n  {cols}\n)"


DDL: list[str] = ["CREATE SCHEMA IF NOT EXISTS raw", "CREATE SCHEMA IF NOT EXISTS scored"] + [
    _ddl(name, schema) for name, schema in TABLES.items()
]
