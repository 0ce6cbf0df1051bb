"""The daily job and its schedule: every stage, for yesterday's partition."""

from __future__ import annotations

from dagster import AssetSelection, build_schedule_from_partitioned_job, define_asset_job

from orchestration.settings import get_settings

__all__ = ["daily_cx_job", "daily_cx_schedule"]

daily_cx_job = define_asset_job(
    "daily_cx_job",
    selection=AssetSelection.all(),
    description="Extract, score and load one day, then build and test the dbt marts.",
)

daily_cx_schedule = build_schedule_from_partitioned_job(
    daily_cx_job,
    name="daily_cx_schedule",
    hour_of_day=get_settings().schedule_hour,
    minute_of_hour=0,
)
