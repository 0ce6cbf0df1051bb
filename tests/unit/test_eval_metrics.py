"""Eval metrics against hand-computed cases, the bootstrap, the leave-one-rater-out ceiling."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import cohen_kappa_score, f1_score

from evals.metrics import (
    METRICS,
    RaterPairs,
    bootstrap_indices,
    ceiling_confusion,
    ceiling_from_confusions,
    ceiling_point,
    confusion,
    confusion_metrics,
    interval_of,
    leave_one_rater_out,
    majority_low,
    median_low,
    percentile_interval,
    point_metrics,
    resampled_confusions,
    resampled_spearman,
    spearman,
)

# Eight conversations. Human (reference) and judge (prediction):
#   human 1 2 3 4 5 4 3 5
#   judge 1 3 4 4 5 2 3 4
# Rated 4-5: human at positions 3,4,5,7; judge at 2,3,4,7 -> tp = 3 (3,4,7), fp = 1 (2), fn = 1 (5).
HUMAN = [1, 2, 3, 4, 5, 4, 3, 5]
JUDGE = [1, 3, 4, 4, 5, 2, 3, 4]


def test_kpi_decision_hand_computed() -> None:
    m = point_metrics(HUMAN, JUDGE)
    assert m["precision_4_5"] == pytest.approx(3 / 4)
    assert m["recall_4_5"] == pytest.approx(3 / 4)
    assert m["f1_4_5"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 1))
    # "rated 1-3": tn = 3 (0,1,6), fp/fn swap roles -> F1 = 6 / 8; macro = mean of 0.75 and 0.75.
    assert m["macro_f1_4_5"] == pytest.approx(0.75)
    assert m["share_4_5_pred"] == pytest.approx(4 / 8)
    assert m["share_4_5_human"] == pytest.approx(4 / 8)
    assert m["share_4_5_bias"] == pytest.approx(0.0)


def test_macro_f1_over_scores_hand_computed() -> None:
    # Per score: 1: tp1 fp0 fn0 -> 1; 2: tp0 fp1 fn1 -> 0; 3: tp1 fp1 fn1 -> 0.5;
    # 4: tp1 fp2 fn1 -> 0.4; 5: tp1 fp0 fn1 -> 2/3.
    expected = (1 + 0 + 0.5 + 0.4 + 2 / 3) / 5
    assert point_metrics(HUMAN, JUDGE)["macro_f1"] == pytest.approx(expected)


def test_macro_f1_leaves_out_scores_nobody_gave() -> None:
    # Only scores 3 and 4 occur: F1(3) = 2/3 (tp1 fp0 fn1), F1(4) = 0.8 (tp2 fp1 fn0).
    m = point_metrics([3, 3, 4, 4], [3, 4, 4, 4])
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)


def test_quadratic_kappa_hand_computed() -> None:
    # human 1 2 3, judge 1 3 3: observed weighted disagreement (2-3)^2 = 1 over n = 3.
    # Expected: rows (1,1,1,0,0)/3, cols (1,0,2,0,0)/3; sum_ij r_i c_j (i-j)^2 / n =
    # [1*(0 + 2*4) + 1*(1 + 2*1) + 1*(4 + 0)] / 3 = 15 / 3 = 5 -> kappa = 1 - 1/5 = 0.8.
    assert point_metrics([1, 2, 3], [1, 3, 3])["qwk"] == pytest.approx(0.8)


def test_spearman_hand_computed() -> None:
    # Ranks human (1, 2, 3, 4), judge (1, 3, 2, 4): d^2 = 0+1+1+0 = 2 -> 1 - 6*2/(4*15) = 0.8.
    assert point_metrics([1, 2, 3, 4], [1, 3, 2, 4])["spearman"] == pytest.approx(0.8)


def test_kpi_bias_sign() -> None:
    m = point_metrics([3, 3, 3, 4], [4, 4, 3, 4])
    assert m["share_4_5_bias"] == pytest.approx(0.75 - 0.25)
    assert m["share_4_5_abs_bias"] == pytest.approx(0.5)
    assert point_metrics([4, 4, 3, 4], [3, 3, 3, 4])["share_4_5_bias"] == pytest.approx(-0.5)


def test_confusion_rows_are_human() -> None:
    c = confusion(HUMAN, JUDGE)
    assert c.shape == (5, 5)
    assert c.sum() == len(HUMAN)
    assert c[3, 1] == 1  # human 4, judge 2
    assert c[1, 2] == 1  # human 2, judge 3
    assert np.trace(c) == 4


@pytest.mark.parametrize(
    ("human", "judge", "undefined"),
    [
        ([1, 2, 3], [1, 2, 3], {"f1_4_5", "precision_4_5", "recall_4_5"}),
        ([4, 2, 3], [1, 2, 3], {"precision_4_5"}),
        ([1, 2, 3], [4, 2, 3], {"recall_4_5"}),
        ([3, 3, 3], [3, 3, 3], {"f1_4_5", "precision_4_5", "recall_4_5", "qwk", "spearman"}),
        ([3, 3, 3], [1, 2, 3], {"f1_4_5", "precision_4_5", "recall_4_5", "spearman"}),
    ],
)
def test_undefined_metrics_are_nan_not_zero(
    human: list[int], judge: list[int], undefined: set[str]
) -> None:
    m = point_metrics(human, judge)
    assert {name for name, value in m.items() if math.isnan(value)} == undefined


def test_scores_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match=r"prediction must hold scores 1\.\.5"):
        point_metrics([1, 2], [0, 6])
    with pytest.raises(ValueError, match="reference has 2 scores, prediction 3"):
        point_metrics([1, 2], [1, 2, 3])


@pytest.mark.parametrize("seed", range(12))
def test_confusion_path_matches_sklearn_and_scipy(seed: int) -> None:
    """The bootstrap's vectorised metrics equal the scikit-learn/scipy point estimates."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 60))
    # Skewed towards 3, like the real sets; some seeds leave scores (or a whole side) out.
    human = rng.choice([1, 2, 3, 4, 5], size=n, p=[0.05, 0.1, 0.6, 0.15, 0.1])
    judge = rng.choice([2, 3, 4] if seed % 3 else [3], size=n)
    expected = point_metrics(human, judge)
    got = confusion_metrics(confusion(human, judge))
    for name in METRICS:
        assert float(got[name]) == pytest.approx(expected[name], abs=1e-9, nan_ok=True), name
    if np.ptp(judge):
        assert expected["qwk"] == pytest.approx(
            cohen_kappa_score(human, judge, weights="quadratic")
        )
        assert expected["spearman"] == pytest.approx(spearmanr(human, judge).statistic)
    assert expected["f1_4_5"] == pytest.approx(
        f1_score(human >= 4, judge >= 4, zero_division=np.nan), nan_ok=True
    )


