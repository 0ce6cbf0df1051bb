"""Plain-SQL facts the asset checks assert. No Dagster here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from orchestration.extract.landing import landing_files

__all__ = ["Accounting", "account_for_day", "count_landing_lines"]


def count_landing_lines(landing_dir: Path, day: date) -> int:
    """Non-blank lines in the day's landing files, counted independently of the extractor."""
    total = 0
    for path in landing_files(landing_dir, day):
        with path.open("rb") as handle:
            total += sum(1 for line in handle if line.strip())
    return total


@dataclass(frozen=True)
class Accounting:
    landing_lines: int
    conversations: int
    scored: int
    quarantined_extract: int
    quarantined_judge: int

    @property
    def lines_accounted(self) -> int:
        return self.conversations + self.quarantined_extract

    @property
    def conversations_accounted(self) -> int:
        return self.scored + self.quarantined_judge

    @property
    def ok(self) -> bool:
        return (
            self.landing_lines == self.lines_accounted
            and self.conversations == self.conversations_accounted
        )


def account_for_day(con: duckdb.DuckDBPyConnection, landing_dir: Path, day: date) -> Accounting:
    """Where every landing line of the day ended up, read back from the warehouse."""
    row = con.execute(
        """
        select
            (select count(*) from raw.conversations where partition_date = $day),
            (select count(*)
               from scored.conversation_scores s
               join raw.partition_loads l
                 on l.partition_date = s.partition_date and l.judge_version = s.judge_version
              where s.partition_date = $day),
            (select count(*) from raw.quarantine where partition_date = $day and stage = 'extract'),
            (select count(*) from raw.quarantine where partition_date = $day and stage = 'judge')
        """,
        {"day": day},
    ).fetchone()
    return Accounting(count_landing_lines(landing_dir, day), *row)
