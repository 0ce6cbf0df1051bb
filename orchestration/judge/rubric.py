"""The transparent scoring rule: observations -> four sub-scores -> one overall 1-5 score.

Every judge (offline or LLM) reports observations (`VerdictBody`); this module, and only this
module, turns them into scores. Changing any number here changes `RUBRIC_VERSION`.

    resolution  = 1 + 4 * (resolved + 0.5 * partly) / issues
    sentiment   = 3 + 2 * sentiment_end, +0.5 if the mood improved, -0.5 if it worsened
    service     = mean(tone, knowledge[, timeliness])
    efficiency  = 5 - loops - needless clarifications - 2 * broken hand-offs   (floor 1)
    overall     = 0.40 resolution + 0.30 sentiment + 0.15 service + 0.15 efficiency,
                  rounded half up, and at most 3 when no issue was even partly resolved.

Arithmetic is exact (fractions), so a weighted sum of exactly x.5 rounds up as a person would
(in floats 0.4*5 + 0.3*3 + 0.15*2 + 0.15*2 is 3.4999...). With these weights an all-unresolved
conversation already weighs at most 3.4; the cap keeps that promise if the weights change.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

from orchestration.judge.verdict import Verdict, VerdictBody

__all__ = [
    "RUBRIC_VERSION",
    "WEIGHTS",
    "apply_rubric",
    "overall_score",
    "round_half_up",
    "rubric_score",
    "subscores",
]

RUBRIC_VERSION = "rubric-1"
WEIGHTS = {
    "resolution": Fraction(40, 100),
    "sentiment": Fraction(30, 100),
    "service": Fraction(15, 100),
    "efficiency": Fraction(15, 100),
}
UNRESOLVED_CAP = 3


def round_half_up(value: float | Fraction) -> int:
    """2.5 -> 3, never banker's rounding: a rule people read must round the way they do."""
    # The same sums as `value + Fraction(1, 2)`, without building a Fraction for the plain
    # types (a float plus a Fraction is that float plus 0.5; an int plus one half floors back).
    if type(value) is float:
        return math.floor(value + 0.5)
    if type(value) is int:
        return value
    return math.floor(value + Fraction(1, 2))


def _clip(value: float | Fraction) -> int:
    return max(1, min(5, round_half_up(value)))


def _clip_ratio(numerator: int, denominator: int) -> int:
    """`_clip(Fraction(numerator, denominator))` in integers: floor(n / d + 1/2), d > 0."""
    return max(1, min(5, (2 * numerator + denominator) // (2 * denominator)))


def resolution_score(body: VerdictBody) -> int:
    resolved = sum(i.status == "resolved" for i in body.issues)
    partly = sum(i.status == "partly" for i in body.issues)
    n = len(body.issues)
    return _clip_ratio(n + 4 * resolved + 2 * partly, n)  # 1 + (4 resolved + 2 partly) / n


def sentiment_score(body: VerdictBody) -> int:
    shift = {"improved": 0.5, "stable": 0.0, "worsened": -0.5}[body.sentiment_trajectory]
    return _clip(3 + 2 * body.sentiment_end + shift)


def service_score(body: VerdictBody) -> int:
    parts = [body.tone_score, body.knowledge_score]
    if body.timeliness_score is not None:
        parts.append(body.timeliness_score)
    return _clip_ratio(sum(parts), len(parts))


def efficiency_score(body: VerdictBody) -> int:
    friction = body.loop_count + body.needless_clarification_count + 2 * body.broken_handoff_count
    return _clip(5 - friction)


def overall_score(
    resolution: int, sentiment: int, service: int, efficiency: int, any_progress: bool
) -> int:
    """The one rule for the overall score, shared by every judge."""
    score = _weighted_score(resolution, sentiment, service, efficiency)
    return score if any_progress else min(score, UNRESOLVED_CAP)


@functools.lru_cache(maxsize=1024, typed=True)
def _weighted_score(resolution: int, sentiment: int, service: int, efficiency: int) -> int:
    """The rounded weighted sum (cached: sub-scores are 1-5, so there are 625 sums at most)."""
    weighted = (
        WEIGHTS["resolution"] * resolution
        + WEIGHTS["sentiment"] * sentiment
        + WEIGHTS["service"] * service
        + WEIGHTS["efficiency"] * efficiency
    )
    return _clip(weighted)


def subscores(body: VerdictBody) -> dict[str, int]:
    """The four sub-scores of a judge's observations, by their verdict field names."""
    return {
        "resolution_score": resolution_score(body),
        "sentiment_score": sentiment_score(body),
        "service_score": service_score(body),
        "efficiency_score": efficiency_score(body),
    }


def rubric_score(body: VerdictBody, scores: dict[str, int] | None = None) -> int:
    """The overall score the rubric gives these observations (`scores`: their `subscores`,
    when already computed)."""
    scores = subscores(body) if scores is None else scores
    return overall_score(
        scores["resolution_score"],
        scores["sentiment_score"],
        scores["service_score"],
        scores["efficiency_score"],
        any(i.status != "not_resolved" for i in body.issues),
    )


def apply_rubric(body: VerdictBody) -> Verdict:
    """Derive the sub-scores and the overall score from a judge's observations."""
    scores = subscores(body)
    score = rubric_score(body, scores)
    # The observations field by field (the issues stay models: no round trip through dicts).
    observed = {name: getattr(body, name) for name in VerdictBody.model_fields}
    return Verdict(**observed, **scores, score=score)
