"""How many of its own labels a new source needs: the trained judge's learning curve.

    python -m evals.labels_needed [--source stc3_dev] [--sizes 0 25 50 100 150 200]
                                  [--draws 5] [--seed 0] [--out FILE.json]

A team's conversations are a source no public label comes from. This plays that part with one
labelled source of `CX_DATA_DIR` (a set, `stc3_dev`, or a family, `uss`): the judge is trained
on every other source plus n of the source's conversations drawn at random, those n as a
training set of their own (what `--own-labels` makes of a team's file: its own family model and
share cut, `own_labels`), and scored on the rest of the source, which it never saw. n = 0 is
leave-one-dataset-out. Each n > 0 is drawn `--draws` times (numpy's seeded generator), since
a few dozen labels can hold two or three conversations rated 4-5. Prints F1 of "rated 4-5" and
the predicted share of 4-5 per n (mean, min, max over the draws) and writes them as JSON with
`--out`. Nothing here is tuned: each fit is `fit_model` as the training command runs it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import f1_score, roc_auc_score

from orchestration.judge.offline import OfflineJudge
from orchestration.judge.trained.data import LabelledData, load_labelled
from orchestration.judge.trained.features import Observed, observe_many
from orchestration.judge.trained.model import family_of, fit_model
from orchestration.judge.trained.train import spread, training_targets
from orchestration.settings import get_settings

__all__ = ["OWN_SET", "label_curve", "main"]

#: The training set (and family) the drawn conversations form, as an own-labels file would.
OWN_SET = "own_labels"
DEFAULT_SIZES = (0, 25, 50, 100, 150, 200)


def _source_rows(data: LabelledData, source: str) -> np.ndarray:
    sets = [e.set_name for e in data.examples]
    rows = np.flatnonzero([s == source or family_of(s) == source for s in sets])
    if rows.size == 0:
        known = sorted(set(sets) | {family_of(s) for s in sets})
        raise ValueError(f"no labelled conversations of source {source!r}; known: {known}")
    return rows


def _one(
    data: LabelledData,
    observed: Sequence[Observed],
    others: np.ndarray,
    drawn: np.ndarray,
    scored: np.ndarray,
    seed: int,
) -> dict[str, Any]:
    """Train on `others` plus `drawn` (as the set `OWN_SET`), score `scored`."""
    train = np.concatenate([others, drawn])
    examples = [data.examples[i] for i in train]
    sets = [e.set_name for e in examples[: len(others)]] + [OWN_SET] * len(drawn)
    targets = dataclasses.replace(training_targets(examples), sets=np.array(sets))
    model = fit_model([observed[i] for i in train], targets, seed=seed)
    prediction = model.predict([observed[i] for i in scored])
    truth = np.array([data.examples[i].score >= 4 for i in scored])
    both = bool(truth.any() and not truth.all())
    return {
        "f1_4_5": float(f1_score(truth, prediction.positive, zero_division=0.0)),
        "auc_4_5": float(roc_auc_score(truth, prediction.probability)) if both else None,
        "predicted_share_4_5": float(prediction.positive.mean()),
        "human_share_4_5": float(truth.mean()),
        "own_family": OWN_SET in model.families,
        "drawn": [data.examples[i].conversation.conversation_id for i in drawn],
        "scored": int(scored.size),
    }


def label_curve(
    data: LabelledData,
    observed: Sequence[Observed],
    source: str,
    sizes: Sequence[int] = DEFAULT_SIZES,
    draws: int = 5,
    seed: int = 0,
) -> dict[str, Any]:
    """Per n in `sizes`: the judge trained on the other sources plus n drawn conversations of
    `source`, scored on the rest of it (see the module doc)."""
    if len(observed) != len(data.examples):
        raise ValueError("one observation per labelled example is needed")
    rows = _source_rows(data, source)
    others = np.setdiff1d(np.arange(len(data.examples)), rows)
    if others.size == 0:
        raise ValueError(f"source {source!r} is all the labelled data: nothing to transfer from")
    too_many = [n for n in sizes if n < 0 or n >= rows.size]
    if too_many:
        raise ValueError(
            f"sizes {too_many} out of range: source {source!r} has {rows.size} conversations"
        )
    rng = np.random.default_rng(seed)
    points = []
    for n in sizes:
        runs = []
        for _ in range(draws if n else 1):
            drawn = np.sort(rng.choice(rows, size=n, replace=False)) if n else rows[:0]
            scored = np.setdiff1d(rows, drawn)
            runs.append(_one(data, observed, others, drawn, scored, seed))
        points.append(
            {
                "n": int(n),
                "draws": len(runs),
                "f1_4_5": spread([r["f1_4_5"] for r in runs]),
                "predicted_share_4_5": spread([r["predicted_share_4_5"] for r in runs]),
                "human_share_4_5": spread([r["human_share_4_5"] for r in runs]),
                "own_family_fitted": sum(r["own_family"] for r in runs),
                "runs": runs,
            }
        )
    return {
        "source": source,
        "source_conversations": int(rows.size),
        "trained_with": sorted({data.examples[i].set_name for i in others}),
        "seed": seed,
        "points": points,
    }


def format_curve(curve: dict[str, Any]) -> str:
    lines = [
        f"own labels of {curve['source']} ({curve['source_conversations']} labelled), trained "
        f"with {', '.join(curve['trained_with'])}; scored on the rest of the source",
        f"  {'n':>5}  {'draws':>5}  {'F1 4-5 mean (min-max)':<24}  {'pred 4-5':>8}  "
        f"{'human 4-5':>9}  own family",
    ]
    for p in curve["points"]:
        f1 = p["f1_4_5"]
        lines.append(
            f"  {p['n']:>5}  {p['draws']:>5}  "
            f"{f1['mean']:.3f} ({f1['min']:.2f}-{f1['max']:.2f}){'':<8}  "
            f"{p['predicted_share_4_5']['mean']:>8.1%}  {p['human_share_4_5']['mean']:>9.1%}  "
            f"{p['own_family_fitted']}/{p['draws']}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m evals.labels_needed", description=__doc__)
    parser.add_argument("--source", default="stc3_dev", help="a labelled set or family")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--draws", type=int, default=5, help="random draws per n > 0")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, default=settings.data_dir)
    parser.add_argument("--out", type=Path, help="write the curve as JSON here")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    data = load_labelled(args.data_dir)
    observed = observe_many(OfflineJudge(), [e.conversation for e in data.examples])
    try:
        curve = label_curve(data, observed, args.source, args.sizes, args.draws, args.seed)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_curve(curve))
    print(f"done in {time.perf_counter() - started:.1f} s")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(curve, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
