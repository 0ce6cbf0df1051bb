"""What a scored day shows in the Dagster UI: counts, the score histogram and the spotlight.

No Dagster here; the asset turns these into metadata. The marts stay the source of truth (the
spotlight mart is `marts.spotlight_ai_resolved_poor`); this is the same filter over one day's
tables, so a data team sees the day's worst AI "successes" the moment it is scored.
"""

from __future__ import annotations

from collections import Counter

import duckdb
import pyarrow as pa

from orchestration.lake.partition import Tables, scan

__all__ = [
    "lowest_scored_rows",
    "score_histogram",
    "spotlight_markdown",
    "spotlight_rows",
]

#: The day's scores: the scored partition (its `scores` table) or the scores table itself.
Scored = Tables | pa.Table


def score_histogram(scores: pa.Table) -> dict[str, int]:
    counts = Counter(scores.column("score").to_pylist())
    return {str(score): counts.get(score, 0) for score in range(1, 6)}


def _query(raw: Tables, scored: Scored, sql: str, limit: int) -> list[dict]:
    """Run `sql` over the day's `conversations`, `messages` and `scores` in DuckDB, which reads
    the lake's Parquet itself (only the columns the query names): no per-row Python."""
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        views = {
            "conversations": scan(con, raw, "conversations"),
            "messages": scan(con, raw, "messages"),
            "scores": con.from_arrow(scored)
            if isinstance(scored, pa.Table)
            else scan(con, scored, "scores"),
        }
        for name, relation in views.items():
            relation.create_view(name)
        return con.sql(sql.format(limit=int(limit))).to_arrow_table().to_pylist()


def spotlight_rows(raw: Tables, scored: Scored, limit: int = 5) -> list[dict]:
    """The day's AI-resolved poor conversations: AI only, judged resolved, scored 1-2.

    AI only: the conversation has agent messages and every one is by an AI. "Resolved" is the
    spotlight mart's rule: at least one issue, none left not resolved, at least one fully
    resolved. Lowest score first, then by conversation_id."""
    return _query(
        raw,
        scored,
        """
        WITH ai_only AS (
            SELECT conversation_id FROM messages WHERE role = 'agent'
            GROUP BY conversation_id HAVING bool_and(coalesce(author_kind = 'ai', false))
        )
        SELECT s.conversation_id, s.score, s.issues_total, s.issues_resolved,
               s.issues_unresolved, s.topic, s.rationale, c.team
        FROM scores s SEMI JOIN ai_only USING (conversation_id)
        LEFT JOIN conversations c USING (conversation_id)
        WHERE s.score <= 2 AND s.issues_total > 0 AND s.issues_unresolved = 0
          AND s.issues_resolved > 0
        ORDER BY s.score, s.conversation_id LIMIT {limit}
        """,
        limit,
    )


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


def lowest_scored_rows(raw: Tables, scored: Scored, limit: int = 5) -> list[dict]:
    """The day's lowest-scored conversations, lowest first, then by conversation_id."""
    return _query(
        raw,
        scored,
        """
        SELECT s.conversation_id, s.score, s.topic, s.rationale, c.team
        FROM scores s LEFT JOIN conversations c USING (conversation_id)
        ORDER BY s.score, s.conversation_id LIMIT {limit}
        """,
        limit,
    )


def spotlight_markdown(raw: Tables, scored: Scored, limit: int = 5) -> str:
    """The spotlight as markdown: the AI-resolved poor conversations (or a line saying there are
    none), then the day's lowest-scored conversations, the first ones to read."""
    spotlight = spotlight_rows(raw, scored, limit)
    lines = ["**AI-resolved poor** (AI only, every issue resolved, scored 1-2)", ""]
    lines += _table(spotlight) if spotlight else ["None today."]
    lowest = lowest_scored_rows(raw, scored, limit)
    if lowest:
        lines += ["", "**Lowest-scored conversations**", "", *_table(lowest)]
    return "\n".join(lines)
