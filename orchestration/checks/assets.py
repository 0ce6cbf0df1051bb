"""Asset checks: what Python sees best about a partition, blocking where bad data must stop."""

from datetime import date

from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, asset_check
from dagster_duckdb import DuckDBResource

from orchestration.checks.accounting import account_for_day
from orchestration.partitions import daily_partitions
from orchestration.resources import LandingZoneResource
from orchestration.settings import get_settings
from orchestration.warehouse.assets import warehouse_partition

__all__ = [
    "every_conversation_accounted_for",
    "quarantine_rate_below_threshold",
    "scores_within_rubric_range",
]


def _day(context: AssetCheckExecutionContext) -> date:
    return daily_partitions.time_window_for_partition_key(context.partition_key).start.date()


@asset_check(asset=warehouse_partition, blocking=True, partitions_def=daily_partitions)
def every_conversation_accounted_for(
    context: AssetCheckExecutionContext, warehouse: DuckDBResource, landing: LandingZoneResource
) -> AssetCheckResult:
    """Every landing line is a loaded conversation or a quarantine row, and every loaded
    conversation is scored or quarantined by the judge. Blocks the marts when not."""
    with warehouse.get_connection() as con:
        facts = account_for_day(con, landing.path, _day(context))
    return AssetCheckResult(
        passed=facts.ok,
        metadata={
            "landing_lines": facts.landing_lines,
            "conversations": facts.conversations,
            "quarantined_extract": facts.quarantined_extract,
            "scored": facts.scored,
            "quarantined_judge": facts.quarantined_judge,
        },
    )


@asset_check(asset=warehouse_partition, blocking=True, partitions_def=daily_partitions)
def scores_within_rubric_range(
    context: AssetCheckExecutionContext, warehouse: DuckDBResource
) -> AssetCheckResult:
    """Every score and sub-score of the day is an integer 1-5 and every row has a rationale."""
    with warehouse.get_connection() as con:
        bad = con.execute(
            """
            select count(*) from scored.conversation_scores
            where partition_date = ?
              and not (score between 1 and 5 and resolution_score between 1 and 5
                       and sentiment_score between 1 and 5 and service_score between 1 and 5
                       and efficiency_score between 1 and 5
                       and coalesce(length(rationale), 0) > 0)
            """,
            [_day(context)],
        ).fetchone()[0]
    return AssetCheckResult(passed=bad == 0, metadata={"rows_out_of_range": bad})


@asset_check(asset=warehouse_partition, partitions_def=daily_partitions)
def quarantine_rate_below_threshold(
    context: AssetCheckExecutionContext, warehouse: DuckDBResource
) -> AssetCheckResult:
    """The share of the day's lines sent to quarantine stays under `CX_MAX_QUARANTINE_RATE`."""
    threshold = get_settings().max_quarantine_rate
    with warehouse.get_connection() as con:
        lines, quarantined = con.execute(
            "select lines_in, conversations_quarantined from raw.partition_loads "
            "where partition_date = ?",
            [_day(context)],
        ).fetchone() or (0, 0)
    rate = quarantined / lines if lines else 0.0
    return AssetCheckResult(
        passed=rate <= threshold,
        severity=AssetCheckSeverity.WARN,
        metadata={"quarantine_rate": round(rate, 4), "threshold": threshold, "lines_in": lines},
    )
