"""The daily marts build, incremental against full, on a warehouse holding many big days.

    python -m benchmarks.marts                    # 28 days of 20,000 conversations
    python -m benchmarks.marts --days 28 --n 50000

One synthetic day of `--n` conversations (`orchestration.demo.synthetic`) goes through the real
stages (extract, judge, load; `benchmarks.stage`, each in a fresh process) into a throwaway
warehouse. SQL then copies that day's raw and scored rows onto `--days` consecutive landing
days (fresh ids and times shifted per day), so the warehouse holds days x n conversations, as
after a backfill. Then `dbt build`, each in its own process, timed:

1. everything, the first build (every day; the incremental marts are created);
2. the last day only (`--vars {min_date, max_date}`), what the daily run does: the incremental
   marts (`fct_conversation_scores`, `conversation_review`) replace that one day, the aggregate
   marts are rebuilt whole from the fact;
3. the same day with `--full-refresh`: every incremental mart rebuilt from all days, i.e. what
   the daily run would cost if the marts were plain tables.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from benchmarks.pipeline import run_stage
from orchestration.settings import REPO_ROOT, get_settings

__all__ = ["main"]

FIRST = date(2026, 1, 1)

#: The timestamp columns of each copied table, shifted with the day.
_SHIFTED = {
    "raw.conversations": ["started_at", "ended_at", "csat_sent_at", "csat_answered_at"],
    "raw.messages": ["sent_at"],
    "raw.quarantine": [],
    "raw.partition_loads": ["loaded_at"],
    "scored.conversation_scores": [],
}


def _copy_days(warehouse: Path, days: int) -> int:
    """Copy the first day's rows onto the next `days - 1` days; conversations in the end."""
    import duckdb

    with duckdb.connect(str(warehouse)) as con:
        for offset in range(1, days):
            for table, times in _SHIFTED.items():
                replaced = [f"partition_date + {offset} AS partition_date"]
                replaced += [f"{c} + INTERVAL {offset} DAY AS {c}" for c in times]
                if table != "raw.partition_loads":
                    replaced.append(f"conversation_id || '#{offset}' AS conversation_id")
                con.execute(
                    f"INSERT INTO {table} SELECT * REPLACE ({', '.join(replaced)}) FROM {table} "
                    f"WHERE partition_date = DATE '{FIRST}'"
                )
        (rows,) = con.execute("SELECT count(*) FROM raw.conversations").fetchone()
    return rows


def bench(work: Path, n: int, days: int, project: Path) -> None:
    from orchestration.demo.synthetic import synthesize_day

    synthesize_day(get_settings().data_dir, work / "landing", FIRST, n)
    for stage in ("extract", "judge", "load"):
        extra = ("--judge-processes", "2") if stage == "judge" else ()
        fig = run_stage(stage, work, FIRST, *extra)
        print(f"  {stage:<10}{fig['seconds']:8.1f} s  (day {FIRST}, {n:,} conversations)")
    started = time.perf_counter()
    total = _copy_days(work / "warehouse.duckdb", days)
    last = FIRST + timedelta(days=days - 1)
    print(f"  copied to {days} days in {time.perf_counter() - started:.1f} s: {total:,} in all")
    runs = [
        ("first build, every day", FIRST, last, ()),
        ("daily run, incremental", last, last, ()),
        ("daily run, --full-refresh", last, last, ("--full-refresh",)),
    ]
    for label, low, high, extra in runs:
        fig = run_stage(
            "dbt", work, low, "--max-day", high.isoformat(),
            "--dbt-project-dir", str(project), *extra,
        )  # fmt: skip
        print(
            f"  dbt build: {label:<28}{fig['seconds']:8.1f} s {fig['peak_rss_mib']:8,.0f} MiB"
            f"  (load avg {' '.join(f'{x:.2f}' for x in os.getloadavg())})",
            flush=True,
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="conversations per day")
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--dbt-project-dir", type=Path, default=REPO_ROOT / "dbt_project")
    parser.add_argument("--work-dir", type=Path, default=None, help="parent of the temp dir")
    args = parser.parse_args(argv)
    print(
        f"CX Score marts benchmark | python {sys.version.split()[0]} | {os.cpu_count()} CPUs"
        f" | {args.days} days x {args.n:,} conversations"
    )
    work = Path(tempfile.mkdtemp(prefix="cx-marts-", dir=args.work_dir))
    try:
        bench(work, args.n, args.days, args.dbt_project_dir.resolve())
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
