"""The demo, end to end on the embedded defaults (`make demo`, `python -m orchestration.demo`).

1. Replay the public conversations from `CX_DATA_DIR` as 28 landing days ending yesterday.
2. Materialise each day through Dagster: extract -> score -> load (+ its asset checks).
3. Build the dbt marts through Dagster once for the whole range (one dbt invocation).
4. Print the headline and the spotlight from the marts.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
import warnings
from datetime import UTC, date, datetime, timedelta

from orchestration.settings import REPO_ROOT, get_settings

__all__ = ["main", "run_days"]


def _instance():
    from dagster import DagsterInstance

    home = os.environ.setdefault("DAGSTER_HOME", str(REPO_ROOT / ".dagster_home"))
    os.makedirs(home, exist_ok=True)
    config = os.path.join(home, "dagster.yaml")
    if not os.path.exists(config):
        with open(config, "w") as handle:
            handle.write("telemetry:\n  enabled: false\n")
    return DagsterInstance.get()


#: The demo prints its own progress; Dagster's event log stays in the instance (and the UI).
_QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def run_days(days: list[date], build_marts: bool = True) -> None:
    """Materialise the given days through the code location's job, then the marts."""
    from dagster import AssetKey, AssetSelection

    # Preview/backfill-policy notices from Dagster itself say nothing about the data.
    warnings.filterwarnings("ignore", module="dagster")
    from orchestration.definitions import defs

    instance = _instance()
    job = defs.resolve_job_def("daily_cx_job")
    python_stages = AssetSelection.assets(
        "raw_conversations", "conversation_scores", "warehouse_partition"
    )
    stage_keys = python_stages.resolve(defs.resolve_asset_graph())
    for day in days:
        started = time.perf_counter()
        result = job.execute_in_process(
            run_config=_QUIET,
            instance=instance,
            partition_key=day.isoformat(),
            asset_selection=list(stage_keys),
        )
        loaded = result.asset_materializations_for_node("warehouse_partition")[0].metadata
        print(
            f"  {day}  in {loaded['lines_in'].value:>5}  scored "
            f"{loaded['conversations_scored'].value:>5}  quarantined "
            f"{loaded['conversations_quarantined'].value:>3}  "
            f"({time.perf_counter() - started:.1f} s)"
        )
    if build_marts and days:
        started = time.perf_counter()
        dbt_keys = [
            k for k in defs.resolve_asset_graph().get_all_asset_keys() if k not in stage_keys
        ]
        log = get_settings().lake_dir.parent / "logs" / "dbt-demo.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("w") as sink, contextlib.redirect_stdout(sink):
            job.execute_in_process(
                run_config=_QUIET,
                instance=instance,
                asset_selection=[AssetKey(k.path) for k in dbt_keys],
                # One run over the whole range: dbt builds every day in one invocation.
                tags={
                    "dagster/asset_partition_range_start": min(days).isoformat(),
                    "dagster/asset_partition_range_end": max(days).isoformat(),
                },
            )
        print(
            f"  dbt build over {min(days)}..{max(days)} ({time.perf_counter() - started:.1f} s, "
            f"dbt's log: {log})"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--end-date", type=date.fromisoformat, default=None)
    args = parser.parse_args(argv)
    settings = get_settings()
    end = args.end_date or (datetime.now(UTC).date() - timedelta(days=1))
    days = [end - timedelta(days=i) for i in reversed(range(args.days))]

    from orchestration.demo.headline import print_headline
    from orchestration.demo.replay import replay

    print(f"Replaying {settings.data_dir} into {settings.landing_dir} ({days[0]}..{days[-1]})")
    print(replay(settings.data_dir, settings.landing_dir, end_date=end, days=args.days))
    print("Materialising through Dagster (extract -> score -> load, per day):")
    run_days(days)
    print_headline(settings.warehouse_path)


if __name__ == "__main__":
    main()
