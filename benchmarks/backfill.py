"""A backfill of the demo through Dagster: wall time, runs and processes, per backfill policy.

    python -m benchmarks.backfill                 # 28 demo days
    python -m benchmarks.backfill --days 7

The demo replay lays the public conversations over `--days` landing days in a throwaway landing
zone (temp dir, deleted afterwards). Then, through the code location's own job and a throwaway
Dagster instance (real runs, counted from the instance afterwards):

1. the Python stages (extract, score, load, with their checks): one run per partition, as
   `BackfillPolicy.multi_run(1)` launches them (they read one landing day each);
2. the dbt marts WITHOUT a single-run policy: one run, and one `dbt build`, per partition;
3. the dbt marts WITH `BackfillPolicy.single_run()` (what `cx_dbt_models` declares): one run
   over the partition range, one `dbt build --vars {min_date, max_date}`.

Every run uses the code location's in-process executor: one process per run, plus the `dbt`
child process per dbt run. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import warnings
from datetime import date, timedelta
from pathlib import Path

__all__ = ["main"]

END = date(2026, 1, 28)
_QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def _environment(work: Path) -> None:
    home = work / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    os.environ.update(
        {
            "DAGSTER_HOME": str(home),
            "CX_LANDING_DIR": str(work / "landing"),
            "CX_LAKE_DIR": str(work / "lake"),
            "CX_WAREHOUSE_PATH": str(work / "warehouse.duckdb"),
        }
    )


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def bench(work: Path, days: int) -> None:
    from orchestration.settings import get_settings

    _environment(work)
    settings = get_settings()
    from dagster import AssetKey, AssetSelection, DagsterInstance

    from orchestration.definitions import build_defs
    from orchestration.demo.replay import replay

    warnings.filterwarnings("ignore", module="dagster")
    keys = [END - timedelta(days=i) for i in reversed(range(days))]
    summary = replay(settings.data_dir, settings.landing_dir, end_date=END, days=days)
    print(f"\nBackfill of the demo: {days} days {keys[0]}..{keys[-1]} | load avg {_load()}")
    print(f"  {summary}".replace("\n", "\n  "))
    defs = build_defs()
    instance = DagsterInstance.get()
    job = defs.resolve_job_def("daily_cx_job")
    stages = ("raw_conversations", "conversation_scores", "warehouse_partition")
    python = AssetSelection.assets(*stages)
    python_keys = list(python.resolve(defs.resolve_asset_graph()))
    dbt_keys = [
        AssetKey(k.path)
        for k in defs.resolve_asset_graph().get_all_asset_keys()
        if k not in python_keys
    ]

    def runs() -> int:
        return instance.get_runs_count()

    def run_per_day(selection: list) -> tuple[float, int]:
        """One run per partition over the selection: seconds taken and runs started."""
        started, before = time.perf_counter(), runs()
        for day in keys:
            job.execute_in_process(
                run_config=_QUIET,
                instance=instance,
                partition_key=day.isoformat(),
                asset_selection=selection,
            )
        return time.perf_counter() - started, runs() - before

    took, n = run_per_day(python_keys)
    print(f"  python stages, a run per day     {took:8.1f} s  {n:3d} runs  {n:3d} processes")

    many, n = run_per_day(dbt_keys)
    print(
        f"  marts, a run per day (multi)     {many:8.1f} s  {n:3d} runs  {2 * n:3d} processes"
        f"  ({n} dbt builds) | load avg {_load()}"
    )

    started, before = time.perf_counter(), runs()
    job.execute_in_process(
        run_config=_QUIET,
        instance=instance,
        asset_selection=dbt_keys,
        tags={
            "dagster/asset_partition_range_start": keys[0].isoformat(),
            "dagster/asset_partition_range_end": keys[-1].isoformat(),
        },
    )
    single, n = time.perf_counter() - started, runs() - before
    print(
        f"  marts, one run (single_run)      {single:8.1f} s  {n:3d} runs  {2 * n:3d} processes"
        f"  (1 dbt build) | load avg {_load()}"
    )
    print(f"  single_run is {many / single:.1f}x faster for the marts")
    print(
        f"  whole backfill: {took + single:.1f} s with single_run marts, "
        f"{took + many:.1f} s without"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--work-dir", type=Path, default=None, help="parent of the temp dir")
    args = parser.parse_args(argv)
    print(f"CX Score backfill benchmark | python {sys.version.split()[0]} | {os.cpu_count()} CPUs")
    work = Path(tempfile.mkdtemp(prefix="cx-backfill-", dir=args.work_dir))
    try:
        bench(work, args.days)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
