"""The asset checks and great-expectations suites, on real materialisations of small days.

Four landing days in a temp dir go through the code location's own job: three ordinary days
(history), then a bad one (many broken lines, conversations the judge cannot rate, every
conversation the same poor experience). The ordinary days pass every check; the bad day fails
each threshold for real, while the blocking accounting check still passes (nothing was lost).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from dagster import (
    AssetCheckSeverity,
    AssetKey,
)

from tests.conftest import conversation
from tests.dagster_env import DagsterEnv, dagster_env

pytestmark = pytest.mark.integration

HISTORY = [date(2026, 4, 6) + timedelta(days=i) for i in range(3)]
BAD_DAY = date(2026, 4, 9)
PYTHON_STAGES = [
    AssetKey(k) for k in ("raw_conversations", "conversation_scores", "warehouse_partition")
]
NEW_CHECKS = {
    "judge_failure_rate_below_threshold",
    "score_distribution_stable",
    "scored_conversations_meet_expectations",
}


def _at(day: date, i: int) -> str:
    return f"{day.isoformat()}T{9 + i % 8:02d}:{i % 60:02d}:00Z"


def _good(cid: str, day: date, i: int) -> dict:
    return conversation(
        cid,
        ("customer", "My invoice charged me twice this month."),
        ("human", "Sorry about that, I have refunded the duplicate charge of $12."),
        ("customer", "Great, thanks!"),
        started_at=_at(day, i),
        csat={"score": 5} if i % 4 == 0 else None,
    )


def _ai_good(cid: str, day: date, i: int) -> dict:
    return conversation(
        cid,
        ("customer", "Can you book a table for two at 7pm tonight?"),
        ("ai", "Done! Your table for two at 7pm is booked, confirmation 4411."),
        ("customer", "Perfect, thank you so much!"),
        started_at=_at(day, i),
        team="reservations",
    )


def _poor(cid: str, day: date, i: int) -> dict:
    return conversation(
        cid,
        ("customer", "My package never arrived and this is the third time I ask."),
        ("ai", "Could you please provide your order number?"),
        ("customer", "I already gave it to you twice. This is useless."),
        ("ai", "Could you please provide your order number?"),
        ("customer", "Forget it, I am cancelling. Terrible service."),
        started_at=_at(day, i),
        team="shipping",
        csat={"score": 1} if i % 3 == 0 else None,
    )


def _ordinary_day(day: date) -> dict[str, list]:
    """40 conversations: most resolved well, some poor. Scores spread 2..5."""
    makers = [_good, _good, _ai_good, _good, _poor]
    records = [makers[i % 5](f"{day:%m%d}-{i:03d}", day, i) for i in range(40)]
    return {"a.jsonl": records[:20], "b.jsonl": records[20:]}


def _bad_day(day: date) -> dict[str, list]:
    """36 identical poor conversations, 6 the judge cannot rate, 12 broken lines."""
    poor = [_poor(f"bad-{i:03d}", day, i) for i in range(36)]
    unratable = [
        conversation(f"blank-{i}", ("customer", "   "), ("human", "Hello?"), started_at=_at(day, i))
        for i in range(6)
    ]
    broken = [b"{not json" for _ in range(12)]
    return {"a.jsonl": poor + unratable, "b.jsonl": broken}


def _checks(result) -> dict[str, object]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterEnv]:
    with dagster_env(
        tmp_path_factory.mktemp("checks"),
        settings={"CX_SCORE_SHIFT_MIN_HISTORY_DAYS": "2"},
        unset=("CX_MAX_QUARANTINE_RATE", "CX_MAX_JUDGE_FAILURE_RATE", "CX_MAX_SCORE_SHIFT_PSI"),
    ) as env:
        yield env


@pytest.fixture(scope="module")
def history(env: DagsterEnv):
    """The first two days through the Python stages, the third through the whole job."""
    for day in HISTORY:
        env.write(day, _ordinary_day(day))
    for day in HISTORY[:-1]:
        assert env.run(day, PYTHON_STAGES).success
    return env.run(HISTORY[-1])


@pytest.fixture(scope="module")
def bad_day(env: DagsterEnv, history):
    env.write(BAD_DAY, _bad_day(BAD_DAY))
    return env.run(BAD_DAY, PYTHON_STAGES)


def test_an_ordinary_day_passes_every_check(history) -> None:
    assert history.success
    checks = _checks(history)
    assert NEW_CHECKS | {"fct_conversation_scores_meet_expectations"} <= set(checks)
    failed = {name: e.metadata for name, e in checks.items() if not e.passed}
    assert not failed, failed
    shift = checks["score_distribution_stable"].metadata
    # Two days of history, the same mix of conversations: compared, and close.
    assert shift["history_days"].value == 2
    assert shift["psi"].value < 0.05
    for name in (
        "scored_conversations_meet_expectations",
        "fct_conversation_scores_meet_expectations",
    ):
        meta = checks[name].metadata
        assert meta["rows"].value == 40
        assert meta["distribution_checked"].value is True
        assert meta["evaluated_expectations"].value >= 30
        assert meta["failed_expectations"].value == 0
        assert "expect_column_stdev_to_be_between" in meta["expectations"].value


def test_every_scoring_partition_carries_its_summary(history) -> None:
    (scores,) = history.asset_materializations_for_node("conversation_scores")
    meta = scores.metadata
    assert (meta["conversations_in"].value, meta["scored"].value, meta["quarantined"].value) == (
        40,
        40,
        0,
    )
    histogram = meta["score_histogram"].value
    assert sum(histogram.values()) == 40 and set(histogram) == {"1", "2", "3", "4", "5"}
    positive = histogram["4"] + histogram["5"]
    assert meta["cx_score"].value == round(positive / 40, 4)
    spotlight = meta["spotlight"].value
    assert "AI-resolved poor" in spotlight and "Lowest-scored conversations" in spotlight
    # The lowest-scored rows are the poor shipping conversations, ids from the landing files.
    assert "| shipping |" in spotlight and "0408-004" in spotlight


def test_a_bad_day_fails_each_threshold_but_loses_nothing(env: DagsterEnv, bad_day) -> None:
    assert bad_day.success  # the warnings do not stop the run
    checks = _checks(bad_day)
    assert checks["every_conversation_accounted_for"].passed  # blocking, and nothing was lost
    assert checks["scores_within_rubric_range"].passed

    quarantine = checks["quarantine_rate_below_threshold"]
    assert not quarantine.passed and quarantine.severity == AssetCheckSeverity.WARN
    assert quarantine.metadata["quarantine_rate"].value == round(18 / 54, 4)

    judge = checks["judge_failure_rate_below_threshold"]
    assert not judge.passed and judge.severity == AssetCheckSeverity.WARN
    assert judge.metadata["judge_failures"].value == 6
    assert judge.metadata["judge_failure_rate"].value == round(6 / 42, 4)

    shift = checks["score_distribution_stable"]
    assert not shift.passed and shift.metadata["history_days"].value == 3
    assert shift.metadata["psi"].value > 1.0

    # Every row is valid, but every conversation got one score: only distribution expectations
    # fail, so the suite warns rather than errs.
    suite = checks["scored_conversations_meet_expectations"]
    assert not suite.passed and suite.severity == AssetCheckSeverity.WARN
    table = suite.metadata["expectations"].value
    assert "| **FAIL** | expect_column_stdev_to_be_between | score |" in table
    assert "| **FAIL** | expect_column_values_to_be_between |" not in table
    assert env.query(
        f"select count(distinct score) from scored.conversation_scores "
        f"where partition_date = '{BAD_DAY}'"
    ) == [(1,)]


def test_thresholds_are_settings(env: DagsterEnv, bad_day, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CX_MAX_QUARANTINE_RATE", "0.4")
    monkeypatch.setenv("CX_MAX_JUDGE_FAILURE_RATE", "0.2")
    monkeypatch.setenv("CX_MAX_SCORE_SHIFT_PSI", "50")
    checks = _checks(env.run(BAD_DAY, PYTHON_STAGES))
    for name in (
        "quarantine_rate_below_threshold",
        "judge_failure_rate_below_threshold",
        "score_distribution_stable",
    ):
        assert checks[name].passed, (name, checks[name].metadata)
    assert checks["judge_failure_rate_below_threshold"].metadata["threshold"].value == 0.2
    assert checks["score_distribution_stable"].metadata["threshold"].value == 50


def test_the_demo_printout_reads_the_spotlight_from_the_marts(env: DagsterEnv, history) -> None:
    from orchestration.demo.headline import headline

    result = headline(env.warehouse)
    spotlight = result.spotlight
    assert spotlight is not None
    (ai_resolved,) = env.query(
        "select count(*) from marts.fct_conversation_scores "
        "where handler = 'ai_only' and issues_total > 0 "
        "and issues_unresolved = 0 and issues_resolved > 0"
    )[0]
    # The fact holds the three history days (its first build takes all that is staged):
    # 8 table bookings a day are the AI-only conversations judged resolved.
    assert spotlight.ai_only_resolved == ai_resolved == 24
    assert (
        spotlight.ai_resolved_poor
        == env.query("select count(*) from marts.spotlight_ai_resolved_poor")[0][0]
    )
    # 9 survey answers a day: 6 good conversations answered 5, 3 poor ones answered 1.
    answered, csat_positive = env.query(
        "select count(*), sum(case when csat_score >= 4 then 1 else 0 end) "
        "from marts.fct_conversation_scores where csat_score is not null"
    )[0]
    assert spotlight.answered == answered == 27 and csat_positive == 18
    assert spotlight.csat_positive_share == pytest.approx(csat_positive / answered)
    answered_mean, unanswered_mean = env.query(
        "select avg(case when csat_score is not null then score end), "
        "avg(case when csat_score is null then score end) from marts.fct_conversation_scores"
    )[0]
    assert spotlight.response_bias_mean_score == pytest.approx(answered_mean - unanswered_mean)
    text = str(result)
    assert "Spotlight:" in text and "AI-resolved poor:" in text and "Sliding topics" in text
    assert "CSAT vs CX on the" in text and "Response bias:" in text
