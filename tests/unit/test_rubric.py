"""The scoring rule, checked against hand-computed cases (see the table in `rubric`'s docstring)."""

from __future__ import annotations

from typing import Any

import pytest

from orchestration.judge.rubric import (
    apply_rubric,
    efficiency_score,
    overall_score,
    resolution_score,
    round_half_up,
    sentiment_score,
    service_score,
)
from orchestration.judge.verdict import IssueVerdict, VerdictBody


def body(*statuses: str, **changes: Any) -> VerdictBody:
    """A neutral body (sentiment 0 stable, tone/knowledge 3, no friction) with these issues."""
    fields: dict[str, Any] = {
        "issues": [IssueVerdict(summary=f"issue {i}", status=s, evidence="-") for i, s in
                   enumerate(statuses or ("partly",))],
        "sentiment_start": 0.0,
        "sentiment_end": 0.0,
        "sentiment_trajectory": "stable",
        "tone_score": 3,
        "knowledge_score": 3,
        "timeliness_score": None,
        "loop_count": 0,
        "needless_clarification_count": 0,
        "broken_handoff_count": 0,
        "topic": "other",
        "rationale": "test",
    }  # fmt: skip
    fields.update(changes)
    return VerdictBody(**fields)


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (("resolved",), 5),  # 1 + 4 * 1/1
        (("partly",), 3),  # 1 + 4 * 0.5/1
        (("not_resolved",), 1),  # 1 + 4 * 0/1
        (("resolved", "partly"), 4),  # 1 + 4 * 1.5/2 = 4.0
        (("resolved", "not_resolved"), 3),  # 1 + 4 * 1/2 = 3.0
        (("resolved", "partly", "not_resolved"), 3),  # 1 + 4 * 1.5/3 = 3.0
        (("resolved", "not_resolved", "not_resolved", "not_resolved"), 2),  # 1 + 4 * 1/4 = 2.0
        (("partly", "not_resolved", "not_resolved"), 2),  # 1 + 4 * 0.5/3 = 1.67 -> 2
        (("partly", "not_resolved", "not_resolved", "not_resolved"), 2),  # 1.5 -> 2 (half up)
        (("resolved", "resolved", "partly", "not_resolved"), 4),  # 1 + 4 * 2.5/4 = 3.5 -> 4
    ],
)
def test_resolution_formula(statuses: tuple[str, ...], expected: int) -> None:
    assert resolution_score(body(*statuses)) == expected


@pytest.mark.parametrize(
    ("end", "trajectory", "expected"),
    [
        (0.0, "stable", 3),  # 3 + 0
        (0.5, "stable", 4),  # 3 + 1
        (0.5, "improved", 5),  # 3 + 1 + 0.5 = 4.5 -> 5 (half up)
        (0.5, "worsened", 4),  # 3 + 1 - 0.5 = 3.5 -> 4 (half up)
        (-0.25, "stable", 3),  # 3 - 0.5 = 2.5 -> 3 (half up)
        (-0.25, "worsened", 2),  # 3 - 0.5 - 0.5 = 2
        (-0.25, "improved", 3),  # 3 - 0.5 + 0.5 = 3
        (1.0, "improved", 5),  # 5.5, clipped to 5
        (-1.0, "worsened", 1),  # 0.5 -> 1, clipped to at least 1
        (-0.6, "stable", 2),  # 3 - 1.2 = 1.8 -> 2
    ],
)
def test_sentiment_trajectory_shift(end: float, trajectory: str, expected: int) -> None:
    assert sentiment_score(body(sentiment_end=end, sentiment_trajectory=trajectory)) == expected


@pytest.mark.parametrize(
    ("tone", "knowledge", "timeliness", "expected"),
    [
        (4, 3, None, 4),  # (4 + 3) / 2 = 3.5 -> 4
        (2, 3, None, 3),  # 2.5 -> 3
        (4, 3, 1, 3),  # 8 / 3 = 2.67 -> 3
        (5, 5, 2, 4),  # 12 / 3 = 4
        (1, 1, 1, 1),
    ],
)
def test_service_is_the_mean_of_what_was_observed(
    tone: int, knowledge: int, timeliness: int | None, expected: int
) -> None:
    scored = body(tone_score=tone, knowledge_score=knowledge, timeliness_score=timeliness)
    assert service_score(scored) == expected


