"""One day's conversations -> one score row per conversation (or a judge-stage quarantine row).

No Dagster here: the asset, the evals and the benchmarks all call `score_day`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.contract import ContractError, Conversation, Message
from orchestration.extract.landing import quarantine_table
from orchestration.judge.base import Judge, JudgeError
from orchestration.judge.verdict import Verdict
from orchestration.warehouse.schema import arrow_schema

__all__ = [
    "BATCH_SIZE",
    "conversation_batches",
    "conversations_from_tables",
    "score_day",
    "verdict_row",
]


#: Conversations rebuilt and judged at a time: memory stays flat whatever the day's size.
BATCH_SIZE = 2_000


def conversation_batches(
    tables: dict[str, pa.Table], batch_size: int = BATCH_SIZE
) -> Iterator[list[tuple[Conversation, dict]]]:
    """The day's conversations, rebuilt from the raw tables (already validated: no re-check), in
    the conversations table's order, `batch_size` at a time. Messages are matched to their
    conversation and ordered with Arrow compute (hash lookup + sort), never a whole-day list."""
    conversations, messages = tables["conversations"], tables["messages"]
    position = pc.index_in(
        messages.column("conversation_id"), value_set=conversations.column("conversation_id")
    )
    keyed = pa.table({"position": position, "index": messages.column("message_index")})
    order = pc.sort_indices(keyed, [("position", "ascending"), ("index", "ascending")])
    counts = np.bincount(
        np.asarray(pc.drop_null(position), dtype=np.int64), minlength=conversations.num_rows
    )
    ends = np.cumsum(counts)
    columns = ["conversation_id", "role", "text", "author_kind", "author_id", "sent_at"]
    for start in range(0, conversations.num_rows, batch_size):
        stop = min(start + batch_size, conversations.num_rows)
        low = int(ends[start - 1]) if start else 0
        rows = messages.select(columns).take(order[low : int(ends[stop - 1])]).to_pylist()
        by_id: dict[str, list[Message]] = {}
        for m in rows:
            by_id.setdefault(m["conversation_id"], []).append(
                Message.model_construct(
                    role=m["role"],
                    text=m["text"],
                    author_kind=m["author_kind"],
                    author_id=m["author_id"],
                    sent_at=m["sent_at"],
                )
            )
        batch = []
        for row in conversations.slice(start, stop - start).to_pylist():
            conversation = Conversation.model_construct(
                conversation_id=row["conversation_id"],
                channel=row["channel"],
                team=row["team"],
                started_at=row["started_at"],
                ended_at=row["ended_at"],
                messages=by_id.get(row["conversation_id"], []),
                csat=None,
                tags=json.loads(row["tags"]),
            )
            batch.append((conversation, row))
        yield batch


def conversations_from_tables(tables: dict[str, pa.Table]) -> Iterator[tuple[Conversation, dict]]:
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


def score_day(
    day: date, raw: dict[str, pa.Table], judge: Judge, batch_size: int = BATCH_SIZE
) -> dict[str, pa.Table]:
    """Judge every conversation of the day; a conversation the judge fails on is quarantined.

    Streams: `batch_size` conversations are rebuilt, handed to `judge.judge_many` (an LLM judge
    runs its concurrency within a batch) and turned into Arrow before the next batch."""
    schema = arrow_schema("scored.conversation_scores")
    scored: list[pa.Table] = []
    failed: list[tuple[ContractError, str]] = []
    for batch in conversation_batches(raw, batch_size):
        results = judge.judge_many([conversation for conversation, _ in batch])
        rows: list[dict] = []
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
        scored.append(pa.Table.from_pylist(rows, schema=schema))
    scores = pa.concat_tables(scored) if scored else schema.empty_table()
    return {
        "scores": scores.combine_chunks(),
        "quarantine": quarantine_table(day, "judge", failed),
    }
