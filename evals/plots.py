"""PNG plots of one slice: confusion matrices, score distributions, calibration.

Drawn with matplotlib's object API on an Agg canvas (`matplotlib.figure.Figure`, no pyplot), so
nothing here touches global backend state or keeps figures alive.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import NDArray

from evals.evaluate import SliceResult
from evals.metrics import LABELS, POSITIVE_FROM

__all__ = ["plot_calibration", "plot_confusion", "plot_distribution", "plot_slice", "slug"]

_DPI = 110


def slug(text: str) -> str:
    """A file-name-safe form of a data set or slice name (`subset:SGD` -> `subset-SGD`)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=_DPI)
    return path


def _matrix(axes: Axes, counts: NDArray, title: str, ylabel: str, xlabel: str) -> None:
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for row in range(counts.shape[0]):
        for col in range(counts.shape[1]):
            colour = "white" if shares[row, col] > 0.6 else "black"
            axes.text(col, row, f"{counts[row, col]:,}", ha="center", va="center", color=colour)
    ticks = range(len(LABELS))
    axes.set_xticks(ticks, [str(s) for s in LABELS])
    axes.set_yticks(ticks, [str(s) for s in LABELS])
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title, fontsize=10)
    edge = POSITIVE_FROM - LABELS[0] - 0.5
    axes.axhline(edge, color="tab:red", linewidth=0.8, linestyle="--")
    axes.axvline(edge, color="tab:red", linewidth=0.8, linestyle="--")


def plot_confusion(result: SliceResult, path: Path) -> Path:
    """Judge vs human (and, with raters, one rater vs the others' consensus); colour = row share."""
    panels = 2 if result.ceiling_confusion is not None else 1
    figure = _figure(4.6 * panels, 4.4)
    axes = figure.subplots(1, panels, squeeze=False)[0]
    _matrix(
        axes[0],
        result.confusion,
        f"Judge vs human consensus (n={result.n:,})",
        "human score",
        "judge score",
    )
    if result.ceiling_confusion is not None:
        _matrix(
            axes[1],
            result.ceiling_confusion,
            f"One rater vs the others (pairs={result.ceiling_pairs:,})",
            "consensus of the other raters",
            "left-out rater",
        )
    figure.suptitle(f"{result.dataset} / {result.slice}: confusion (dashes: 4-5 boundary)")
    return _save(figure, path)


def _shares(values: NDArray | None) -> NDArray:
    if values is None or values.size == 0:
        return np.zeros(len(LABELS))
    return np.asarray([(values == s).mean() for s in LABELS])


def plot_distribution(result: SliceResult, path: Path) -> Path:
    """Share of each score 1..5: human consensus, judge, and individual raters where known."""
    series = [("human consensus", result.human_scores), ("judge", result.judge_scores)]
    if result.rater_scores is not None:
        series.append(("individual raters", result.rater_scores))
    figure = _figure(6.4, 4.0)
    axes = figure.subplots()
    width = 0.8 / len(series)
    x = np.arange(len(LABELS))
    for offset, (label, values) in enumerate(series):
        shares = _shares(values)
        axes.bar(x + (offset - (len(series) - 1) / 2) * width, shares, width, label=label)
    axes.set_xticks(x, [str(s) for s in LABELS])
    axes.set_xlabel("score")
    axes.set_ylabel("share of conversations")
    axes.set_ylim(0, 1)
    axes.legend()
    axes.set_title(f"{result.dataset} / {result.slice}: score distribution (n={result.n:,})")
    return _save(figure, path)


def plot_calibration(result: SliceResult, path: Path) -> Path:
    """Per judge score: the mean human score (diagonal = calibrated) and the share humans rate
    4-5 (against the overall human share)."""
    figure = _figure(9.0, 4.0)
    left, right = figure.subplots(1, 2)
    x = np.asarray(LABELS)
    counts = np.asarray([(result.judge_scores == s).sum() for s in LABELS])
    mean_human = np.full(len(LABELS), np.nan)
    share_pos = np.full(len(LABELS), np.nan)
    for i, score in enumerate(LABELS):
        members = result.human_scores[result.judge_scores == score]
        if members.size:
            mean_human[i] = members.mean()
            share_pos[i] = (members >= POSITIVE_FROM).mean()
    shown = counts > 0
    left.plot([1, 5], [1, 5], color="grey", linestyle="--", linewidth=0.8, label="calibrated")
    left.plot(x[shown], mean_human[shown], marker="o", label="mean human score")
    for xi, yi, ni in zip(x[shown], mean_human[shown], counts[shown], strict=True):
        left.annotate(f"n={ni:,}", (xi, yi), textcoords="offset points", xytext=(0, 7), ha="center")
    left.set_xlim(0.5, 5.5)
    left.set_ylim(0.5, 5.5)
    left.set_xlabel("judge score")
    left.set_ylabel("mean human score")
    left.legend(loc="upper left")
    right.bar(x[shown], share_pos[shown], color="tab:green", label="humans rate 4-5")
    overall = float((result.human_scores >= POSITIVE_FROM).mean()) if result.n else 0.0
    right.axhline(overall, color="grey", linestyle="--", linewidth=0.8, label="overall human share")
    right.set_xticks(x, [str(s) for s in LABELS])
    right.set_xlim(0.5, 5.5)
    right.set_ylim(0, 1)
    right.set_xlabel("judge score")
    right.set_ylabel("share humans rate 4-5")
    right.legend(loc="upper left")
    figure.suptitle(f"{result.dataset} / {result.slice}: calibration")
    return _save(figure, path)


def plot_slice(result: SliceResult, folder: Path) -> dict[str, Path]:
    """The three plots of a slice, as `<dataset>__<slice>__<kind>.png` in `folder`."""
    stem = f"{slug(result.dataset)}__{slug(result.slice)}"
    return {
        "confusion": plot_confusion(result, folder / f"{stem}__confusion.png"),
        "distribution": plot_distribution(result, folder / f"{stem}__distribution.png"),
        "calibration": plot_calibration(result, folder / f"{stem}__calibration.png"),
    }
