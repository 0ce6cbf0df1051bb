"""The pure parts behind the checks: the great-expectations suites, PSI, the day's spotlight."""

from __future__ import annotations

import gc
from datetime import date

import pandas as pd
import pyarrow as pa
import pytest

from orchestration.checks.rates import population_stability_index
from orchestration.quality import MIN_ROWS_FOR_DISTRIBUTION, validate
from orchestration.scoring.summary import score_histogram, spotlight_markdown, spotlight_rows
from orchestration.warehouse.schema import arrow_schema


def _scored(n: int, scores: list[int]) -> pd.DataFrame:
    rows = []
    for i in range(n):
        rows.append(
            {
                "partition_date": date(2026, 3, 2),
                "conversation_id": f"c-{i}",
                "judge_kind": "offline",
                "judge_name": "offline",
                "judge_version": "offline-1",
                "judge_model": None,
                "score": scores[i % len(scores)],
                "resolution_score": 4,
                "sentiment_score": 3,
                "service_score": 4,
                "efficiency_score": 5,
                "issues_total": 1,
                "issues_resolved": 1,
                "issues_partly": 0,
                "issues_unresolved": 0,
                "issues_json": "[]",
                "sentiment_start": -0.2,
                "sentiment_end": 0.5,
                "sentiment_trajectory": "improved",
                "tone_score": 4,
                "knowledge_score": 3,
                "timeliness_score": None,
                "loop_count": 0,
                "needless_clarification_count": 0,
                "broken_handoff_count": 0,
                "topic": "billing",
                "rationale": "1 issue: 1 resolved.",
            }
        )
    return pd.DataFrame(rows)


def test_a_valid_day_passes_the_scored_suite_with_its_distribution() -> None:
    report = validate(_scored(40, [1, 2, 3, 4, 5, 5]), "scored_conversations")
    assert report.success, report.markdown()
    assert report.distribution_checked and report.rows == 40
    kinds = {o.expectation for o in report.outcomes}
    assert {"expect_column_values_to_be_between", "expect_column_stdev_to_be_between"} <= kinds


@pytest.mark.parametrize(
    ("column", "value", "expectation"),
    [
        ("score", 7, "expect_column_values_to_be_in_set"),
        ("sentiment_end", 1.5, "expect_column_values_to_be_between"),
        ("sentiment_trajectory", "sideways", "expect_column_values_to_be_in_set"),
        ("rationale", None, "expect_column_values_to_not_be_null"),
        ("issues_resolved", 3, "expect_column_pair_values_a_to_be_greater_than_b"),
        ("conversation_id", "c-1", "expect_column_values_to_be_unique"),
    ],
)
def test_a_broken_value_fails_its_expectation(column: str, value: object, expectation: str) -> None:
    frame = _scored(40, [1, 2, 3, 4, 5])
    frame.loc[3, column] = value
    report = validate(frame, "scored_conversations")
    assert not report.success
    failed = {(f.expectation, f.distribution) for f in report.failures}
    assert (expectation, False) in failed, report.markdown()
    assert f"| **FAIL** | {expectation} |" in report.markdown()


def test_one_score_for_everyone_fails_only_the_distribution() -> None:
    report = validate(_scored(40, [2]), "scored_conversations")
    assert not report.success
    assert report.failures and all(f.distribution for f in report.failures)
    small = validate(_scored(MIN_ROWS_FOR_DISTRIBUTION - 1, [2]), "scored_conversations")
    assert small.success and not small.distribution_checked


def test_validate_keeps_no_frame_alive() -> None:
    """GX keeps its last context in a module-level manager, and the context its data source's
    frame: a 1M-row day's frame (over 1 GB) stayed in the Dagster process after the check. GX's
    objects also hold each other in cycles, so validate() collects them itself: with the
    collector off, no frame of the batch's size may be left, reachable or not."""

    def frames_of(rows: int) -> list[pd.DataFrame]:
        return [o for o in gc.get_objects() if isinstance(o, pd.DataFrame) and len(o) == rows]

    rows = 37  # no other frame in the test process has this many rows
    gc.collect()
    assert not frames_of(rows)
    gc.disable()
    try:
        report = validate(_scored(rows, [1, 2, 3, 4, 5]), "scored_conversations")
        assert report.success and report.rows == rows
        assert not frames_of(rows)
    finally:
        gc.enable()


def test_psi_is_zero_for_the_same_shape_and_large_for_a_shift() -> None:
    same = population_stability_index([10, 20, 30, 20, 20], [20, 40, 60, 40, 40])
    assert same == pytest.approx(0, abs=1e-3)
    assert population_stability_index([0, 0, 0, 40, 0], [5, 5, 10, 10, 10]) > 1.0
    small = population_stability_index([5, 5, 10, 11, 9], [5, 5, 10, 10, 10])
    assert 0 < small < 0.1


