"""One day's conversations -> one score row per conversation (or a judge-stage quarantine row).

No Dagster here: the asset, the evals and the benchmarks all call `score_day`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from itertools import groupby

import pyarrow as pa

from orchestration.contract import ContractError, Conversation, Message
from orchestration.extract.landing import quarantine_table
from orchestration.judge.base import Judge, JudgeError
from orchestration.judge.verdict import Verdict
from orchestration.warehouse.schema import arrow_schema

__all__ = ["conversations_from_tables", "score_day", "verdict_row"]


def conversations_from_tables(tables: dict[str, pa.Table]) -> Iterator[tuple[Conversation, dict]]:
    """Rebuild validated conversations from the raw tables (already validated: no re-check)."""
    messages = tables["messages"].sort_by(
        [("conversation_id", "ascending"), ("message_index", "ascending")]
    )
    by_id = {
        cid: [
            Message.model_construct(
                role=m["role"],
                text=m["text"],
                author_kind=m["author_kind"],
                author_id=m["author_id"],
                sent_at=m["sent_at"],
            )
            for m in group
        ]
        for cid, group in groupby(messages.to_pylist(), key=lambda m: m["conversation_id"])
    }
    for row in tables["conversations"].to_pylist():
        conversation = Conversation.model_construct(
            conversation_id=row["conversation_id"],
            channel=row["channel"],
            team=row["team"],
            started_at=row["started_at"],
            ended_at=row["ended_at"],
            messages=by_id[row["conversation_id"]],
            csat=None,
            tags=json.loads(row["tags"]),
        )
        yield conversation, row


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


def score_day(day: date, raw: dict[str, pa.Table], judge: Judge) -> dict[str, pa.Table]:
    """Judge every conversation of the day; a conversation the judge fails on is quarantined."""
    pairs = list(conversations_from_tables(raw))
    results = judge.judge_many([conversation for conversation, _ in pairs])
    rows: list[dict] = []
    failed: list[tuple[ContractError, str]] = []
    for (conversation, meta), result in zip(pairs, results, strict=True):
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
    return {
        "scores": pa.Table.from_pylist(rows, schema=arrow_schema("scored.conversation_scores")),
        "quarantine": quarantine_table(day, "judge", failed),
    }
