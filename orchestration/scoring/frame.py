"""One day's conversations -> one score row per conversation (or a judge-stage quarantine row).

No Dagster here: the asset, the evals and the benchmarks all call `score_day`.
"""

from __future__ import annotations

import json
import multiprocessing
import tempfile
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa

from orchestration.contract import ContractError, Conversation, Message
from orchestration.extract.landing import quarantine_table
from orchestration.judge.base import Judge, JudgeError
from orchestration.judge.verdict import Verdict
from orchestration.lake.partition import PartitionWriter, Tables, batches
from orchestration.warehouse.schema import arrow_schema

__all__ = [
    "BATCH_SIZE",
    "SCORED_SCHEMAS",
    "aligned_chunks",
    "conversation_batches",
    "conversations_from_tables",
    "judge_chunk",
    "rebuild",
    "score_day",
    "verdict_row",
]


#: Conversations rebuilt and judged at a time: memory stays flat whatever the day's size.
BATCH_SIZE = 2_000

#: The tables of a scored day (the lake partition of `conversation_scores`).
SCORED_SCHEMAS: dict[str, pa.Schema] = {
    "scores": arrow_schema("scored.conversation_scores"),
    "quarantine": arrow_schema("raw.quarantine"),
}

_MESSAGE_COLUMNS = [
    "conversation_id",
    "message_index",
    "role",
    "text",
    "author_kind",
    "author_id",
    "sent_at",
]


class _Rows:
    """A stream of record batches read a given number of rows at a time."""

    def __init__(self, source: Iterator[pa.RecordBatch], schema: pa.Schema) -> None:
        self._source = source
        self._schema = schema
        self._buffer: list[pa.RecordBatch] = []
        self._buffered = 0

    def take(self, n: int) -> pa.Table:
        while self._buffered < n:
            batch = next(self._source, None)
            if batch is None:
                break
            self._buffer.append(batch)
            self._buffered += batch.num_rows
        if not self._buffer:
            return self._schema.empty_table()
        table = pa.Table.from_batches(self._buffer)
        head, rest = table.slice(0, n), table.slice(n)
        self._buffer, self._buffered = rest.to_batches(), rest.num_rows
        return head


def aligned_chunks(
    tables: Tables, batch_size: int = BATCH_SIZE
) -> Iterator[tuple[pa.RecordBatch, pa.Table]]:
    """The day's conversations `batch_size` at a time, each chunk with its messages.

    Streams: the extract writes messages in the conversations' order (conversation, then
    message_index), so both tables are read side by side, `message_count` messages per
    conversation; nothing of the day is held beyond the chunk. Tables that are not in that order
    raise a ValueError naming the first conversation whose messages are out of place."""
    schema = arrow_schema("raw.messages")
    messages = _Rows(
        batches(tables, "messages", _MESSAGE_COLUMNS),
        pa.schema([schema.field(name) for name in _MESSAGE_COLUMNS]),
    )
    for chunk in batches(tables, "conversations", batch_rows=batch_size):
        ids = chunk.column("conversation_id")
        counts = np.asarray(chunk.column("message_count"), dtype=np.int64)
        rows = messages.take(int(counts.sum()))
        ends = np.cumsum(counts)
        expected = pa.array(np.repeat(np.asarray(ids, dtype=object), counts), pa.string())
        index = np.arange(int(counts.sum())) - np.repeat(ends - counts, counts)
        if (
            rows.num_rows != len(expected)
            or not rows.column("conversation_id").equals(pa.chunked_array([expected]))
            or not np.array_equal(np.asarray(rows.column("message_index")), index)
        ):
            raise ValueError(_misaligned(ids, counts, rows))
        yield chunk, rows
    if messages.take(1).num_rows:
        raise ValueError(_TOO_MANY_MESSAGES)


def rebuild(chunk: pa.RecordBatch, messages: pa.Table) -> list[tuple[Conversation, dict]]:
    """Contract objects of one aligned chunk (already validated: no re-check), with each
    conversation's row of the conversations table."""
    counts = np.asarray(chunk.column("message_count"), dtype=np.int64)
    ends = np.cumsum(counts)
    flat = [
        Message.model_construct(
            role=m["role"],
            text=m["text"],
            author_kind=m["author_kind"],
            author_id=m["author_id"],
            sent_at=m["sent_at"],
        )
        for m in messages.to_pylist()
    ]
    batch = []
    for k, row in enumerate(chunk.to_pylist()):
        conversation = Conversation.model_construct(
            conversation_id=row["conversation_id"],
            channel=row["channel"],
            team=row["team"],
            started_at=row["started_at"],
            ended_at=row["ended_at"],
            messages=flat[int(ends[k] - counts[k]) : int(ends[k])],
            csat=None,
            tags=json.loads(row["tags"]),
        )
        batch.append((conversation, row))
    return batch


def conversation_batches(
    tables: Tables, batch_size: int = BATCH_SIZE
) -> Iterator[list[tuple[Conversation, dict]]]:
    """The day's conversations rebuilt `batch_size` at a time (see `aligned_chunks`)."""
    for chunk, messages in aligned_chunks(tables, batch_size):
        yield rebuild(chunk, messages)


def _misaligned(ids: pa.Array, counts: np.ndarray, rows: pa.Table) -> str:
    got = rows.select(["conversation_id", "message_index"]).to_pylist()
    at = 0
    for cid, n in zip(ids.to_pylist(), counts.tolist(), strict=True):
        want = [{"conversation_id": cid, "message_index": i} for i in range(n)]
        if got[at : at + n] != want:
            return (
                f"raw tables: the messages of conversation_id {cid!r} are not where its"
                f" message_count ({n}) puts them: messages must follow the conversations' order,"
                " each conversation's message_index 0, 1, ..."
            )
        at += n
    return _TOO_MANY_MESSAGES


