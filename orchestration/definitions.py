"""The Dagster code location: the one entry point (`workspace.yaml`, `dagster -m`)."""

from __future__ import annotations

from dagster import Definitions, in_process_executor

from orchestration.checks.assets import (
    QUALITY_CHECKS,
    every_conversation_accounted_for,
    quarantine_rate_below_threshold,
    scores_within_rubric_range,
)
from orchestration.dbt.assets import cx_dbt_models
from orchestration.extract.assets import raw_conversations
from orchestration.resources import build_resources
from orchestration.schedules import daily_cx_job, daily_cx_schedule
from orchestration.scoring.assets import conversation_scores
from orchestration.warehouse.assets import warehouse_partition

__all__ = ["build_defs", "defs"]


def build_defs() -> Definitions:
    """The code location, with resources read from the environment now (tests call it again
    after pointing `CX_*` at a temporary landing zone and warehouse)."""
    return Definitions(
        assets=[raw_conversations, conversation_scores, warehouse_partition, cx_dbt_models],
        asset_checks=[
            every_conversation_accounted_for,
            scores_within_rubric_range,
            quarantine_rate_below_threshold,
            *QUALITY_CHECKS,
        ],
        jobs=[daily_cx_job],
        schedules=[daily_cx_schedule],
        resources=build_resources(),
        # One day is a few steps over one DuckDB file (one writer at a time): running the steps in
        # one process skips ~5 s of re-imports per step. Parallelism comes from partitions.
        executor=in_process_executor,
    )


defs = build_defs()
