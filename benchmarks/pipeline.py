"""Conversations per second of each pipeline stage, on the demo and on one synthetic big day.

    python -m benchmarks.pipeline                 # demo (28 days) + a 100,000-conversation day
    python -m benchmarks.pipeline --n 1000000     # a bigger synthetic day
    python -m benchmarks.pipeline --skip-demo

Stages are timed by calling the same plain functions the Dagster assets call (extract, judge,
load) and the real `dbt build` (a subprocess, as dagster-dbt runs it), on a throwaway landing
zone and DuckDB file under a temp dir. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from orchestration.extract.landing import extract_day
from orchestration.judge.offline import OfflineJudge
from orchestration.scoring.frame import score_day
from orchestration.settings import REPO_ROOT, get_settings
from orchestration.warehouse.load import PartitionLoad, connect, ensure_schema, load_partition

__all__ = ["main"]


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Stage:
    seconds: float = 0.0
    conversations: int = 0

    def rate(self) -> str:
        per_s = self.conversations / self.seconds if self.seconds else float("nan")
        return f"{self.seconds:8.2f} s  {per_s:10,.0f} conv/s"


@dataclass
class Report:
    title: str
    stages: dict[str, Stage] = field(default_factory=dict)

    def time(self, name: str, conversations: int, fn: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        result = fn()
        stage = self.stages.setdefault(name, Stage())
        stage.seconds += time.perf_counter() - started
        stage.conversations += conversations
        return result

    def print(self) -> None:
        print(f"\n{self.title}")
        total = Stage()
        for name, stage in self.stages.items():
            print(f"  {name:<22}{stage.rate()}")
            total.seconds += stage.seconds
            total.conversations = max(total.conversations, stage.conversations)
        print(f"  {'all stages':<22}{total.rate()}")
        print(f"  peak RSS so far       {_peak_rss_mib():8.0f} MiB")


def _python_stages(report: Report, landing: Path, warehouse: Path, days: list[date]) -> None:
    judge = OfflineJudge()
    with connect(warehouse) as con:
        ensure_schema(con)
        for day in days:
            extracted = report.time("extract+validate", 0, lambda d=day: extract_day(landing, d))
            raw = extracted.tables()
            n = raw["conversations"].num_rows
            report.stages["extract+validate"].conversations += extracted.lines_in
            scored = report.time("judge (offline)", n, lambda d=day, r=raw: score_day(d, r, judge))
            load = PartitionLoad(day, extracted.lines_in, judge.kind, judge.version, "benchmark")
            report.time("load (duckdb)", n, lambda ld=load, r=raw, s=scored: _load(con, ld, r, s))


def _load(con, load: PartitionLoad, raw: dict, scored: dict) -> None:
    load_partition(con, load, raw, scored)


DBT_PROJECT = REPO_ROOT / "dbt_project"


def _dbt_build(
    report: Report, warehouse: Path, days: list[date], conversations: int, project: Path
) -> None:
    target = Path(tempfile.mkdtemp(prefix="cx-bench-dbt-"))
    dbt = Path(sys.executable).with_name("dbt")
    variables = {"min_date": min(days).isoformat(), "max_date": max(days).isoformat()}
    command = [
        str(dbt), "build", "--project-dir", str(project),
        "--profiles-dir", str(project), "--target-path", str(target),
        "--vars", json.dumps(variables), "--quiet",
    ]  # fmt: skip
    env = {
        **os.environ,
        "CX_WAREHOUSE_PATH": str(warehouse),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    done = report.time(
        "dbt build (marts)",
        conversations,
        lambda: subprocess.run(command, env=env, check=False, capture_output=True, text=True),
    )
    if done.returncode:
        raise SystemExit(f"dbt build failed:\n{done.stdout[-3000:]}{done.stderr[-2000:]}")


def bench_demo(work: Path, data_dir: Path, project: Path) -> Report:
    from orchestration.demo.replay import replay

    end = date(2026, 1, 28)
    landing, warehouse = work / "demo-landing", work / "demo.duckdb"
    report = Report("Demo: 28 days of the public conversations")
    summary = report.time("replay (demo)", 0, lambda: replay(data_dir, landing, end_date=end))
    days = [end - timedelta(days=i) for i in reversed(range(28))]
    _python_stages(report, landing, warehouse, days)
    n = report.stages["judge (offline)"].conversations
    report.stages["replay (demo)"].conversations = n
    _dbt_build(report, warehouse, days, n, project)
    print(summary)
    return report


def bench_synthetic(work: Path, data_dir: Path, n: int, project: Path) -> Report:
    from orchestration.demo.synthetic import synthesize_day

    day = date(2026, 2, 1)
    landing, warehouse = work / "big-landing", work / "big.duckdb"
    report = Report(f"Synthetic day: {n:,} conversations (demo replayed with fresh ids)")
    report.time("synthesize", n, lambda: synthesize_day(data_dir, landing, day, n))
    _python_stages(report, landing, warehouse, [day])
    _dbt_build(report, warehouse, [day], n, project)
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="synthetic day size")
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--dbt-project-dir", type=Path, default=DBT_PROJECT)
    args = parser.parse_args(argv)
    data_dir = get_settings().data_dir
    print(f"CX Score pipeline benchmark | python {sys.version.split()[0]} | {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="cx-bench-") as tmp:
        if not args.skip_demo:
            bench_demo(Path(tmp), data_dir, args.dbt_project_dir).print()
        if not args.skip_synthetic:
            bench_synthetic(Path(tmp), data_dir, args.n, args.dbt_project_dir).print()


if __name__ == "__main__":
    main()
