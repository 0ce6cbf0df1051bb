"""The LLM judge's verdict cache: `judge_cache.llm_verdicts` in the warehouse file.

One row per cache key, a hash of (the transcript exactly as sent, after redaction and fitting;
the judge version, which holds the prompt, schema, rubric and taxonomy versions; the model). A
rerun, a backfill or a retry finds its verdicts here and makes no call. Invalid replies are
cached too (a deterministic failure; paying again buys the same failure); transient failures
(timeouts, rate limits, server errors) are not, so a retry tries them again.

Rows are written as the run goes (`CacheWriter`, flushed every second or every 32 results), so a
run killed halfway resumes without paying again for what it already got. DuckDB allows one
writer per file: every read and flush opens the file, does its work and closes it at once, and a
lock held by another process is waited for briefly. The pipeline's own warehouse load runs after
the scoring step in the same run, so they never overlap.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

__all__ = ["CACHE_TABLE", "CacheEntry", "CacheWriter", "cache_key", "read_cache"]

CACHE_TABLE = "judge_cache.llm_verdicts"
_DDL = [
    "CREATE SCHEMA IF NOT EXISTS judge_cache",
    f"""CREATE TABLE IF NOT EXISTS {CACHE_TABLE} (
  cache_key VARCHAR PRIMARY KEY,
  judge_version VARCHAR NOT NULL,
  judge_model VARCHAR NOT NULL,
  conversation_id VARCHAR NOT NULL,
  outcome VARCHAR NOT NULL,
  body_json VARCHAR,
  reason VARCHAR,
  detail VARCHAR,
  raw_output VARCHAR,
  output_mode VARCHAR,
  requests INTEGER,
  prompt_tokens BIGINT,
  completion_tokens BIGINT,
  truncated BOOLEAN,
  messages_omitted INTEGER,
  redactions_json VARCHAR,
  created_at TIMESTAMPTZ
)""",
]
_COLUMNS = (
    "cache_key, judge_version, judge_model, conversation_id, outcome, body_json, reason, detail, "
    "raw_output, output_mode, requests, prompt_tokens, completion_tokens, truncated, "
    "messages_omitted, redactions_json, created_at"
)


def cache_key(judge_version: str, model: str, transcript: str) -> str:
    payload = json.dumps([judge_version, model, transcript], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CacheEntry:
    """One judged conversation: a verdict (`outcome='verdict'`) or an invalid reply."""

    cache_key: str
    judge_version: str
    judge_model: str
    conversation_id: str
    outcome: str
    body_json: str | None
    reason: str | None
    detail: str | None
    raw_output: str | None
    output_mode: str | None
    requests: int
    prompt_tokens: int
    completion_tokens: int
    truncated: bool
    messages_omitted: int
    redactions_json: str


def _connect(path: Path, attempts: int = 40) -> duckdb.DuckDBPyConnection:
    """Open the warehouse, waiting up to ~10 s while another process holds its lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(attempts):
        try:
            return duckdb.connect(str(path))
        except duckdb.IOException as error:
            if "lock" not in str(error).lower() or attempt == attempts - 1:
                raise
            time.sleep(0.25)
    raise AssertionError("unreachable")  # pragma: no cover


def read_cache(path: Path, keys: list[str]) -> dict[str, CacheEntry]:
    """The cached entries among `keys` (none when the warehouse does not exist yet)."""
    if not keys or not path.exists():
        return {}
    con = _connect(path)
    try:
        exists = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'judge_cache' and table_name = 'llm_verdicts'"
        ).fetchone()
        if not exists or not exists[0]:
            return {}
        con.execute("CREATE TEMP TABLE wanted (cache_key VARCHAR)")
        con.executemany("INSERT INTO wanted VALUES (?)", [[k] for k in keys])
        fields = [f for f in _COLUMNS.split(", ") if f != "created_at"]
        rows = con.execute(
            f"select {', '.join('c.' + f for f in fields)} from {CACHE_TABLE} c "
            "join wanted using (cache_key)"
        ).fetchall()
    finally:
        con.close()
    return {row[0]: CacheEntry(*row) for row in rows}


class CacheWriter:
    """Buffers entries and writes them in small batches (one short connection each)."""

    def __init__(self, path: Path, flush_every: int = 32, flush_seconds: float = 1.0) -> None:
        self.path = path
        self.flush_every = flush_every
        self.flush_seconds = flush_seconds
        self._buffer: list[CacheEntry] = []
        self._last_flush = time.monotonic()
        self.written = 0

    def add(self, entry: CacheEntry) -> None:
        self._buffer.append(entry)
        if (
            len(self._buffer) >= self.flush_every
            or time.monotonic() - self._last_flush >= self.flush_seconds
        ):
            self.flush()

    def flush(self) -> None:
        self._last_flush = time.monotonic()
        if not self._buffer:
            return
        batch, self._buffer = self._buffer, []
        now = datetime.now(UTC)
        con = _connect(self.path)
        try:
            for statement in _DDL:
                con.execute(statement)
            con.executemany(
                f"INSERT OR REPLACE INTO {CACHE_TABLE} ({_COLUMNS}) "
                f"VALUES ({', '.join('?' * len(_COLUMNS.split(', ')))})",
                [[*asdict(entry).values(), now] for entry in batch],
            )
        finally:
            con.close()
        self.written += len(batch)
