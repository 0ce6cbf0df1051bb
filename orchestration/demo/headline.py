"""The demo's printout: the headline KPI read back from the dbt marts (never from Python state).

Everything here is a query over `marts.cx_daily` (the KPI grain) and `raw.partition_loads` (the
accounting), so what it prints is exactly what a BI tool reading the marts would show.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

__all__ = ["Headline", "Slice", "headline", "print_headline"]


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
        return "\n".join(lines)


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
        )


def print_headline(warehouse_path: Path) -> Headline:
    result = headline(warehouse_path)
    print(result)
    return result
