"""What a scored day shows in the Dagster UI: counts, the score histogram and the spotlight.

No Dagster here; the asset turns these into metadata. The marts stay the source of truth (the
spotlight mart is `marts.spotlight_ai_resolved_poor`); this is the same filter over one day's
tables, so a data team sees the day's worst AI "successes" the moment it is scored.
"""

from __future__ import annotations

from collections import Counter

import pyarrow as pa

__all__ = [
    "ai_only_conversations",
    "lowest_scored_rows",
    "score_histogram",
    "spotlight_markdown",
    "spotlight_rows",
]


def score_histogram(scores: pa.Table) -> dict[str, int]:
    counts = Counter(scores.column("score").to_pylist())
    return {str(score): counts.get(score, 0) for score in range(1, 6)}


def ai_only_conversations(messages: pa.Table) -> set[str]:
    """Conversations whose agent messages exist and are all by an AI (handler `ai_only`)."""
    kinds: dict[str, set[str]] = {}
    for row in messages.select(["conversation_id", "role", "author_kind"]).to_pylist():
        if row["role"] == "agent":
            kinds.setdefault(row["conversation_id"], set()).add(row["author_kind"])
    return {cid for cid, seen in kinds.items() if seen == {"ai"}}


def spotlight_rows(raw: dict[str, pa.Table], scores: pa.Table, limit: int = 5) -> list[dict]:
    """The day's AI-resolved poor conversations: AI only, judged resolved, scored 1-2.

    "Resolved" is the spotlight mart's rule: at least one issue, none left not resolved, at least
    one fully resolved. Lowest score first, then by conversation_id."""
    ai_only = ai_only_conversations(raw["messages"])
    teams = {
        row["conversation_id"]: row["team"]
        for row in raw["conversations"].select(["conversation_id", "team"]).to_pylist()
    }
    rows = [
        row
        for row in scores.select(
            [
                "conversation_id",
                "score",
                "issues_total",
                "issues_resolved",
                "issues_unresolved",
                "topic",
                "rationale",
            ]
        ).to_pylist()
        if row["conversation_id"] in ai_only
        and row["score"] <= 2
        and row["issues_total"] > 0
        and row["issues_unresolved"] == 0
        and row["issues_resolved"] > 0
    ]
    rows.sort(key=lambda row: (row["score"], row["conversation_id"]))
    return [{**row, "team": teams.get(row["conversation_id"])} for row in rows[:limit]]


def _cell(value: object, width: int = 160) -> str:
    text = " ".join(str(value if value is not None else "").split()).replace("|", "\\|")
    return text if len(text) <= width else text[: width - 3] + "..."


def _table(rows: list[dict]) -> list[str]:
    lines = [
        "| conversation | team | topic | score | rationale |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {_cell(r['conversation_id'], 64)} | {_cell(r['team'], 40)} | {_cell(r['topic'], 40)} "
        f"| {r['score']} | {_cell(r['rationale'])} |"
        for r in rows
    ]
    return lines


def lowest_scored_rows(raw: dict[str, pa.Table], scores: pa.Table, limit: int = 5) -> list[dict]:
    """The day's lowest-scored conversations, lowest first, then by conversation_id."""
    teams = {
        row["conversation_id"]: row["team"]
        for row in raw["conversations"].select(["conversation_id", "team"]).to_pylist()
    }
    rows = scores.select(["conversation_id", "score", "topic", "rationale"]).to_pylist()
    rows.sort(key=lambda row: (row["score"], row["conversation_id"]))
    return [{**row, "team": teams.get(row["conversation_id"])} for row in rows[:limit]]


def spotlight_markdown(raw: dict[str, pa.Table], scores: pa.Table, limit: int = 5) -> str:
    """The spotlight as markdown: the AI-resolved poor conversations (or a line saying there are
    none), then the day's lowest-scored conversations, the first ones to read."""
    spotlight = spotlight_rows(raw, scores, limit)
    lines = ["**AI-resolved poor** (AI only, every issue resolved, scored 1-2)", ""]
    lines += _table(spotlight) if spotlight else ["None today."]
    lowest = lowest_scored_rows(raw, scores, limit)
    if lowest:
        lines += ["", "**Lowest-scored conversations**", "", *_table(lowest)]
    return "\n".join(lines)
