"""The demo's printout: the headline KPI read back from the dbt marts (never from Python state).

Everything here is a query over `marts.cx_daily` (the KPI grain), `raw.partition_loads` (the
accounting) and the spotlight marts (`spotlight_ai_resolved_poor`, `topic_trends`,
`csat_vs_cx`), in portable SQL, so what it prints is exactly what a BI tool reading the marts
would show.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

__all__ = ["Headline", "Slice", "Spotlight", "headline", "print_headline", "spotlight"]


@dataclass(frozen=True)
class Slice:
    """One cut of the KPI: conversations, share rated 4-5, mean score."""

    name: str
    conversations: int
    positive: int
    mean_score: float

    @property
    def cx_score(self) -> float:
        return self.positive / self.conversations if self.conversations else 0.0

    def __str__(self) -> str:
        return (
            f"{self.name:<24} {self.cx_score:6.1%}  mean {self.mean_score:4.2f}  "
            f"n={self.conversations:,}"
        )


@dataclass(frozen=True)
class Headline:
    first_day: str
    last_day: str
    days: int
    lines_in: int
    scored: int
    quarantined: int
    judge_versions: list[str]
    overall: Slice
    by_handler: list[Slice]
    by_channel: list[Slice]
    by_team: list[Slice]
    csat_responses: int
    csat_positive: int
    cx_positive_on_surveyed: int
    spotlight: Spotlight | None = None

    def __str__(self) -> str:
        lines = [
            f"CX Score, {self.first_day}..{self.last_day} ({self.days} days), "
            f"judge {', '.join(self.judge_versions)}",
            f"Conversations in {self.lines_in:,} | scored {self.scored:,} | "
            f"quarantined {self.quarantined:,}",
            f"Overall CX score (share rated 4-5): {self.overall.cx_score:.1%} "
            f"(mean score {self.overall.mean_score:.2f}, n={self.overall.conversations:,})",
        ]
        for title, slices in (
            ("By handler", self.by_handler),
            ("By channel", self.by_channel),
            ("By team (top 10 by volume)", self.by_team),
        ):
            lines.append(f"{title}:")
            lines.extend(f"  {s}" for s in slices)
        if self.csat_responses:
            lines.append(
                f"Surveyed conversations ({self.csat_responses:,} CSAT answers): CSAT positive "
                f"{self.csat_positive / self.csat_responses:.1%} vs CX positive "
                f"{self.cx_positive_on_surveyed / self.csat_responses:.1%} on the same ones"
            )
        if self.spotlight is not None:
            lines.append(str(self.spotlight))
        return "\n".join(lines)


@dataclass(frozen=True)
class PoorItem:
    """One AI-resolved poor conversation, as the spotlight mart lists it."""

    rank: int
    conversation_id: str
    conversation_date: str
    team: str
    topic: str
    score: int
    rationale: str

    def __str__(self) -> str:
        reason = " ".join(self.rationale.split())
        reason = reason if len(reason) <= 110 else reason[:107] + "..."
        return (
            f"{self.rank}. {self.conversation_id} ({self.conversation_date}, {self.team}, "
            f"{self.topic}) score {self.score}: {reason}"
        )


@dataclass(frozen=True)
class SlidingTopic:
    topic: str
    team: str | None
    cx_score: float | None
    trend_slope: float | None
    consecutive_declines: int

    def __str__(self) -> str:
        where = f"{self.topic} ({self.team})" if self.team else self.topic
        score = f"{self.cx_score:.1%}" if self.cx_score is not None else "n/a"
        slope = f"{self.trend_slope:+.1%}/week" if self.trend_slope is not None else "n/a"
        return (
            f"{where:<36} CX {score}, slope {slope}, {self.consecutive_declines} drop(s) in a row"
        )


@dataclass(frozen=True)
class Spotlight:
    """What deserves a human look: from the spotlight marts."""

    ai_only_resolved: int
    ai_resolved_poor: int
    top_poor: list[PoorItem]
    latest_week: str | None
    latest_week_complete: bool
    sliding: list[SlidingTopic]
    conversations: int
    surveyed: int
    answered: int
    csat_positive_share: float | None
    cx_positive_share_answered: float | None
    answered_mean_score: float | None
    unanswered_mean_score: float | None
    unanswered_cx_positive_share: float | None

    @property
    def csat_minus_cx(self) -> float | None:
        if self.csat_positive_share is None or self.cx_positive_share_answered is None:
            return None
        return self.csat_positive_share - self.cx_positive_share_answered

    @property
    def response_bias_mean_score(self) -> float | None:
        if self.answered_mean_score is None or self.unanswered_mean_score is None:
            return None
        return self.answered_mean_score - self.unanswered_mean_score

    @property
    def response_bias_cx_positive_share(self) -> float | None:
        if self.cx_positive_share_answered is None or self.unanswered_cx_positive_share is None:
            return None
        return self.cx_positive_share_answered - self.unanswered_cx_positive_share

    def __str__(self) -> str:
        lines = [
            "Spotlight:",
            f"  AI-resolved poor: {self.ai_resolved_poor:,} of {self.ai_only_resolved:,} "
            "AI-only conversations judged resolved scored 1-2",
        ]
        lines.extend(f"    {item}" for item in self.top_poor)
        partial = "" if self.latest_week_complete else ", partial"
        week = f" (week of {self.latest_week}{partial})" if self.latest_week else ""
        lines.append(f"  Sliding topics{week}: {len(self.sliding) or 'none'}")
        lines.extend(f"    {topic}" for topic in self.sliding)
        if self.csat_minus_cx is None:
            lines.append("  CSAT vs CX: no survey answers")
        else:
            lines.append(
                f"  CSAT vs CX on the {self.answered:,} answered surveys: CSAT positive "
                f"{self.csat_positive_share:.1%}, CX positive {self.cx_positive_share_answered:.1%}"
                f", gap {self.csat_minus_cx * 100:+.1f} points"
            )
            lines.append(
                f"    (surveys reached {self.surveyed / self.conversations:.1%} of conversations, "
                f"{self.answered / self.surveyed if self.surveyed else 0:.1%} of them answered)"
            )
        if self.response_bias_mean_score is not None:
            lines.append(
                f"  Response bias: answered conversations score {self.answered_mean_score:.2f} "
                f"vs {self.unanswered_mean_score:.2f} unanswered "
                f"({self.response_bias_mean_score:+.2f} points;"
            )
            lines.append(
                f"    CX positive {self.response_bias_cx_positive_share * 100:+.1f} points): "
                "those who answer the survey had better conversations than the rest"
                if self.response_bias_mean_score > 0
                else f"    CX positive {self.response_bias_cx_positive_share * 100:+.1f} points)"
            )
        return "\n".join(lines)


def _share(numerator: object, denominator: object) -> float | None:
    return float(numerator) / float(denominator) if denominator else None


def spotlight(con: duckdb.DuckDBPyConnection, top: int = 3) -> Spotlight:
    """Read the spotlight from the marts on an open connection."""
    ai_only_resolved, poor = con.execute(
        """
        select
            (select count(*) from marts.fct_conversation_scores
              where handler = 'ai_only' and issues_total > 0
                and issues_unresolved = 0 and issues_resolved > 0),
            (select count(*) from marts.spotlight_ai_resolved_poor)
        """
    ).fetchone()
    top_poor = [
        PoorItem(int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), int(r[5]), str(r[6] or ""))
        for r in con.execute(
            f"""
            select spotlight_rank, conversation_id, cast(conversation_date as varchar), team,
                   topic, score, rationale
            from marts.spotlight_ai_resolved_poor
            where spotlight_rank <= {int(top)}
            order by spotlight_rank
            """
        ).fetchall()
    ]
    latest, complete = con.execute(
        """
        select week_start, min(case when is_complete_week then 1 else 0 end)
        from marts.topic_trends
        where week_start = (select max(week_start) from marts.topic_trends)
        group by week_start
        """
    ).fetchone() or (None, 1)
    sliding = [
        SlidingTopic(str(r[0]), r[1], r[2], r[3], int(r[4] or 0))
        for r in con.execute(
            """
            select topic, team, cx_score, trend_slope, consecutive_declines
            from marts.topic_trends
            where is_sliding and week_start = (select max(week_start) from marts.topic_trends)
            order by case when grain = 'topic' then 0 else 1 end, trend_slope, topic, team
            """
        ).fetchall()
    ]
    (
        conversations,
        surveyed,
        answered,
        unanswered,
        csat_positive,
        answered_cx_positive,
        answered_score_sum,
        unanswered_score_sum,
        unanswered_cx_positive,
    ) = con.execute(
        """
        select
            coalesce(sum(conversations), 0),
            coalesce(sum(surveyed_conversations), 0),
            coalesce(sum(answered_conversations), 0),
            coalesce(sum(unanswered_conversations), 0),
            coalesce(sum(csat_positive_conversations), 0),
            coalesce(sum(answered_cx_positive_conversations), 0),
            sum(case when answered_conversations > 0
                     then answered_mean_score * answered_conversations else 0 end),
            sum(case when unanswered_conversations > 0
                     then unanswered_mean_score * unanswered_conversations else 0 end),
            coalesce(sum(unanswered_cx_positive_conversations), 0)
        from marts.csat_vs_cx
        """
    ).fetchone()
    return Spotlight(
        ai_only_resolved=int(ai_only_resolved),
        ai_resolved_poor=int(poor),
        top_poor=top_poor,
        latest_week=str(latest) if latest is not None else None,
        latest_week_complete=bool(complete),
        sliding=sliding,
        conversations=int(conversations),
        surveyed=int(surveyed),
        answered=int(answered),
        csat_positive_share=_share(csat_positive, answered),
        cx_positive_share_answered=_share(answered_cx_positive, answered),
        answered_mean_score=_share(answered_score_sum, answered),
        unanswered_mean_score=_share(unanswered_score_sum, unanswered),
        unanswered_cx_positive_share=_share(unanswered_cx_positive, unanswered),
    )


_SLICE = """
    select {key} as name, sum(conversations), sum(positive_conversations),
           sum(mean_score * conversations) / sum(conversations)
    from marts.cx_daily
    group by {key}
    order by sum(conversations) desc, name
    {limit}
