"""Run a judge over a labelled set and measure its agreement with the humans, slice by slice.

The judge is called exactly as the pipeline's scoring stage calls it: `judge.judge_many(...)`
over contract `Conversation`s, one result per input. A `JudgeError` is counted (by reason) and
its conversation left out of the metrics, so `n` is the number of conversations rated.

Slices: `all`, then one per value of each slice dimension of the set (`subset:SGD`,
`agent_kind:human`, ...). A dimension with a single value is skipped: its slice would be `all`.

In-sample: a judge may say which labelled sets it learnt from (an optional `training_sets`
attribute, names such as `stc3_dev` or `uss_SGD`). A conversation is in-sample when its set's
name, or `<set>_<subset>`, is one of them; a slice holding any in-sample conversation is marked
`in_sample` with the share, and the report says so loudly: those figures measure memory, not
agreement.

Per slice: every metric of `evals.metrics.METRICS` for the judge against the human label, with
its 95% bootstrap interval; the human ceiling (leave one rater out) with its interval, where the
set has individual ratings; the paired judge - ceiling gap; the confusion matrices (judge vs
human, and rater vs the others' consensus pooled over raters); the score distributions.

Sub-score validity (sets with per-conversation A/S/E ratings: STC-3): Spearman's rho of every
judge sub-score and the overall score against the raters' mean A (task accomplished), S
(satisfaction) and E (efficiency), with bootstrap intervals. The two that should be high are
resolution vs A and efficiency vs E. There is no ceiling for these: the set gives only the
distribution of the 19 A/E ratings of a conversation, not which rater gave which.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from evals.datasets import LabelledSet
from evals.metrics import (
    LABELS,
    METRICS,
    Interval,
    RaterPairs,
    bootstrap_indices,
    ceiling_confusion,
    ceiling_from_confusions,
    ceiling_point,
    confusion,
    confusion_metrics,
    interval_of,
    leave_one_rater_out,
    point_metrics,
    resampled_confusions,
    resampled_spearman,
    spearman,
)
from orchestration.judge import Judge, JudgeError, Verdict

__all__ = [
    "NO_GAP",
    "SUBSCORES",
    "SUBSCORE_TARGETS",
    "DatasetResult",
    "MetricResult",
    "SliceResult",
    "SubscoreCorrelation",
    "evaluate_set",
    "evaluate_slice",
    "training_sets_of",
]

#: Metrics without a judge - ceiling gap: the shares themselves (their difference is the bias).
NO_GAP = frozenset({"share_4_5_pred", "share_4_5_human"})
#: Judge scores correlated with the human A/S/E ratings.
SUBSCORES: tuple[str, ...] = (
    "resolution_score",
    "sentiment_score",
    "service_score",
    "efficiency_score",
    "score",
)
#: The pairs that should agree: resolution with task accomplished, efficiency with efficiency.
SUBSCORE_TARGETS: tuple[tuple[str, str], ...] = (
    ("resolution_score", "A"),
    ("efficiency_score", "E"),
)


@dataclass(frozen=True)
class MetricResult:
    """One metric of one slice: the judge, the human ceiling and the paired gap."""

    metric: str
    judge: Interval
    ceiling: Interval | None
    gap: Interval | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "judge": self.judge.as_dict(),
            "human_ceiling": self.ceiling.as_dict() if self.ceiling else None,
            "judge_minus_ceiling": self.gap.as_dict() if self.gap else None,
        }


@dataclass
class SliceResult:
    """Agreement of the judge with the humans on one slice of one set."""

    dataset: str
    slice: str
    n: int
    metrics: dict[str, MetricResult]
    confusion: NDArray[np.int64]
    human_scores: NDArray[np.int64]
    judge_scores: NDArray[np.int64]
    ceiling_confusion: NDArray[np.int64] | None = None
    ceiling_raters: int = 0
    ceiling_pairs: int = 0
    rater_scores: NDArray[np.int64] | None = None
    #: Share of the slice's conversations from a set the judge was trained on (0 = none).
    in_sample_share: float = 0.0

    @property
    def in_sample(self) -> bool:
        return self.in_sample_share > 0

    @property
    def dimension(self) -> str | None:
        """`subset` for the slice `subset:SGD`; None for `all`."""
        return self.slice.split(":", 1)[0] if ":" in self.slice else None

    @property
    def value(self) -> str | None:
        """`SGD` for the slice `subset:SGD`; None for `all`."""
        return self.slice.split(":", 1)[1] if ":" in self.slice else None

    def as_dict(self) -> dict[str, Any]:
        def counts(values: NDArray | None) -> list[int] | None:
            if values is None:
                return None
            return [int((values == s).sum()) for s in LABELS]

        return {
            "dataset": self.dataset,
            "slice": self.slice,
            "n": self.n,
            "in_sample": self.in_sample,
            "in_sample_share": round(self.in_sample_share, 4),
            "metrics": {name: m.as_dict() for name, m in self.metrics.items()},
            "confusion": {
                "rows": "human score 1..5",
                "columns": "judge score 1..5",
                "counts": self.confusion.tolist(),
            },
            "ceiling_confusion": None
            if self.ceiling_confusion is None
            else {
                "rows": "consensus of the other raters 1..5",
                "columns": "the left-out rater 1..5",
                "counts": self.ceiling_confusion.tolist(),
            },
            "ceiling_rater_positions": self.ceiling_raters,
            "ceiling_pairs": self.ceiling_pairs,
            "distribution": {
                "scores": list(LABELS),
                "human": counts(self.human_scores),
                "judge": counts(self.judge_scores),
                "individual_raters": counts(self.rater_scores),
            },
        }


@dataclass(frozen=True)
class SubscoreCorrelation:
    """Spearman's rho of one judge score against one human quality rating (STC-3 A/S/E)."""

    judge_score: str
    human_rating: str
    rho: Interval
    n: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "judge_score": self.judge_score,
            "human_rating": self.human_rating,
            "spearman": self.rho.as_dict(),
            "n": self.n,
        }


