"""Plain-SQL rates and the score-shift statistic the asset checks compare with thresholds.

No Dagster here: every function takes an open DuckDB connection and a day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import duckdb
import numpy as np

__all__ = [
    "SCORES",
    "ScoreShift",
    "judge_failure_rate",
    "population_stability_index",
    "score_shift",
]

#: The judge's score scale: the histogram's bins.
SCORES = (1, 2, 3, 4, 5)

#: Scores of the judge version recorded for each day (a rerun under a new judge replaces them).
_CURRENT_SCORES = """
    select s.partition_date, s.score, count(*)
    from scored.conversation_scores s
    join raw.partition_loads l
      on l.partition_date = s.partition_date and l.judge_version = s.judge_version
    where s.partition_date between ? and ?
    group by s.partition_date, s.score
"""


def judge_failure_rate(con: duckdb.DuckDBPyConnection, day: date) -> tuple[int, int]:
    """(conversations the judge failed on, conversations loaded) for the day."""
    failed, loaded = con.execute(
        """
        select
            (select count(*) from raw.quarantine where partition_date = $day and stage = 'judge'),
            (select count(*) from raw.conversations where partition_date = $day)
        """,
        {"day": day},
    ).fetchone()
    return int(failed), int(loaded)


def population_stability_index(actual: list[int], expected: list[int]) -> float:
    """PSI of two histograms over the same bins: sum((a - e) * ln(a / e)) over the bin shares.

    Each share gets half a count added first, so an empty bin on one side gives a large but
    finite value. Rules of thumb: < 0.1 stable, 0.1-0.25 moderate, > 0.25 a real shift.
    """
    a = np.asarray(actual, dtype=float) + 0.5
    e = np.asarray(expected, dtype=float) + 0.5
    a, e = a / a.sum(), e / e.sum()
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class ScoreShift:
    """The day's score histogram against the trailing window's."""

    day_histogram: dict[int, int]
    history_histogram: dict[int, int]
    history_days: int
    psi: float | None  # None when there is nothing to compare

    @property
    def day_conversations(self) -> int:
        return sum(self.day_histogram.values())

    @property
    def history_conversations(self) -> int:
        return sum(self.history_histogram.values())


def score_shift(con: duckdb.DuckDBPyConnection, day: date, window_days: int = 28) -> ScoreShift:
    """Histogram the day's scores and the scores of the `window_days` days before it."""
    rows = con.execute(_CURRENT_SCORES, [day - timedelta(days=window_days), day]).fetchall()
    today = dict.fromkeys(SCORES, 0)
    history = dict.fromkeys(SCORES, 0)
    history_days: set[date] = set()
    for partition_date, score, count in rows:
        if score not in today:
            continue  # out-of-range scores are scores_within_rubric_range's business
        if partition_date == day:
            today[score] += count
        else:
            history[score] += count
            history_days.add(partition_date)
    psi = None
    if sum(today.values()) and sum(history.values()):
        psi = population_stability_index(list(today.values()), list(history.values()))
    return ScoreShift(today, history, len(history_days), psi)