def test_consensus_rules() -> None:
    assert median_low([1, 2, 4, 5]) == 2
    assert median_low([3, 5, 4]) == 4
    assert majority_low([4, 4, 2, 2, 5]) == 2
    assert majority_low([5, 5, 3]) == 5
    with pytest.raises(ValueError):
        majority_low([])


def test_bootstrap_is_seeded_and_resamples_with_replacement() -> None:
    a = bootstrap_indices(50, 200, seed=7)
    assert a.shape == (200, 50)
    assert np.array_equal(a, bootstrap_indices(50, 200, seed=7))
    assert not np.array_equal(a, bootstrap_indices(50, 200, seed=8))
    assert a.min() >= 0 and a.max() < 50
    assert any(len(set(row)) < 50 for row in a.tolist())


def test_resampled_confusions_count_what_was_drawn() -> None:
    human = np.asarray(HUMAN)
    judge = np.asarray(JUDGE)
    indices = np.asarray([[0, 0, 1], [7, 6, 5]])
    boot = resampled_confusions(human, judge, indices)
    assert np.array_equal(boot[0], confusion([1, 1, 2], [1, 1, 3]))
    assert np.array_equal(boot[1], confusion([5, 3, 4], [4, 3, 2]))
    # A 0 (no rating at this position) adds nothing when drawn.
    gappy = resampled_confusions(np.asarray([0, 3]), np.asarray([0, 4]), np.asarray([[0, 1, 1]]))
    assert gappy.sum() == 2 and gappy[0, 2, 3] == 2


def test_resampled_spearman_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(1, 6, size=40)
    y = x + rng.normal(0, 1.5, size=40)
    indices = bootstrap_indices(40, 20, seed=1)
    got = resampled_spearman(x, y, indices)
    for row, value in zip(indices, got, strict=True):
        assert value == pytest.approx(spearmanr(x[row], y[row]).statistic)
    assert math.isnan(float(resampled_spearman([3, 3], [1, 2], np.asarray([[0, 1]]))[0]))


def test_percentile_interval_and_interval_of() -> None:
    samples = np.arange(1001, dtype=float)  # 0..1000
    assert percentile_interval(samples) == pytest.approx((25.0, 975.0))
    assert all(math.isnan(v) for v in percentile_interval([np.nan, np.nan]))
    interval = interval_of(0.5, [np.nan, *np.linspace(0, 1, 101)])
    assert (interval.low, interval.high) == pytest.approx((0.025, 0.975))
    assert interval.as_dict() == {"value": 0.5, "ci_low": interval.low, "ci_high": interval.high}