@pytest.mark.parametrize(
    ("loops", "clarifications", "handoffs", "expected"),
    [
        (0, 0, 0, 5),
        (1, 0, 0, 4),
        (1, 1, 0, 3),
        (0, 0, 1, 3),  # a broken hand-off costs two
        (1, 0, 1, 2),
        (0, 0, 2, 1),  # 5 - 4
        (3, 2, 2, 1),  # 5 - 3 - 2 - 4 = -4: floor 1
        (50, 0, 0, 1),
    ],
)
def test_efficiency_has_a_floor_of_one(
    loops: int, clarifications: int, handoffs: int, expected: int
) -> None:
    scored = body(
        loop_count=loops,
        needless_clarification_count=clarifications,
        broken_handoff_count=handoffs,
    )
    assert efficiency_score(scored) == expected


def test_round_half_up_is_not_bankers_rounding() -> None:
    assert [round_half_up(v) for v in (0.5, 1.5, 2.5, 3.5, 2.49, 2.51)] == [1, 2, 3, 4, 2, 3]
    assert round(2.5) == 2  # what Python would have done


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ((5, 5, 5, 5), 5),
        ((3, 3, 3, 3), 3),
        ((5, 3, 3, 5), 4),  # 2.0 + 0.9 + 0.45 + 0.75 = 4.1
        ((3, 4, 3, 5), 4),  # 1.2 + 1.2 + 0.45 + 0.75 = 3.6
        ((3, 4, 3, 4), 3),  # 1.2 + 1.2 + 0.45 + 0.6 = 3.45
        ((5, 2, 3, 3), 4),  # 2.0 + 0.6 + 0.45 + 0.45 = 3.5 -> 4 (half up)
        ((1, 2, 2, 3), 2),  # 0.4 + 0.6 + 0.3 + 0.45 = 1.75
        ((1, 1, 1, 1), 1),
    ],
)
def test_overall_weights_and_rounding(scores: tuple[int, int, int, int], expected: int) -> None:
    assert overall_score(*scores, any_progress=True) == expected


def test_unresolved_caps_overall_at_three() -> None:
    assert overall_score(5, 5, 5, 5, any_progress=False) == 3
    assert overall_score(2, 1, 1, 1, any_progress=False) == 1  # the cap never raises a score
    # Through apply_rubric: nothing even partly resolved, everything else perfect.
    verdict = apply_rubric(
        body(
            "not_resolved",
            "not_resolved",
            sentiment_end=1.0,
            sentiment_trajectory="improved",
            tone_score=5,
            knowledge_score=5,
            timeliness_score=5,
        )
    )
    assert (verdict.resolution_score, verdict.sentiment_score) == (1, 5)
    assert (verdict.service_score, verdict.efficiency_score) == (5, 5)
    assert verdict.score == 3  # 0.4 + 1.5 + 0.75 + 0.75 = 3.4 -> 3, and capped at 3


def test_one_partly_resolved_issue_lifts_the_cap() -> None:
    verdict = apply_rubric(
        body(
            "partly",
            "not_resolved",
            sentiment_end=1.0,
            sentiment_trajectory="improved",
            tone_score=5,
            knowledge_score=5,
        )
    )
    # resolution 1 + 4 * 0.5/2 = 2; 0.8 + 1.5 + 0.75 + 0.75 = 3.8 -> 4
    assert (verdict.resolution_score, verdict.score) == (2, 4)


def test_apply_rubric_keeps_the_observations() -> None:
    observed = body(
        "resolved",
        "partly",
        sentiment_start=-0.4,
        sentiment_end=0.3,
        sentiment_trajectory="improved",
        tone_score=4,
        knowledge_score=3,
        timeliness_score=4,
        loop_count=1,
        topic="billing_payments",
    )
    verdict = apply_rubric(observed)
    assert verdict.model_dump(include=set(VerdictBody.model_fields)) == observed.model_dump()
    # resolution 4; sentiment 3 + 0.6 + 0.5 = 4.1 -> 4; service 11/3 = 3.67 -> 4; efficiency 4
    assert (verdict.resolution_score, verdict.sentiment_score) == (4, 4)
    assert (verdict.service_score, verdict.efficiency_score) == (4, 4)
    assert verdict.score == 4  # 1.6 + 1.2 + 0.6 + 0.6 = 4.0


@pytest.mark.parametrize(
    "scores", [(5, 3, 2, 2), (5, 3, 3, 1), (1, 5, 2, 2), (1, 5, 3, 1)], ids=str
)
def test_exact_halves_round_up_in_the_overall_score(scores: tuple[int, int, int, int]) -> None:
    exact_hundredths = 40 * scores[0] + 30 * scores[1] + 15 * scores[2] + 15 * scores[3]
    assert exact_hundredths % 100 == 50  # exactly x.5
    assert overall_score(*scores, any_progress=True) == (exact_hundredths + 50) // 100