"""


def _slices(con: duckdb.DuckDBPyConnection, key: str, limit: int | None = None) -> list[Slice]:
    sql = _SLICE.format(key=key, limit=f"limit {limit}" if limit else "")
    return [
        Slice(str(name), int(n), int(p), float(m)) for name, n, p, m in con.execute(sql).fetchall()
    ]


def headline(warehouse_path: Path) -> Headline:
    """Read the headline from the marts of the warehouse at `warehouse_path` (read-only)."""
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        first, last, days, lines_in, scored, quarantined = con.execute(
            """
            select cast(min(partition_date) as varchar), cast(max(partition_date) as varchar),
                   count(*), sum(lines_in), sum(conversations_scored),
                   sum(conversations_quarantined)
            from raw.partition_loads
            """
        ).fetchone()
        if not days:
            raise RuntimeError(f"no partitions loaded in {warehouse_path}: run the pipeline first")
        versions = [
            row[0]
            for row in con.execute(
                "select distinct judge_version from raw.partition_loads order by 1"
            ).fetchall()
        ]
        overall = _slices(con, "'all'")[0]
        csat = con.execute(
            """
            select count(*), coalesce(sum(case when csat_is_positive then 1 else 0 end), 0),
                   coalesce(sum(case when is_positive then 1 else 0 end), 0)
            from marts.fct_conversation_scores
            where csat_score is not null
            """
        ).fetchone()
        return Headline(
            first_day=first,
            last_day=last,
            days=int(days),
            lines_in=int(lines_in),
            scored=int(scored),
            quarantined=int(quarantined),
            judge_versions=versions,
            overall=Slice("all", overall.conversations, overall.positive, overall.mean_score),
            by_handler=_slices(con, "handler"),
            by_channel=_slices(con, "channel"),
            by_team=_slices(con, "team", limit=10),
            csat_responses=int(csat[0]),
            csat_positive=int(csat[1]),
            cx_positive_on_surveyed=int(csat[2]),
            spotlight=spotlight(con),
        )


def print_headline(warehouse_path: Path) -> Headline:
    result = headline(warehouse_path)
    print(result)
    return result