# --- the human ceiling on a fixture ---------------------------------------------------------
#
# Three conversations rated by three, three and two raters (majority, ties to the lower score):
#   c0: 4 4 2   leave out k=0 -> others (4, 2) -> 2; k=1 -> (4, 2) -> 2; k=2 -> (4, 4) -> 4
#   c1: 3 5 5   k=0 -> (5, 5) -> 5;              k=1 -> (3, 5) -> 3; k=2 -> (3, 5) -> 3
#   c2: 5 1     k=0 -> (1) -> 1;                 k=1 -> (5) -> 5
# Pairs (consensus, rater): (2,4) (5,3) (1,5) | (2,4) (3,5) (5,1) | (4,2) (3,5)
RATINGS = [[4, 4, 2], [3, 5, 5], [5, 1]]


def test_leave_one_rater_out_pairs() -> None:
    pairs = leave_one_rater_out(RATINGS, "majority_low")
    assert pairs.positions == 3 and pairs.pairs == 8
    assert pairs.consensus.tolist() == [[2, 5, 1], [2, 3, 5], [4, 3, 0]]
    assert pairs.rater.tolist() == [[4, 3, 5], [4, 5, 1], [2, 5, 0]]


def test_leave_one_rater_out_median_low_hand_computed() -> None:
    # [1, 2, 4, 5]: without 1 -> (2, 4, 5) -> 4; without 2 -> (1, 4, 5) -> 4;
    # without 4 -> (1, 2, 5) -> 2; without 5 -> (1, 2, 4) -> 2.
    pairs = leave_one_rater_out([[1, 2, 4, 5]], "median_low")
    assert pairs.consensus[:, 0].tolist() == [4, 4, 2, 2]


def test_ceiling_pools_the_pairs() -> None:
    pairs = leave_one_rater_out(RATINGS, "majority_low")
    ceiling = ceiling_point(pairs)
    # Pooled, the rater rates 4-5 in (2,4) (1,5) (2,4) (3,5) (3,5): 5 pairs; the others'
    # consensus is 4-5 in (5,3) (5,1) (4,2): 3 pairs; never both -> tp 0, fp 5, fn 3 -> F1 0.
    assert ceiling["f1_4_5"] == pytest.approx(0.0)
    assert ceiling["precision_4_5"] == pytest.approx(0.0)
    assert ceiling["share_4_5_pred"] == pytest.approx(5 / 8)
    assert ceiling["share_4_5_human"] == pytest.approx(3 / 8)
    assert ceiling["share_4_5_bias"] == pytest.approx(2 / 8)
    # |bias| per position: k0 rater (4,3,5) 2/3 vs others (2,5,1) 1/3 -> 1/3;
    # k1 rater (4,5,1) 2/3 vs (2,3,5) 1/3 -> 1/3; k2 rater (2,5) 1/2 vs (4,3) 1/2 -> 0.
    # Weighted by 3, 3, 2 conversations: (1/3*3 + 1/3*3 + 0*2) / 8 = 0.25.
    assert ceiling["share_4_5_abs_bias"] == pytest.approx(0.25)
    assert ceiling_confusion(pairs).sum() == 8
    # Pooled, not averaged per position (that would give (-0.5*3 - 0.8*3 - 0.6*2) / 8 = -0.6375).
    assert ceiling["qwk"] == pytest.approx(point_metrics(*_pooled(pairs))["qwk"])
    assert ceiling["qwk"] == pytest.approx(-0.70992, abs=1e-5)


def _pooled(pairs: RaterPairs) -> tuple[np.ndarray, np.ndarray]:
    mask = pairs.rater > 0
    return pairs.consensus[mask], pairs.rater[mask]


def test_ceiling_bootstrap_path_matches_the_point_estimate() -> None:
    rng = np.random.default_rng(11)
    ratings = [list(rng.integers(1, 6, size=int(rng.integers(2, 6)))) for _ in range(40)]
    pairs = leave_one_rater_out(ratings, "majority_low")
    identity = np.arange(40)[None, :]
    per_position = np.stack(
        [resampled_confusions(pairs.consensus[k], pairs.rater[k], identity) for k in range(5)]
    )
    got = ceiling_from_confusions(per_position)
    expected = ceiling_point(pairs)
    for name in METRICS:
        assert float(got[name][0]) == pytest.approx(expected[name], abs=1e-9, nan_ok=True), name


def test_one_rater_gives_no_pair() -> None:
    pairs = leave_one_rater_out([[4], [3, 3]], "majority_low")
    assert pairs.pairs == 2
    assert pairs.rater[:, 0].tolist() == [0, 0]
    empty = leave_one_rater_out([[4], [5]], "majority_low")
    assert all(math.isnan(v) for v in ceiling_point(empty).values())


def test_spearman_nan_on_constant_side() -> None:
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
