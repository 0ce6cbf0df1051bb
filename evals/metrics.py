"""Agreement metrics between a judge's 1-5 score and the human label, their bootstrap intervals,
and the human ceiling (one rater against the consensus of the others).

Every metric compares a *reference* (the human consensus label) with a *prediction* (the judge's
score, or, for the ceiling, one rater's score), both on the 1-5 scale:

    precision_4_5, recall_4_5, f1_4_5
                    the KPI's own decision, "rated 4-5" (positive) vs "rated 1-3". Undefined (NaN)
                    when its denominator is 0: precision with no predicted 4-5, recall with no
                    human 4-5, F1 (= 2tp / (2tp + fp + fn)) with neither.
    macro_f1_4_5    the mean of the F1 of "rated 4-5" and the F1 of "rated 1-3" (both classes of the
                    KPI's decision; a class in neither side is left out).
    macro_f1        F1 per score 1..5, averaged over the scores that occur in the reference or the
                    prediction (a score in neither is left out, not counted as 0 or 1).
    qwk             Cohen's kappa with quadratic weights over the labels 1..5. Undefined when both
                    sides give one and the same score to everything.
    spearman        Spearman's rank correlation (average ranks for ties). Undefined when either
                    side is constant.
    share_4_5_pred, share_4_5_human
                    the share rated 4-5 by the prediction and by the reference: the KPI itself.
    share_4_5_bias  share_4_5_pred - share_4_5_human (the KPI's bias, as a fraction; x100 = pp).
    share_4_5_abs_bias
                    |share_4_5_bias|. For the judge it is just the size of the bias; for the
                    ceiling it is the mean size of one rater's bias, which does not cancel out
                    between raters who rate high and raters who rate low.

Point estimates come from scikit-learn (`precision_score`, `recall_score`, `f1_score`,
`cohen_kappa_score(weights="quadratic")`, `confusion_matrix`) and `scipy.stats.spearmanr`
(`point_metrics`). Every one of these metrics is a function of the 5x5 confusion matrix, so the
bootstrap computes them from resampled confusion matrices in one vectorised pass
(`confusion_metrics`); the unit tests check that both give the same numbers.

Bootstrap: `n_boot` resamples of the conversations (with replacement, `numpy.random.default_rng`
with a fixed seed); the 95% interval is the 2.5th and 97.5th percentile of the resampled metric
(resamples where it is undefined are left out). The same resamples serve the judge and the
ceiling of a slice, so the judge - ceiling gap has a paired interval too.

Human ceiling (leave one rater out): for every conversation with at least two raters and every
rater position k it has, the pair (consensus of the other raters, rater k). The consensus uses the
set's own rule for `human_score` (`CONSENSUS_RULES`): the lower median for the STC-3 helpdesk set
(its `human_score` is the median of 19 raters; with 18 left the median can fall between two
scores, and the lower one is taken), the majority with ties going to the lower score for USS. All
pairs of all positions are pooled into one confusion matrix and every metric is computed on it:
"a rater drawn at random against the consensus of the others". Raters are positional (position k
is "the k-th rating of the conversation", which the public sets do not promise is the same person
everywhere), so pooling is the reading that does not pretend to know who rated. One exception:
`share_4_5_abs_bias` pooled would let high and low raters cancel out, so its ceiling is the mean
over positions of each position's |bias|, weighted by the position's number of conversations.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import rankdata, spearmanr
from sklearn.metrics import (
    cohen_kappa_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
)

__all__ = [
    "CONSENSUS_RULES",
    "LABELS",
    "METRICS",
    "POSITIVE_FROM",
    "ConsensusRule",
    "Interval",
    "RaterPairs",
    "bootstrap_indices",
    "ceiling_confusion",
    "ceiling_from_confusions",
    "ceiling_point",
    "confusion",
    "confusion_metrics",
    "interval_of",
    "leave_one_rater_out",
    "majority_low",
    "median_low",
    "percentile_interval",
    "point_metrics",
    "resampled_confusions",
    "resampled_spearman",
    "spearman",
]

#: The score scale.
LABELS: tuple[int, ...] = (1, 2, 3, 4, 5)
#: A score at or above this counts towards the KPI ("rated 4-5").
POSITIVE_FROM = 4
#: The metrics of every slice, in report order.
METRICS: tuple[str, ...] = (
    "f1_4_5",
    "precision_4_5",
    "recall_4_5",
    "macro_f1_4_5",
    "macro_f1",
    "qwk",
    "spearman",
    "share_4_5_pred",
    "share_4_5_human",
    "share_4_5_bias",
    "share_4_5_abs_bias",
)

_K = len(LABELS)
_POS = POSITIVE_FROM - LABELS[0]  # index of the first positive label
_QW = (np.subtract.outer(np.arange(_K), np.arange(_K)) ** 2).astype(float)

ConsensusRule = Callable[[Sequence[int]], int]


# --- consensus rules ------------------------------------------------------------------------


def median_low(scores: Sequence[int]) -> int:
    """The median; with an even count, the lower of the two middle scores."""
    if not scores:
        raise ValueError("no scores to take the median of")
    return int(statistics.median_low(scores))


def majority_low(scores: Sequence[int]) -> int:
    """The most frequent score; a tie goes to the lowest tied score (as USS's authors do)."""
    if not scores:
        raise ValueError("no scores to take the majority of")
    counts = Counter(scores)
    top = max(counts.values())
    return int(min(score for score, count in counts.items() if count == top))


#: Consensus rule by name (the name is what a data set declares and the report prints).
CONSENSUS_RULES: dict[str, ConsensusRule] = {"median_low": median_low, "majority_low": majority_low}


# --- point estimates (scikit-learn, scipy) --------------------------------------------------


def _scores(values: ArrayLike, name: str) -> NDArray[np.int64]:
    array = np.asarray(values, dtype=np.int64).reshape(-1)
    if array.size and (array.min() < LABELS[0] or array.max() > LABELS[-1]):
        raise ValueError(f"{name} must hold scores {LABELS[0]}..{LABELS[-1]}")
    return array


def _pair(reference: ArrayLike, prediction: ArrayLike) -> tuple[NDArray, NDArray]:
    ref = _scores(reference, "reference")
    pred = _scores(prediction, "prediction")
    if ref.shape != pred.shape:
        raise ValueError(f"reference has {ref.size} scores, prediction {pred.size}")
    return ref, pred


def confusion(reference: ArrayLike, prediction: ArrayLike) -> NDArray[np.int64]:
    """5x5 counts: rows are the reference (human) score 1..5, columns the prediction."""
    ref, pred = _pair(reference, prediction)
    if ref.size == 0:
        return np.zeros((_K, _K), dtype=np.int64)
    return confusion_matrix(ref, pred, labels=list(LABELS)).astype(np.int64)


def spearman(x: ArrayLike, y: ArrayLike) -> float:
    """Spearman's rho (`scipy.stats.spearmanr`); NaN when either side is constant or empty."""
    a = np.asarray(x, dtype=float).reshape(-1)
    b = np.asarray(y, dtype=float).reshape(-1)
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def point_metrics(reference: ArrayLike, prediction: ArrayLike) -> dict[str, float]:
    """Every metric of `METRICS` for one reference/prediction pairing (see the module doc)."""
    ref, pred = _pair(reference, prediction)
    if ref.size == 0:
        return dict.fromkeys(METRICS, float("nan"))
    ref_pos = ref >= POSITIVE_FROM
    pred_pos = pred >= POSITIVE_FROM
    nan = np.nan
    out = {
        "f1_4_5": float(f1_score(ref_pos, pred_pos, zero_division=nan)),
        "precision_4_5": float(precision_score(ref_pos, pred_pos, zero_division=nan)),
        "recall_4_5": float(recall_score(ref_pos, pred_pos, zero_division=nan)),
        "macro_f1_4_5": float(
            f1_score(ref_pos, pred_pos, labels=[False, True], average="macro", zero_division=nan)
        ),
        "macro_f1": float(
            f1_score(ref, pred, labels=list(LABELS), average="macro", zero_division=nan)
        ),
    }
    # Undefined exactly when both sides put everything on one and the same score; sklearn would
    # warn and return NaN, we return NaN without the warning.
    one_score = np.ptp(ref) == 0 and np.ptp(pred) == 0 and ref[0] == pred[0]
    out["qwk"] = (
        nan
        if one_score
        else float(cohen_kappa_score(ref, pred, labels=list(LABELS), weights="quadratic"))
    )
    out["spearman"] = spearman(ref, pred)
    share_pred = float(pred_pos.mean())
    share_human = float(ref_pos.mean())
    out["share_4_5_pred"] = share_pred
    out["share_4_5_human"] = share_human
    out["share_4_5_bias"] = share_pred - share_human
    out["share_4_5_abs_bias"] = abs(share_pred - share_human)
    return {name: out[name] for name in METRICS}


# --- the same metrics from (batches of) confusion matrices ----------------------------------


def _ratio(numerator: NDArray, denominator: NDArray) -> NDArray:
    out = np.full(np.broadcast(numerator, denominator).shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def _midranks(counts: NDArray) -> NDArray:
    """Average rank of each score given its count (ties share the mean of their ranks)."""
    before = np.cumsum(counts, axis=-1) - counts
    return before + (counts + 1) / 2


def confusion_metrics(matrices: ArrayLike) -> dict[str, NDArray]:
    """Every metric of `METRICS` from confusion matrices of shape (..., 5, 5), vectorised.

    Rows are the reference, columns the prediction (as `confusion`). Returns arrays of shape
    `matrices.shape[:-2]`; NaN where a metric is undefined (see the module doc).
    """
    c = np.asarray(matrices, dtype=float)
    if c.shape[-2:] != (_K, _K):
        raise ValueError(f"confusion matrices must be {_K}x{_K}, got {c.shape[-2:]}")
    n = c.sum(axis=(-2, -1))
    rows = c.sum(axis=-1)  # reference counts per score
    cols = c.sum(axis=-2)  # prediction counts per score
    tp = c[..., _POS:, _POS:].sum(axis=(-2, -1))
    fp = c[..., :_POS, _POS:].sum(axis=(-2, -1))
    fn = c[..., _POS:, :_POS].sum(axis=(-2, -1))
    tn = c[..., :_POS, :_POS].sum(axis=(-2, -1))
    binary_f1 = np.stack([_ratio(2 * tn, 2 * tn + fp + fn), _ratio(2 * tp, 2 * tp + fp + fn)])
    binary_present = np.isfinite(binary_f1)
    macro_binary = _ratio(
        np.where(binary_present, binary_f1, 0.0).sum(axis=0), binary_present.sum(axis=0)
    )

    diag = np.diagonal(c, axis1=-2, axis2=-1)
    per_score_f1 = _ratio(2 * diag, rows + cols)  # 2tp / (2tp + fp + fn) per score
    present = np.isfinite(per_score_f1)
    macro = _ratio(np.where(present, per_score_f1, 0.0).sum(axis=-1), present.sum(axis=-1))

    observed = (c * _QW).sum(axis=(-2, -1))
    expected = _ratio(np.einsum("...i,ij,...j->...", rows, _QW, cols), n)
    qwk = 1 - _ratio(observed, expected)

    rank_ref = _midranks(rows)
    rank_pred = _midranks(cols)
    mean_ref = _ratio((rows * rank_ref).sum(axis=-1), n)
    mean_pred = _ratio((cols * rank_pred).sum(axis=-1), n)
    dev_ref = rank_ref - mean_ref[..., None]
    dev_pred = rank_pred - mean_pred[..., None]
    cov = np.einsum("...i,...ij,...j->...", dev_ref, c, dev_pred)
    var_ref = (rows * dev_ref**2).sum(axis=-1)
    var_pred = (cols * dev_pred**2).sum(axis=-1)
    # A constant side has variance 0 up to rounding; treat tiny variances as 0.
    scale = np.maximum(n, 1.0) ** 3 * 1e-12
    var_ref = np.where(var_ref > scale, var_ref, 0.0)
    var_pred = np.where(var_pred > scale, var_pred, 0.0)
    rho = _ratio(cov, np.sqrt(var_ref * var_pred))

    share_pred = _ratio(cols[..., _POS:].sum(axis=-1), n)
    share_human = _ratio(rows[..., _POS:].sum(axis=-1), n)
    out = {
        "f1_4_5": _ratio(2 * tp, 2 * tp + fp + fn),
        "precision_4_5": _ratio(tp, tp + fp),
        "recall_4_5": _ratio(tp, tp + fn),
        "macro_f1_4_5": macro_binary,
        "macro_f1": macro,
        "qwk": qwk,
        "spearman": np.clip(rho, -1.0, 1.0),
        "share_4_5_pred": share_pred,
        "share_4_5_human": share_human,
        "share_4_5_bias": share_pred - share_human,
        "share_4_5_abs_bias": np.abs(share_pred - share_human),
    }
    return {name: np.asarray(out[name], dtype=float) for name in METRICS}


# --- bootstrap ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """A point estimate and its 95% bootstrap interval (NaN where undefined)."""

    value: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float | None]:
        return {
            "value": _json_float(self.value),
            "ci_low": _json_float(self.low),
            "ci_high": _json_float(self.high),
        }


def _json_float(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


def bootstrap_indices(n: int, n_boot: int, seed: int) -> NDArray[np.intp]:
    """`n_boot` resamples of `range(n)` with replacement, shape (n_boot, n); same seed, same."""
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    rng = np.random.default_rng(seed)
    return rng.integers(0, max(n, 1), size=(n_boot, n), dtype=np.intp)


def resampled_confusions(
    reference: ArrayLike, prediction: ArrayLike, indices: NDArray[np.intp]
) -> NDArray[np.int64]:
    """Confusion matrices of every resample, shape (n_boot, 5, 5).

    `reference` and `prediction` hold scores 1..5, or 0 where the pair is missing (a conversation
    without rater k, for the ceiling): a missing pair that is drawn adds nothing.
    """
    ref = np.asarray(reference, dtype=np.intp)
    pred = np.asarray(prediction, dtype=np.intp)
    n_boot = indices.shape[0]
    if ref.size == 0:
        return np.zeros((n_boot, _K, _K), dtype=np.int64)
    drawn_ref = ref[indices]
    drawn_pred = pred[indices]
    valid = (drawn_ref > 0) & (drawn_pred > 0)
    cell = (drawn_ref - 1) * _K + (drawn_pred - 1)
    offset = np.arange(n_boot, dtype=np.intp)[:, None] * (_K * _K)
    counts = np.bincount((cell + offset)[valid], minlength=n_boot * _K * _K)
    return counts.reshape(n_boot, _K, _K).astype(np.int64)


def percentile_interval(samples: ArrayLike, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the finite samples; (NaN, NaN) when there is none."""
    values = np.asarray(samples, dtype=float).reshape(-1)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def resampled_spearman(x: ArrayLike, y: ArrayLike, indices: NDArray[np.intp]) -> NDArray:
    """Spearman's rho of every resample (shape (n_boot,)); NaN where a side is constant."""
    a = np.asarray(x, dtype=float)[indices]
    b = np.asarray(y, dtype=float)[indices]
    ra = rankdata(a, axis=1)
    rb = rankdata(b, axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    cov = (ra * rb).sum(axis=1)
    var = (ra**2).sum(axis=1) * (rb**2).sum(axis=1)
    return np.clip(_ratio(cov, np.sqrt(np.where(var > 1e-9, var, 0.0))), -1.0, 1.0)


# --- the human ceiling ----------------------------------------------------------------------


@dataclass(frozen=True)
class RaterPairs:
    """Leave-one-rater-out pairs, shape (positions, conversations) each.

    `consensus[k, i]` is the consensus of conversation i's raters other than position k, and
    `rater[k, i]` the score of its rater at position k; both 0 where conversation i has no rater
    at position k or fewer than two raters.
    """

    consensus: NDArray[np.int64]
    rater: NDArray[np.int64]
    rule: str

    @property
    def positions(self) -> int:
        return int(self.rater.shape[0])

    @property
    def pairs(self) -> int:
        return int((self.rater > 0).sum())

    def take(self, indices: ArrayLike) -> RaterPairs:
        """The pairs of the conversations at `indices` (a slice)."""
        idx = np.asarray(indices, dtype=np.intp)
        return RaterPairs(self.consensus[:, idx], self.rater[:, idx], self.rule)


def leave_one_rater_out(annotator_scores: Sequence[Sequence[int]], rule: str) -> RaterPairs:
    """The (consensus of the others, rater k) pairs of every conversation and rater position.

    `annotator_scores[i]` lists conversation i's individual ratings (any length; a conversation
    with fewer than two gives no pair). `rule` names a `CONSENSUS_RULES` entry.
    """
    combine = CONSENSUS_RULES[rule]
    n = len(annotator_scores)
    positions = max((len(s) for s in annotator_scores), default=0)
    consensus = np.zeros((positions, n), dtype=np.int64)
    rater = np.zeros((positions, n), dtype=np.int64)
    for i, raw in enumerate(annotator_scores):
        scores = [int(s) for s in _scores(list(raw), "annotator_scores")]
        if len(scores) < 2:
            continue
        for k, score in enumerate(scores):
            consensus[k, i] = combine(scores[:k] + scores[k + 1 :])
            rater[k, i] = score
    return RaterPairs(consensus, rater, rule)


def _weighted_mean(values: NDArray, weights: NDArray) -> NDArray:
    """Mean over axis 0 weighted by `weights`, leaving out NaN values."""
    finite = np.isfinite(values) & (weights > 0)
    total = np.where(finite, weights, 0.0).sum(axis=0)
    summed = np.where(finite, values * weights, 0.0).sum(axis=0)
    return _ratio(summed, total)


def ceiling_confusion(pairs: RaterPairs) -> NDArray[np.int64]:
    """One 5x5 matrix pooling every (others' consensus, rater) pair: rows consensus, cols rater."""
    mask = pairs.rater > 0
    return confusion(pairs.consensus[mask], pairs.rater[mask])


def ceiling_point(pairs: RaterPairs) -> dict[str, float]:
    """The ceiling of every metric: `point_metrics` over the pooled pairs, except
    `share_4_5_abs_bias` (the mean over positions of each position's |bias|; see the module doc).
    """
    mask = pairs.rater > 0
    if not mask.any():
        return dict.fromkeys(METRICS, float("nan"))
    out = point_metrics(pairs.consensus[mask], pairs.rater[mask])
    biases: list[float] = []
    weights: list[int] = []
    for k in range(pairs.positions):
        keep = mask[k]
        if keep.any():
            rater_share = float((pairs.rater[k, keep] >= POSITIVE_FROM).mean())
            others_share = float((pairs.consensus[k, keep] >= POSITIVE_FROM).mean())
            biases.append(abs(rater_share - others_share))
            weights.append(int(keep.sum()))
    out["share_4_5_abs_bias"] = float(np.average(biases, weights=weights))
    return out


def ceiling_from_confusions(matrices: ArrayLike) -> dict[str, NDArray]:
    """The ceiling from per-position confusion matrices of shape (positions, ..., 5, 5): every
    metric on their sum over positions, `share_4_5_abs_bias` as the count-weighted mean of the
    per-position values (as `ceiling_point`)."""
    per_position = np.asarray(matrices, dtype=float)
    out = confusion_metrics(per_position.sum(axis=0))
    weights = per_position.sum(axis=(-2, -1))
    abs_bias = confusion_metrics(per_position)["share_4_5_abs_bias"]
    out["share_4_5_abs_bias"] = _weighted_mean(abs_bias, weights)
    return out


def interval_of(value: float, samples: ArrayLike) -> Interval:
    """An `Interval` from a point estimate and its bootstrap samples."""
    low, high = percentile_interval(samples)
    return Interval(float(value), low, high)
