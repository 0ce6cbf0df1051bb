"""Run ONE pipeline stage in this (fresh) process and print its figures as one JSON line.

    python -m benchmarks.stage {floor,extract,judge,load,dbt,dagster} --work DIR --day YYYY-MM-DD

Each stage reads and writes what the Dagster assets hand each other (Parquet tables in the lake
folder `DIR/lake/<asset>/<day>/`, the DuckDB file `DIR/warehouse.duckdb`), so a stage's peak
RSS is its own: for `dbt`, the `dbt build` child's (`getrusage`); for every other stage, the
most this process and its children (the judge's workers, Dagster's `dbt`) held at once, summed
over the process tree every 0.1 s with psutil, and never less than the exact `getrusage` peak
of this process or of its largest child. `floor` is DuckDB's own `read_json` of the same landing
files into a table: what reading the raw files costs with no contract at all. `dagster`
materialises the whole partition (every asset and check of `daily_cx_job`) into its own lake,
warehouse and instance, the way a launched run executes (`execute_job`), not with
`execute_in_process`, which keeps every step's output in memory until the run ends.
Used by `benchmarks.pipeline`; prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dagster import JobDefinition

__all__ = ["main"]


def _self_peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _children_peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


class _TreePeak(threading.Thread):
    """The largest sum of RSS over this process and all its descendants, sampled every
    `interval` seconds while the stage runs (a spike between two samples is missed; a page that
    forked workers share counts in each of them, so the sum can overstate)."""

    def __init__(self, interval: float = 0.1) -> None:
        super().__init__(name="tree-peak", daemon=True)
        self.interval = interval
        self.peak_bytes = 0
        self._done = threading.Event()

    def run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._done.wait(self.interval):
            total = 0
            for process in [me, *me.children(recursive=True)]:
                try:
                    total += process.memory_info().rss
                except psutil.Error:  # exited between the listing and the read
                    continue
            self.peak_bytes = max(self.peak_bytes, total)

    def __enter__(self) -> _TreePeak:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self.join()

    @property
    def peak_mib(self) -> float:
        return self.peak_bytes / 2**20


def _floor(work: Path, day: date) -> int:
    import duckdb

    files = str(work / "landing" / day.isoformat() / "*.jsonl")
    with tempfile.TemporaryDirectory(prefix="cx-floor-", dir=work) as tmp:
        con = duckdb.connect(str(Path(tmp) / "floor.duckdb"))
        con.execute("SET memory_limit = '3GB'")
        con.execute(
            "CREATE TABLE floor AS SELECT * FROM read_json(?, format = 'newline_delimited')",
            [files],
        )
        (rows,) = con.execute("SELECT count(*) FROM floor").fetchone()
        con.close()
    return rows


def _lake(work: Path, asset: str, day: date):
    from upath import UPath

    return UPath(str(work / "lake" / asset / day.isoformat()))


def _extract(work: Path, day: date) -> int:
    from orchestration.extract.landing import extract_day
    from orchestration.lake.io_manager import staging, write_tables

    with staging(work / "lake", "raw_conversations") as folder:
        partition = extract_day(work / "landing", day, out_dir=folder).partition
    rows = partition.num_rows("conversations")
    write_tables(_lake(work, "raw_conversations", day), partition)  # renames the folder
    return rows


def _judge(work: Path, day: date, processes: int = 1) -> int:
    from orchestration.judge.trained import load_trained_judge
    from orchestration.lake.io_manager import read_tables, staging, write_tables
    from orchestration.scoring.frame import score_day

    raw = read_tables(_lake(work, "raw_conversations", day))
    with staging(work / "lake", "conversation_scores") as folder:
        scored = score_day(day, raw, load_trained_judge(), out_dir=folder, processes=processes)
    rows = scored.num_rows("scores")
    write_tables(_lake(work, "conversation_scores", day), scored)  # renames the folder
    return rows


def _load(work: Path, day: date) -> int:
    import pyarrow.compute as pc

    from orchestration.lake.io_manager import read_tables
    from orchestration.warehouse.load import PartitionLoad, connect, judge_of, load_partition

    raw = read_tables(_lake(work, "raw_conversations", day))
    scored = read_tables(_lake(work, "conversation_scores", day))
    # the version of the judge that scored the rows: the marts read that version's scores
    kind, version = judge_of(scored) or ("offline", "none")
    lines_in = int(pc.sum(raw["files"].column("lines")).as_py() or 0)
    load = PartitionLoad(day, lines_in, kind, version, "benchmark")
    with connect(work / "warehouse.duckdb") as con:
        counts = load_partition(con, load, raw, scored)
    return counts["conversations_loaded"]


def _dbt(
    work: Path, day: date, project: Path, max_day: date | None = None, full_refresh: bool = False
) -> int:
    variables = {"min_date": day.isoformat(), "max_date": (max_day or day).isoformat()}
    # As dagster-dbt does: start from the project's partial parse, when there is one.
    parsed = project / "target" / "partial_parse.msgpack"
    if parsed.exists() and not (work / "dbt-target" / parsed.name).exists():
        (work / "dbt-target").mkdir(parents=True, exist_ok=True)
        shutil.copy(parsed, work / "dbt-target" / parsed.name)
    command = [
        str(Path(sys.executable).with_name("dbt")), "build", "--project-dir", str(project),
        "--profiles-dir", str(project), "--target-path", str(work / "dbt-target"),
        "--vars", json.dumps(variables), "--quiet",
    ]  # fmt: skip
    if full_refresh:
        command.append("--full-refresh")
    env = {
        **os.environ,
        "CX_WAREHOUSE_PATH": str(work / "warehouse.duckdb"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    done = subprocess.run(command, env=env, check=False, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"dbt build failed:\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    import duckdb

    with duckdb.connect(str(work / "warehouse.duckdb"), read_only=True) as con:
        (rows,) = con.execute("SELECT count(*) FROM marts.fct_conversation_scores").fetchone()
    return rows


def daily_cx_job() -> JobDefinition:
    """The code location's job, rebuilt from the environment (`reconstructable` needs a
    module-level function)."""
    from orchestration.definitions import build_defs

    return build_defs().resolve_job_def("daily_cx_job")


def _dagster(work: Path, day: date) -> int:
    """One real materialisation of the partition: every asset and check of `daily_cx_job`."""
    home = work / "dagster-run"
    (home / "dagster_home").mkdir(parents=True, exist_ok=True)
    (home / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    os.environ.update(
        {
            "DAGSTER_HOME": str(home / "dagster_home"),
            "CX_LANDING_DIR": str(work / "landing"),
            "CX_LAKE_DIR": str(home / "lake"),
            "CX_WAREHOUSE_PATH": str(home / "warehouse.duckdb"),
        }
    )
    from dagster import DagsterInstance, execute_job, reconstructable

    with DagsterInstance.get() as instance:
        result = execute_job(
            reconstructable(daily_cx_job),
            instance,
            tags={"dagster/partition": day.isoformat()},
        )
    if not result.success:
        raise SystemExit("the Dagster run failed")
    import duckdb

    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        (rows,) = con.execute("SELECT count(*) FROM raw.conversations").fetchone()
    return rows


_IMPORTS = {
    "floor": ["duckdb"],
    "extract": ["orchestration.extract.landing", "orchestration.lake.io_manager"],
    "judge": ["orchestration.judge.trained", "orchestration.scoring.frame", "upath"],
    "load": ["orchestration.warehouse.load", "orchestration.lake.io_manager"],
    "dbt": ["duckdb"],
    "dagster": ["dagster", "orchestration.definitions"],
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=["floor", "extract", "judge", "load", "dbt", "dagster"])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--day", type=date.fromisoformat, required=True)
    parser.add_argument("--max-day", type=date.fromisoformat, default=None)
    parser.add_argument("--dbt-project-dir", type=Path, default=None)
    parser.add_argument("--judge-processes", type=int, default=1)
    parser.add_argument("--full-refresh", action="store_true", help="dbt: rebuild incrementals")
    args = parser.parse_args(argv)
    os.environ["CX_JUDGE_PROCESSES"] = str(args.judge_processes)  # the Dagster stage's judge
    for module in _IMPORTS[args.stage]:  # imports are start-up, not the stage's work
        importlib.import_module(module)
    started = time.perf_counter()
    with _TreePeak() as tree:
        if args.stage == "dbt":
            from orchestration.settings import REPO_ROOT

            project = args.dbt_project_dir or REPO_ROOT / "dbt_project"
            rows = _dbt(args.work, args.day, project, args.max_day, args.full_refresh)
        elif args.stage == "judge":
            rows = _judge(args.work, args.day, args.judge_processes)
        else:
            rows = {
                "floor": _floor,
                "extract": _extract,
                "load": _load,
                "dagster": _dagster,
            }[args.stage](args.work, args.day)
    seconds = time.perf_counter() - started
    if args.stage == "dbt":
        peak = _children_peak_mib()
    else:  # the whole tree at once, never below an exact per-process peak
        peak = max(tree.peak_mib, _self_peak_mib(), _children_peak_mib())
    figures = {"stage": args.stage, "seconds": seconds, "peak_rss_mib": peak, "rows": rows}
    # the parts of that figure: this process, and the largest child (a judge worker, `dbt`)
    figures |= {
        "self_peak_mib": _self_peak_mib(),
        "largest_child_peak_mib": _children_peak_mib(),
        "tree_peak_sampled_mib": tree.peak_mib,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
