"""Past one process: Dagster's multiprocess executor, and two partitions materialised at once.

Real parts only: two Dagster runs started at the same time in two processes, each on the
multiprocess executor (every step in its own child process), extracting and scoring one landing
day each into the Parquet lake of a temp dir. Speed is measured by `benchmarks/`, not here.
"""

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    Definitions,
    RunsFilter,
    define_asset_job,
    execute_job,
    multiprocess_executor,
    reconstructable,
)

from tests.conftest import WriteDay, conversation

pytestmark = pytest.mark.integration

DAYS = (date(2026, 3, 2), date(2026, 3, 3))
REPO = Path(__file__).resolve().parents[2]


def lake_job():
    """Extract + score on the multiprocess executor (no warehouse writer: the two runs share
    nothing but the lake, one folder per partition)."""
    from orchestration.extract.assets import raw_conversations
    from orchestration.resources import build_resources
    from orchestration.scoring.assets import conversation_scores

    job = define_asset_job("lake_job", selection=["raw_conversations", "conversation_scores"])
    defs = Definitions(
        assets=[raw_conversations, conversation_scores],
        jobs=[job],
        resources=build_resources(),
        executor=multiprocess_executor.configured({"max_concurrent": 2}),
    )
    return defs.resolve_job_def("lake_job")


def run_partition(day: str) -> None:
    """Entry point of one run's process: materialise one partition, print the run id."""
    with DagsterInstance.get() as instance:
        result = execute_job(
            reconstructable(lake_job), instance=instance, tags={"dagster/partition": day}
        )
        print(json.dumps({"run_id": result.run_id, "success": result.success}))


@pytest.fixture
def env(tmp_path: Path, write_day: WriteDay, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    for day in DAYS:
        landing = write_day(
            day,
            {
                "a.jsonl": [
                    conversation(f"{day}-{i}", ("customer", "refund please"), ("ai", "done"))
                    for i in range(20)
                ]
                + ["not json"]
            },
        )
    for name, value in {
        "DAGSTER_HOME": str(home),
        "CX_LANDING_DIR": str(landing),
        "CX_LAKE_DIR": str(tmp_path / "lake"),
        "CX_WAREHOUSE_PATH": str(tmp_path / "warehouse.duckdb"),
    }.items():
        monkeypatch.setenv(name, value)
    return tmp_path


def test_two_partitions_materialise_at_once_on_the_multiprocess_executor(env: Path) -> None:
    # Create the instance's storage once, first: two processes creating the same SQLite schema
    # at the same moment race on its migration table (a Dagster deployment migrates once too).
    with DagsterInstance.get() as instance:
        assert instance.get_runs_count() == 0
    code = "import sys; from tests.integration.test_scale import run_partition as r; r(sys.argv[1])"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, day.isoformat()],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        for day in DAYS
    ]
    outputs = [process.communicate(timeout=900) for process in processes]
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err[-3000:]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert all(r["success"] for r in results)

    with DagsterInstance.get() as instance:
        records = instance.get_run_records(RunsFilter(run_ids=[r["run_id"] for r in results]))
        assert {r.dagster_run.status for r in records} == {DagsterRunStatus.SUCCESS}
        assert {r.dagster_run.tags["dagster/partition"] for r in records} == {
            d.isoformat() for d in DAYS
        }
        # The two runs overlapped in time: the partitions were materialised in parallel.
        (first, second) = sorted(records, key=lambda r: r.start_time)
        assert second.start_time < first.end_time
        for record in records:
            events = instance.all_logs(record.dagster_run.run_id)
            run_pid = {
                e.dagster_event.pid
                for e in events
                if e.dagster_event_type == DagsterEventType.RUN_START
            }
            step_pids = {
                e.dagster_event.pid
                for e in events
                if e.dagster_event_type == DagsterEventType.STEP_START
            }
            # multiprocess executor: each step ran in a child process of its own
            assert len(step_pids) == 2 and not step_pids & run_pid

    for day in DAYS:
        scored = env / "lake" / "conversation_scores" / day.isoformat() / "scores.parquet"
        raw = env / "lake" / "raw_conversations" / day.isoformat() / "quarantine.parquet"
        assert scored.is_file() and raw.is_file()
