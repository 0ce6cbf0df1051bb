"""Time and peak memory of each pipeline stage on one synthetic big day, against DuckDB's floor.

    python -m benchmarks.pipeline                 # a 100,000-conversation day, then the backfill
    python -m benchmarks.pipeline --n 1000000 --skip-demo
    (ulimit -v 12000000; python -m benchmarks.pipeline ...)   # big days: under a memory cap

The day is written by `orchestration.demo.synthetic` (the demo replayed with fresh ids) into a
throwaway landing zone under `--work-dir` (default: the system temp dir), deleted afterwards.
Every stage then runs in a FRESH process (`benchmarks.stage`), reading and writing the Parquet
hand-offs the Dagster assets use, so its peak RSS is its own: extract+validate, judge (the
trained offline judge), load, `dbt build` of the marts for that day, and the whole partition
materialised through Dagster (`daily_cx_job`: every asset and check). In the same run, DuckDB's
own `read_json` of the same files into a table is the floor; the ratio (extract + load + marts)
/ floor is printed.
`--skip-demo` skips the 28-day demo backfill (`benchmarks.backfill`). Prints figures; asserts
nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from orchestration.settings import REPO_ROOT, get_settings

__all__ = ["main", "run_stage"]

DAY = date(2026, 2, 1)


def run_stage(stage: str, work: Path, day: date, *extra: str) -> dict:
    """One stage in a fresh process; its JSON line of figures."""
    command = [sys.executable, "-m", "benchmarks.stage", stage, "--work", str(work)]
    command += ["--day", day.isoformat(), *extra]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO_ROOT)
    if done.returncode:
        raise SystemExit(f"stage {stage} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _row(name: str, fig: dict, n: int) -> str:
    rate = n / fig["seconds"] if fig["seconds"] else float("nan")
    return (
        f"  {name:<26}{fig['seconds']:9.2f} s {rate:11,.0f} conv/s"
        f" {fig['peak_rss_mib']:9,.0f} MiB   (load avg {fig['load']})"
    )


def bench_day(
    work: Path, n: int, project: Path, dagster: bool, processes: int = 1
) -> dict[str, dict]:
    from orchestration.demo.synthetic import synthesize_day

    started = time.perf_counter()
    folder = synthesize_day(get_settings().data_dir, work / "landing", DAY, n)
    size = sum(p.stat().st_size for p in folder.glob("*.jsonl"))
    print(
        f"\nSynthetic day {DAY}: {n:,} conversations, {size / 2**30:.2f} GiB of JSONL"
        f" (written in {time.perf_counter() - started:.1f} s)"
    )
    stages = [
        ("floor", "duckdb read_json (floor)", ()),
        ("extract", "extract+validate", ()),
        ("judge", f"judge (trained) x{processes}", ("--judge-processes", str(processes))),
        ("load", "load (duckdb)", ()),
        ("dbt", "dbt build (marts)", ("--dbt-project-dir", str(project))),
    ]
    if dagster:
        stages.append(
            ("dagster", "partition through Dagster", ("--judge-processes", str(processes)))
        )
    figures: dict[str, dict] = {}
    for stage, label, extra in stages:
        fig = run_stage(stage, work, DAY, *extra)
        fig["load"] = _load_average()
        figures[stage] = fig
        print(_row(label, fig, n), flush=True)
    pipeline = sum(figures[s]["seconds"] for s in ("extract", "load", "dbt"))
    floor = figures["floor"]["seconds"]
    peak = max(f["peak_rss_mib"] for f in figures.values())
    print(f"  extract+load+marts        {pipeline:9.2f} s   = {pipeline / floor:.2f}x the floor")
    print(f"  peak RSS of any stage     {peak:9,.0f} MiB")
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="synthetic day size")
    parser.add_argument("--skip-demo", action="store_true", help="skip the 28-day backfill")
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--skip-dagster", action="store_true", help="no Dagster materialisation")
    parser.add_argument(
        "--judge-processes", type=int, default=1, help="worker processes of the offline judge"
    )
    parser.add_argument("--dbt-project-dir", type=Path, default=REPO_ROOT / "dbt_project")
    parser.add_argument("--work-dir", type=Path, default=None, help="parent of the temp dir")
    args = parser.parse_args(argv)
    print(
        f"CX Score pipeline benchmark | python {sys.version.split()[0]} | {os.cpu_count()} CPUs"
        f" | load avg {_load_average()}"
    )
    if not args.skip_synthetic:
        work = Path(tempfile.mkdtemp(prefix="cx-bench-", dir=args.work_dir))
        try:
            bench_day(
                work,
                args.n,
                args.dbt_project_dir.resolve(),
                not args.skip_dagster,
                args.judge_processes,
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if not args.skip_demo:
        from benchmarks.backfill import main as backfill

        backfill(["--work-dir", str(args.work_dir)] if args.work_dir else [])


if __name__ == "__main__":
    main()