_TOO_MANY_MESSAGES = (
    "raw tables: more message rows than the conversations' message_count adds up to"
)


def conversations_from_tables(tables: Tables) -> Iterator[tuple[Conversation, dict]]:
    """Rebuild validated conversations from the raw tables (already validated: no re-check)."""
    for batch in conversation_batches(tables):
        yield from batch


def verdict_row(day: date, conversation_id: str, judge: Judge, verdict: Verdict) -> dict:
    statuses = [issue.status for issue in verdict.issues]
    return {
        "partition_date": day,
        "conversation_id": conversation_id,
        "judge_kind": judge.kind,
        "judge_name": judge.name,
        "judge_version": judge.version,
        "judge_model": judge.model,
        "score": verdict.score,
        "resolution_score": verdict.resolution_score,
        "sentiment_score": verdict.sentiment_score,
        "service_score": verdict.service_score,
        "efficiency_score": verdict.efficiency_score,
        "issues_total": len(statuses),
        "issues_resolved": statuses.count("resolved"),
        "issues_partly": statuses.count("partly"),
        "issues_unresolved": statuses.count("not_resolved"),
        "issues_json": json.dumps([i.model_dump() for i in verdict.issues]),
        "sentiment_start": verdict.sentiment_start,
        "sentiment_end": verdict.sentiment_end,
        "sentiment_trajectory": verdict.sentiment_trajectory,
        "tone_score": verdict.tone_score,
        "knowledge_score": verdict.knowledge_score,
        "timeliness_score": verdict.timeliness_score,
        "loop_count": verdict.loop_count,
        "needless_clarification_count": verdict.needless_clarification_count,
        "broken_handoff_count": verdict.broken_handoff_count,
        "topic": verdict.topic,
        "rationale": verdict.rationale,
    }


#: A judged chunk: its score rows, and (error, raw output) of each conversation it failed on.
Judged = tuple[pa.Table, list[tuple[ContractError, str]]]


def judge_chunk(day: date, judge: Judge, chunk: pa.RecordBatch, messages: pa.Table) -> Judged:
    """Rebuild and judge one aligned chunk."""
    batch = rebuild(chunk, messages)
    results = judge.judge_many([conversation for conversation, _ in batch])
    rows: list[dict] = []
    failed: list[tuple[ContractError, str]] = []
    for (conversation, meta), result in zip(batch, results, strict=True):
        if isinstance(result, JudgeError):
            error = ContractError(
                meta["source_file"],
                meta["source_line"],
                conversation.conversation_id,
                None,
                result.reason,
                str(result),
            )
            failed.append((error, result.raw_output or ""))
        else:
            rows.append(verdict_row(day, conversation.conversation_id, judge, result))
    return pa.Table.from_pylist(rows, schema=SCORED_SCHEMAS["scores"]), failed


_WORKER: dict[str, Judge] = {}


def _start_worker(judge: Judge) -> None:
    _WORKER["judge"] = judge


def _judge_in_worker(day: date, chunk: pa.RecordBatch, messages: pa.Table) -> Judged:
    return judge_chunk(day, _WORKER["judge"], chunk, messages)


def _judged(
    day: date, raw: Tables, judge: Judge, batch_size: int, processes: int
) -> Iterator[Judged]:
    """Each chunk judged, in order: here, or in `processes` worker processes (each given a
    pickled copy of the judge once), with at most two chunks per worker in flight so memory
    stays flat."""
    chunks = aligned_chunks(raw, batch_size)
    if processes <= 1:
        for chunk, messages in chunks:
            yield judge_chunk(day, judge, chunk, messages)
        return
    context = multiprocessing.get_context("spawn")  # never fork a process holding DuckDB/Dagster
    with ProcessPoolExecutor(processes, context, _start_worker, (judge,)) as pool:
        pending: deque = deque()
        for chunk, messages in chunks:
            pending.append(pool.submit(_judge_in_worker, day, chunk, messages))
            if len(pending) >= 2 * processes:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def score_day(
    day: date,
    raw: Tables,
    judge: Judge,
    batch_size: int = BATCH_SIZE,
    out_dir: Path | None = None,
    processes: int = 1,
) -> Tables:
    """Judge every conversation of the day; a conversation the judge fails on is quarantined.

    Streams: `batch_size` conversations are rebuilt, handed to `judge.judge_many` (an LLM judge
    runs its concurrency within a batch) and appended to `scores.parquet` in `out_dir` before
    the next batch; returns that `LakePartition` (`scores`, `quarantine`). With no `out_dir`
    the tables come back in memory (small days, tests). `processes` > 1 judges chunks in that
    many worker processes (CPU-bound offline judges; an LLM judge's concurrency is its own, so
    it always runs here); rows come out in the same order either way."""
    if judge.kind == "llm":
        processes = 1
    with tempfile.TemporaryDirectory(prefix="cx-score-") as tmp:
        writer = PartitionWriter(out_dir or Path(tmp), SCORED_SCHEMAS)
        with writer:
            failed: list[tuple[ContractError, str]] = []
            for scores, chunk_failed in _judged(day, raw, judge, batch_size, processes):
                if scores.num_rows:
                    writer.append("scores", scores)
                failed += chunk_failed
            writer.append("quarantine", quarantine_table(day, "judge", failed))
            partition = writer.close()
        if out_dir is not None:
            return partition
        return partition.in_memory()