@dataclass
class DatasetResult:
    """Everything measured on one labelled set."""

    labelled: LabelledSet
    slices: list[SliceResult]
    judge_errors: dict[str, int]
    subscores: list[SubscoreCorrelation] = field(default_factory=list)
    seconds_judging: float = 0.0
    seconds_measuring: float = 0.0
    #: Per conversation rated: (conversation_id, human, judge, sub-scores, slices) for the CSV.
    predictions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.labelled.name

    @property
    def in_sample(self) -> bool:
        return any(s.in_sample for s in self.slices)

    def as_dict(self) -> dict[str, Any]:
        lab = self.labelled
        return {
            "dataset": lab.name,
            "file": lab.path.name,
            "in_sample": self.in_sample,
            "description": lab.description,
            "label": lab.label_rule,
            "consensus_rule": lab.consensus_rule,
            "consensus_reproduces_label": {
                "checked": lab.consensus_checked,
                "reproduced": lab.consensus_reproduced,
            },
            "records_read": lab.records_read,
            "skipped": lab.skipped,
            "limited_from": lab.limited_from,
            "conversations": len(lab.items),
            "judge_errors": self.judge_errors,
            "slices": [s.as_dict() for s in self.slices],
            "subscore_validity": [c.as_dict() for c in self.subscores],
            "seconds_judging": round(self.seconds_judging, 3),
            "seconds_measuring": round(self.seconds_measuring, 3),
        }


def evaluate_slice(
    dataset: str,
    name: str,
    human: Sequence[int] | NDArray,
    judge: Sequence[int] | NDArray,
    pairs: RaterPairs | None,
    n_boot: int,
    seed: int,
) -> SliceResult:
    """All metrics of one slice with bootstrap intervals, the ceiling and the paired gap.

    `human[i]`/`judge[i]` are the human label and judge score of conversation i; `pairs` the
    leave-one-rater-out pairs of the same conversations (None or empty: no ceiling). The
    resamples come from `bootstrap_indices(len(human), n_boot, seed)`.
    """
    human_arr = np.asarray(human, dtype=np.int64)
    judge_arr = np.asarray(judge, dtype=np.int64)
    n = int(human_arr.size)
    point = point_metrics(human_arr, judge_arr)
    indices = bootstrap_indices(n, n_boot, seed)
    judge_boot = (
        confusion_metrics(resampled_confusions(human_arr, judge_arr, indices))
        if n
        else dict.fromkeys(METRICS, np.full(n_boot, np.nan))
    )
    has_ceiling = pairs is not None and pairs.pairs > 0 and n > 0
    ceiling_pt: dict[str, float] = {}
    ceiling_boot: dict[str, NDArray] = {}
    if has_ceiling:
        assert pairs is not None
        ceiling_pt = ceiling_point(pairs)
        per_position = np.stack(
            [
                resampled_confusions(pairs.consensus[k], pairs.rater[k], indices)
                for k in range(pairs.positions)
            ]
        )
        ceiling_boot = ceiling_from_confusions(per_position)
    metrics: dict[str, MetricResult] = {}
    for metric in METRICS:
        judge_iv = interval_of(point[metric], judge_boot[metric])
        ceiling_iv = gap_iv = None
        if has_ceiling:
            ceiling_iv = interval_of(ceiling_pt[metric], ceiling_boot[metric])
            if metric not in NO_GAP:
                gap_iv = interval_of(
                    point[metric] - ceiling_pt[metric], judge_boot[metric] - ceiling_boot[metric]
                )
        metrics[metric] = MetricResult(metric, judge_iv, ceiling_iv, gap_iv)
    result = SliceResult(
        dataset=dataset,
        slice=name,
        n=n,
        metrics=metrics,
        confusion=confusion(human_arr, judge_arr),
        human_scores=human_arr,
        judge_scores=judge_arr,
    )
    if has_ceiling:
        assert pairs is not None
        mask = pairs.rater > 0
        result.ceiling_confusion = ceiling_confusion(pairs)
        result.ceiling_raters = int(mask.any(axis=1).sum())
        result.ceiling_pairs = pairs.pairs
        result.rater_scores = pairs.rater[mask]
    return result


