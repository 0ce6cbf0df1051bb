"""Asset checks: what Python sees best about a partition, blocking where bad data must stop."""

from datetime import date, timedelta

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    MetadataValue,
    asset_check,
)
from dagster_duckdb import DuckDBResource

from orchestration.checks.accounting import account_for_day
from orchestration.checks.rates import judge_failure_rate, score_shift
from orchestration.partitions import daily_partitions
from orchestration.quality import SuiteReport, suite_columns, validate
from orchestration.resources import LandingZoneResource
from orchestration.settings import get_settings
from orchestration.warehouse.assets import warehouse_partition

__all__ = [
    "QUALITY_CHECKS",
    "every_conversation_accounted_for",
    "fct_conversation_scores_meet_expectations",
    "judge_failure_rate_below_threshold",
    "quarantine_rate_below_threshold",
    "score_distribution_stable",
    "scored_conversations_meet_expectations",
    "scores_within_rubric_range",
]

FCT_CONVERSATION_SCORES = AssetKey(["marts", "fct_conversation_scores"])


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


@asset_check(asset=warehouse_partition, partitions_def=daily_partitions)
def judge_failure_rate_below_threshold(
    context: AssetCheckExecutionContext, warehouse: DuckDBResource
) -> AssetCheckResult:
    """The share of the day's conversations the judge could not rate (quarantined with a
    `judge_*` reason) stays under `CX_MAX_JUDGE_FAILURE_RATE`. A rise means the judge or its
    endpoint is failing, and the day's CX score rests on fewer conversations than arrived."""
    threshold = get_settings().max_judge_failure_rate
    with warehouse.get_connection() as con:
        failed, loaded = judge_failure_rate(con, _day(context))
    rate = failed / loaded if loaded else 0.0
    return AssetCheckResult(
        passed=rate <= threshold,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "judge_failure_rate": round(rate, 4),
            "threshold": threshold,
            "judge_failures": failed,
            "conversations": loaded,
        },
    )


@asset_check(asset=warehouse_partition, partitions_def=daily_partitions)
def score_distribution_stable(
    context: AssetCheckExecutionContext, warehouse: DuckDBResource
) -> AssetCheckResult:
    """The day's score histogram stays close to the trailing 28 days' (population stability
    index at most `CX_MAX_SCORE_SHIFT_PSI`; 0.1 is a small shift, 0.25 a real one). Passes
    until `CX_SCORE_SHIFT_MIN_HISTORY_DAYS` days of scores exist. A failure means customers,
    agents or the judge changed: read the day's lowest-scored conversations before the KPI."""
    settings = get_settings()
    day = _day(context)
    with warehouse.get_connection() as con:
        shift = score_shift(con, day, window_days=28)
    enough = shift.history_days >= settings.score_shift_min_history_days and shift.psi is not None
    history_total = shift.history_conversations or 1
    day_total = shift.day_conversations or 1
    table = [
        "| score | day | share | trailing 28 days | share |",
        "| --- | --- | --- | --- | --- |",
    ]
    for score, count in shift.day_histogram.items():
        past = shift.history_histogram[score]
        table.append(
            f"| {score} | {count} | {count / day_total:.1%} | {past} | {past / history_total:.1%} |"
        )
    return AssetCheckResult(
        passed=not enough or shift.psi <= settings.max_score_shift_psi,
        severity=AssetCheckSeverity.WARN,
        description=None
        if enough
        else (
            f"not compared: {shift.history_days} day(s) of history in "
            f"{day - timedelta(days=28)}..{day - timedelta(days=1)}, "
            f"{settings.score_shift_min_history_days} needed"
        ),
        metadata={
            "psi": round(shift.psi, 4) if shift.psi is not None else None,
            "threshold": settings.max_score_shift_psi,
            "history_days": shift.history_days,
            "day_conversations": shift.day_conversations,
            "history_conversations": shift.history_conversations,
            "histograms": MetadataValue.md("\n".join(table)),
        },
    )


def _expectations_result(report: SuiteReport) -> AssetCheckResult:
    broken_values = any(not f.distribution for f in report.failures)
    return AssetCheckResult(
        passed=report.success,
        # A broken value is an error; an odd distribution alone is a warning.
        severity=AssetCheckSeverity.ERROR if broken_values else AssetCheckSeverity.WARN,
        metadata={
            "suite": report.suite,
            "rows": report.rows,
            "evaluated_expectations": len(report.outcomes),
            "failed_expectations": len(report.failures),
            "distribution_checked": report.distribution_checked,
            "expectations": MetadataValue.md(report.markdown()),
        },
    )


@asset_check(asset=warehouse_partition, partitions_def=daily_partitions)
def scored_conversations_meet_expectations(
    context: AssetCheckExecutionContext, warehouse: DuckDBResource
) -> AssetCheckResult:
    """The great-expectations suite `scored_conversations` over the day's rows of
    `scored.conversation_scores` (the day's judge version): every score and sub-score 1-5 and
    not null, sentiment -1..1, allowed trajectories and judge kinds, unique ids, a rationale on
    every row, issue counts that add up; on 30+ rows also the distribution (the judge does not
    rate every conversation alike; the mean stays between 1.5 and 4.8). Each expectation's
    result is in the metadata."""
    with warehouse.get_connection() as con:
        # The verdicts that count: those of the judge version recorded for the day.
        columns = ", ".join(f"s.{name}" for name in suite_columns("scored_conversations"))
        frame = con.execute(
            f"""
            select {columns} from scored.conversation_scores s
            join raw.partition_loads l
              on l.partition_date = s.partition_date and l.judge_version = s.judge_version
            where s.partition_date = ?
            """,
            [_day(context)],
        ).df()
    return _expectations_result(validate(frame, "scored_conversations"))


@asset_check(asset=FCT_CONVERSATION_SCORES, partitions_def=daily_partitions)
def fct_conversation_scores_meet_expectations(
    context: AssetCheckExecutionContext, warehouse: DuckDBResource
) -> AssetCheckResult:
    """The great-expectations suite `fct_conversation_scores` over the run's days of the mart:
    the verdict expectations of the scored table, plus allowed handlers and channels,
    `is_positive` exactly when the score is 4 or 5, `csat_is_positive` following `csat_score`,
    at least one message per conversation, and the score distribution on 30+ rows."""
    window = context.partition_time_window
    with warehouse.get_connection() as con:
        columns = ", ".join(suite_columns("fct_conversation_scores"))
        frame = con.execute(
            f"select {columns} from marts.fct_conversation_scores "
            "where conversation_date >= ? and conversation_date < ?",
            [window.start.date(), window.end.date()],
        ).df()
    return _expectations_result(validate(frame, "fct_conversation_scores"))


#: The checks beyond the accounting and rubric-range ones, in the order the UI lists them.
QUALITY_CHECKS = [
    judge_failure_rate_below_threshold,
    score_distribution_stable,
    scored_conversations_meet_expectations,
    fct_conversation_scores_meet_expectations,
]
