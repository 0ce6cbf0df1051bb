"""The one daily partitioning every stage shares: the landing day, `YYYY-MM-DD`, in UTC."""

from __future__ import annotations

from dagster import DailyPartitionsDefinition

from orchestration.settings import get_settings

__all__ = ["daily_partitions"]

daily_partitions = DailyPartitionsDefinition(
    start_date=get_settings().start_date.isoformat(), timezone="UTC", end_offset=0
)