def _day_tables() -> tuple[dict[str, pa.Table], pa.Table]:
    conversations = pa.Table.from_pylist(
        [
            {"conversation_id": cid, "team": team}
            for cid, team in (("ai-poor", "billing"), ("ai-ok", "billing"), ("mixed", "network"))
        ]
    )
    messages = pa.Table.from_pylist(
        [
            {"conversation_id": "ai-poor", "role": "customer", "author_kind": None},
            {"conversation_id": "ai-poor", "role": "agent", "author_kind": "ai"},
            {"conversation_id": "ai-ok", "role": "agent", "author_kind": "ai"},
            {"conversation_id": "mixed", "role": "agent", "author_kind": "ai"},
            {"conversation_id": "mixed", "role": "agent", "author_kind": "human"},
        ]
    )
    base = _scored(3, [1]).drop(columns=["partition_date"]).to_dict("records")
    for row, (cid, score) in zip(base, (("ai-poor", 2), ("ai-ok", 5), ("mixed", 1)), strict=True):
        row.update(conversation_id=cid, score=score, partition_date=date(2026, 3, 2))
    scores = pa.Table.from_pylist(base, schema=arrow_schema("scored.conversation_scores"))
    return {"conversations": conversations, "messages": messages}, scores


def test_the_day_spotlight_keeps_ai_only_resolved_and_poor() -> None:
    raw, scores = _day_tables()
    assert [r["conversation_id"] for r in spotlight_rows(raw, scores)] == ["ai-poor"]
    markdown = spotlight_markdown(raw, scores)
    assert "| ai-poor | billing | billing | 2 |" in markdown
    # The lowest-scored list shows every handler, lowest first.
    lowest = markdown.split("**Lowest-scored conversations**")[1]
    assert lowest.index("| mixed |") < lowest.index("| ai-poor |") < lowest.index("| ai-ok |")
    assert score_histogram(scores) == {"1": 1, "2": 1, "3": 0, "4": 0, "5": 1}


def test_the_day_spotlight_uses_the_marts_resolved_rule() -> None:
    """Resolved = an issue, none left not resolved, one fully resolved (partly ones may remain):
    the same rule as `marts.spotlight_ai_resolved_poor`."""
    raw, scores = _day_tables()
    rows = scores.to_pylist()
    rows[0].update(issues_total=2, issues_resolved=1, issues_partly=1, issues_unresolved=0)
    assert [
        r["conversation_id"]
        for r in spotlight_rows(raw, pa.Table.from_pylist(rows, schema=scores.schema))
    ] == ["ai-poor"]
    rows[0].update(issues_total=2, issues_resolved=1, issues_partly=0, issues_unresolved=1)
    assert spotlight_rows(raw, pa.Table.from_pylist(rows, schema=scores.schema)) == []
    rows[0].update(issues_total=1, issues_resolved=0, issues_partly=1, issues_unresolved=0)
    assert spotlight_rows(raw, pa.Table.from_pylist(rows, schema=scores.schema)) == []


def _fct(n: int) -> pd.DataFrame:
    frame = _scored(n, [1, 2, 3, 4, 5]).drop(columns=["partition_date", "issues_json"])
    csat = [None if i % 3 else (i % 5) + 1 for i in range(n)]
    return frame.assign(
        conversation_date=date(2026, 3, 2),
        handler="ai_only",
        channel="chat",
        team="billing",
        is_positive=frame["score"] >= 4,
        csat_score=pd.array(csat, dtype="Int64"),
        csat_is_positive=[None if c is None else c >= 4 for c in csat],
        message_count=3,
    )


@pytest.mark.parametrize(
    ("column", "value"),
    [("is_positive", True), ("csat_is_positive", None), ("csat_is_positive", False)],
)
def test_the_mart_suite_checks_the_positive_flags_against_the_scores(
    column: str, value: object
) -> None:
    good = _fct(40)
    assert validate(good, "fct_conversation_scores").success
    bad = good.astype({column: object})
    bad.loc[0, column] = value  # row 0: score 1 (not positive), CSAT 1 (not positive)
    if column == "csat_is_positive" and value is False:
        bad.loc[1, column] = False  # row 1: no CSAT answer, yet a flag
    report = validate(bad, "fct_conversation_scores")
    failed = {(f.expectation, f.column) for f in report.failures}
    expected = "csat_score_is_4_or_5" if column == "csat_is_positive" else "score_is_4_or_5"
    assert failed == {("expect_column_pair_values_to_be_equal", f"{column}, {expected}")}, (
        report.markdown()
    )


def test_the_checks_select_only_the_columns_a_suite_reads() -> None:
    from orchestration.quality import suite_columns

    columns = suite_columns("fct_conversation_scores")
    assert {"score", "is_positive", "csat_score", "csat_is_positive", "rationale"} <= set(columns)
    assert not {"score_is_4_or_5", "issues_json", "judge_model"} & set(columns)