def _slice_members(labelled: LabelledSet, rated: list[int]) -> list[tuple[str, list[int]]]:
    """(slice name, positions within `rated`) for `all` and every multi-valued dimension."""
    out = [("all", list(range(len(rated))))]
    dimensions: dict[str, dict[str, list[int]]] = {}
    for position, item_index in enumerate(rated):
        for dimension, value in labelled.items[item_index].slices.items():
            dimensions.setdefault(dimension, {}).setdefault(value, []).append(position)
    for dimension, values in dimensions.items():
        if len(values) < 2:
            continue
        for value in sorted(values):
            out.append((f"{dimension}:{value}", values[value]))
    return out


def _subscore_validity(
    verdicts: list[Verdict], quality: list[dict[str, float]], n_boot: int, seed: int
) -> list[SubscoreCorrelation]:
    indices = bootstrap_indices(len(verdicts), n_boot, seed)
    out: list[SubscoreCorrelation] = []
    ordered = list(SUBSCORE_TARGETS) + [
        (s, h) for s in SUBSCORES for h in ("A", "S", "E") if (s, h) not in SUBSCORE_TARGETS
    ]
    for judge_score, rating in ordered:
        keep = [i for i, q in enumerate(quality) if rating in q]
        if len(keep) < 2:
            continue
        x = np.asarray([getattr(verdicts[i], judge_score) for i in keep], dtype=float)
        y = np.asarray([quality[i][rating] for i in keep], dtype=float)
        if len(keep) == len(verdicts):
            boot = resampled_spearman(x, y, indices)
        else:
            boot = resampled_spearman(x, y, bootstrap_indices(len(keep), n_boot, seed))
        out.append(
            SubscoreCorrelation(judge_score, rating, interval_of(spearman(x, y), boot), len(keep))
        )
    return out


def training_sets_of(judge: object) -> frozenset[str]:
    """The names of the labelled sets `judge` was trained on (its optional `training_sets`)."""
    names = getattr(judge, "training_sets", None) or ()
    if isinstance(names, str):
        names = (names,)
    return frozenset(str(name) for name in names)


def _is_in_sample(dataset: str, slices: dict[str, str], training: Collection[str]) -> bool:
    if dataset in training:
        return True
    subset = slices.get("subset")
    return subset is not None and f"{dataset}_{subset}" in training


def evaluate_set(
    labelled: LabelledSet,
    judge: Judge,
    n_boot: int,
    seed: int,
    training_sets: Collection[str] = (),
) -> DatasetResult:
    """Judge every conversation of `labelled` and measure agreement per slice.

    `training_sets`: the sets the judge learnt from (`training_sets_of`); their conversations
    are marked in-sample.
    """
    started = time.perf_counter()
    results = judge.judge_many([item.conversation for item in labelled.items])
    if len(results) != len(labelled.items):
        raise RuntimeError(
            f"judge returned {len(results)} results for {len(labelled.items)} conversations"
        )
    judged = time.perf_counter()
    errors: Counter[str] = Counter()
    rated: list[int] = []
    verdicts: list[Verdict] = []
    for index, result in enumerate(results):
        if isinstance(result, JudgeError):
            errors[result.reason] += 1
            continue
        rated.append(index)
        verdicts.append(result)
    items = [labelled.items[i] for i in rated]
    human = np.asarray([item.human_score for item in items], dtype=np.int64)
    scores = np.asarray([v.score for v in verdicts], dtype=np.int64)
    pairs = leave_one_rater_out([item.annotator_scores for item in items], labelled.consensus_rule)

    in_sample = np.asarray(
        [_is_in_sample(labelled.name, dict(item.slices), training_sets) for item in items],
        dtype=bool,
    )
    slices: list[SliceResult] = []
    for name, members in _slice_members(labelled, rated):
        result = evaluate_slice(
            labelled.name,
            name,
            human[members],
            scores[members],
            pairs.take(members) if pairs.positions else None,
            n_boot,
            seed,
        )
        result.in_sample_share = float(in_sample[members].mean()) if members else 0.0
        slices.append(result)
    quality = [dict(item.quality or {}) for item in items]
    subscores = _subscore_validity(verdicts, quality, n_boot, seed) if any(quality) else []
    predictions = [
        {
            "conversation_id": item.conversation.conversation_id,
            "human_score": item.human_score,
            **{name: getattr(verdict, name) for name in SUBSCORES},
            **{f"slice_{k}": v for k, v in item.slices.items()},
        }
        for item, verdict in zip(items, verdicts, strict=True)
    ]
    return DatasetResult(
        labelled=labelled,
        slices=slices,
        judge_errors=dict(errors),
        subscores=subscores,
        seconds_judging=judged - started,
        seconds_measuring=time.perf_counter() - judged,
        predictions=predictions,
    )
