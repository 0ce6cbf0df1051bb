"""Train the judge on the labelled public sets and report it out of sample.

    python -m orchestration.judge.trained.train [--seed 0] [--repeats 1] [--out DIR]
                                                [--data-dir DIR]

Reads every labelled set in `CX_DATA_DIR` (`data.load_labelled`), writes the artifact to `--out`
(default `CX_MODEL_DIR`, `data/models/`, git-ignored: it holds n-grams of the helpdesk texts,
whose terms are non-commercial research only) and prints the out-of-fold report:

    grouped K-fold  the pooled data split into `FOLDS` folds (stratified by set and label,
                    grouped by dialogue id); each fold is scored by a model fitted on the others.
    leave-one-dataset-out  each source held out whole (the helpdesk set, USS, and each USS
                    subset), scored by a model fitted on the rest: no label from that source.

Per set: F1 of "rated 4-5" against the consensus label, the predicted and human share of 4-5,
and the AI-vs-human gap (USS SGD is the AI-handled set). Every model in the report, threshold
included, is fitted on its training side only (`model.fit_model`). The same figures go into the
JSON card beside the artifact, with the seed, the training sets and the artifact's hash.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

from orchestration.judge.offline import OfflineJudge
from orchestration.judge.rubric import efficiency_score, resolution_score
from orchestration.judge.trained.artifact import ARTIFACT_NAME, CARD_NAME, FORMAT_VERSION
from orchestration.judge.trained.data import (
    LabelledData,
    LabelledExample,
    NoLabelledDataError,
    load_labelled,
)
from orchestration.judge.trained.features import Observed, observe_many
from orchestration.judge.trained.model import (
    SUBSCORES,
    Targets,
    TrainedModel,
    family_of,
    fit_model,
)

__all__ = [
    "ARTIFACT_NAME",
    "CARD_NAME",
    "FORMAT_VERSION",
    "TrainingResult",
    "evaluate",
    "format_report",
    "grouped_folds",
    "main",
    "model_digest",
    "spread",
    "train",
    "training_targets",
]

log = logging.getLogger(__name__)

FOLDS = 5
#: The issue's reference points (F1 of "rated 4-5", out of fold), for the report's last column.
REFERENCE = {
    "stc3_dev": {"single_rater": 0.53, "tfidf_logreg": 0.66, "target": 0.70},
    "uss": {"single_rater": 0.38, "tfidf_logreg": 0.31, "target": 0.40},
}
AI_SET = "uss_SGD"


@dataclass(frozen=True, slots=True)
class TrainingResult:
    model: TrainedModel
    card: dict[str, Any]
    artifact: Path
    card_path: Path


def training_targets(examples: Sequence[LabelledExample]) -> Targets:
    """What the model learns from these examples (label, raters' mean, sub-scores, sets)."""
    subscores = {
        name: np.array(
            [np.nan if getattr(e, name) is None else getattr(e, name) for e in examples],
            dtype=np.float64,
        )
        for name in SUBSCORES
    }
    return Targets(
        positive=np.array([e.score >= 4 for e in examples], dtype=bool),
        mean=np.array([e.score_mean for e in examples], dtype=np.float64),
        subscores=subscores,
        sets=np.array([e.set_name for e in examples]),
        turns=[np.asarray(e.turn_scores, dtype=np.float64) for e in examples],
        share=np.array([e.positive_share for e in examples], dtype=np.float64),
    )


def _set_metrics(
    truth: np.ndarray, predicted: np.ndarray, probability: np.ndarray, unfamiliar: np.ndarray
) -> dict[str, Any]:
    """F1 of "rated 4-5" and the share bias; beside them what F1 alone hides: the F1 of calling
    every conversation 4-5 (2p / (1 + p) for a human share p: the trivial baseline), and the
    ROC AUC of P(4-5) (how well the model ranks, whatever the cut; 0.5 is chance; None when the
    set has one class only); and the share of conversations unfamiliar to the model (scored by
    the rubric rule, `model.UNFAMILIAR_QUANTILE`)."""
    share, predicted_share = float(truth.mean()), float(predicted.mean())
    both = bool(truth.any() and not truth.all())
    return {
        "n": int(truth.size),
        "f1_4_5": round(float(f1_score(truth, predicted, zero_division=0.0)), 4),
        "f1_all_4_5": round(2 * share / (1 + share), 4),
        "auc_4_5": round(float(roc_auc_score(truth, probability)), 4) if both else None,
        "human_share_4_5": round(share, 4),
        "predicted_share_4_5": round(predicted_share, 4),
        "share_bias_points": round(100 * (predicted_share - share), 2),
        "unfamiliar_share": round(float(unfamiliar.mean()), 4),
    }


def _handler_gap(
    examples: Sequence[LabelledExample], truth: np.ndarray, predicted: np.ndarray
) -> dict[str, Any] | None:
    """(predicted AI share 4-5 - human-handled share) minus the same gap in the human labels."""
    ai = np.array([e.handler == "ai" for e in examples])
    if ai.all() or not ai.any():
        return None
    judge_gap = predicted[ai].mean() - predicted[~ai].mean()
    human_gap = truth[ai].mean() - truth[~ai].mean()
    return {
        "judge_gap_points": round(100 * float(judge_gap), 2),
        "human_gap_points": round(100 * float(human_gap), 2),
        "excess_points": round(100 * float(judge_gap - human_gap), 2),
    }


def _report_block(
    examples: Sequence[LabelledExample],
    truth: np.ndarray,
    predicted: np.ndarray,
    probability: np.ndarray,
    unfamiliar: np.ndarray,
) -> dict[str, Any]:
    sets = np.array([e.set_name for e in examples])
    families = np.array([family_of(s) for s in sets])
    groups = {s: sets == s for s in sorted(set(sets))}
    groups |= {f: families == f for f in sorted(set(families)) if f not in groups}
    per_set = {
        name: _set_metrics(truth[rows], predicted[rows], probability[rows], unfamiliar[rows])
        for name, rows in groups.items()
    }
    uss = families == "uss"
    return {
        "sets": per_set,
        "ai_vs_human": _handler_gap(
            [e for e, keep in zip(examples, uss, strict=True) if keep], truth[uss], predicted[uss]
        )
        if uss.any()
        else None,
    }


def grouped_folds(
    examples: Sequence[LabelledExample], seed: int, folds: int = FOLDS
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(training rows, held-out rows) of each fold: stratified by set and label, grouped by
    dialogue id (no dialogue on both sides); fewer folds when a stratum is smaller."""
    truth = [e.score >= 4 for e in examples]
    strata = np.array([f"{e.set_name}:{int(t)}" for e, t in zip(examples, truth, strict=True)])
    groups = np.array([e.group for e in examples])
    smallest = min(int(np.sum(strata == s)) for s in set(strata))
    split = StratifiedGroupKFold(max(2, min(folds, smallest)), shuffle=True, random_state=seed)
    return list(split.split(np.zeros(len(examples)), strata, groups))


def evaluate(
    data: LabelledData, observed: Sequence[Observed], seed: int = 0, repeats: int = 1
) -> dict[str, Any]:
    """Out-of-fold figures: grouped K-fold over the pooled sets and leave-one-dataset-out.

    `repeats` > 1 repeats the grouped K-fold with seeds `seed`, `seed + 1`, ...: one split of a
    few hundred conversations moves F1 by several points (the helpdesk set has 41 rated 4-5), so
    `grouped_kfold.repeated` gives each set's F1 and share bias over every split (mean, min,
    max); the rest of `grouped_kfold` is the first split's.
    """
    examples = data.examples
    targets = training_targets(examples)
    truth = targets.positive
    sets = np.array([e.set_name for e in examples])
    report: dict[str, Any] = {}

    blocks = []
    for split_seed in range(seed, seed + max(1, repeats)):
        predicted = np.zeros(len(examples), dtype=bool)
        probability = np.zeros(len(examples))
        unfamiliar = np.zeros(len(examples), dtype=bool)
        expected_sub = {name: np.full(len(examples), np.nan) for name in SUBSCORES}
        splits = grouped_folds(examples, split_seed)
        folds = len(splits)
        for train_idx, test_idx in splits:
            model = fit_model(
                [observed[i] for i in train_idx], targets.take(train_idx), seed=split_seed
            )
            prediction = model.predict([observed[i] for i in test_idx])
            predicted[test_idx] = prediction.positive
            probability[test_idx] = prediction.probability
            unfamiliar[test_idx] = prediction.unfamiliar
            for name, values in prediction.subscores.items():
                expected_sub[name][test_idx] = values
        block = {
            "folds": folds,
            "seed": split_seed,
            **_report_block(examples, truth, predicted, probability, unfamiliar),
        }
        block["subscores"] = _subscore_report(examples, observed, targets, expected_sub)
        blocks.append(block)
    report["grouped_kfold"] = blocks[0]
    if len(blocks) > 1:
        report["grouped_kfold"]["repeated"] = {
            "seeds": [b["seed"] for b in blocks],
            "sets": {
                name: {
                    key: spread([b["sets"][name][key] for b in blocks])
                    for key in ("f1_4_5", "share_bias_points", "auc_4_5")
                    if all(b["sets"][name][key] is not None for b in blocks)
                }
                for name in blocks[0]["sets"]
            },
        }

    holdouts: dict[str, np.ndarray] = {}
    families = np.array([family_of(s) for s in sets])
    for family in sorted(set(families)):
        holdouts[family] = families == family
    for name in sorted(set(sets)):
        if name not in holdouts:
            holdouts[name] = sets == name
    lodo: dict[str, Any] = {}
    for name, held in holdouts.items():
        train_idx, test_idx = np.flatnonzero(~held), np.flatnonzero(held)
        if train_idx.size == 0 or truth[train_idx].all() or not truth[train_idx].any():
            continue
        model = fit_model([observed[i] for i in train_idx], targets.take(train_idx), seed)
        prediction = model.predict([observed[i] for i in test_idx])
        held_examples = [examples[i] for i in test_idx]
        block = _report_block(
            held_examples,
            truth[test_idx],
            prediction.positive,
            prediction.probability,
            prediction.unfamiliar,
        )
        lodo[name] = {"trained_on": sorted(set(sets[train_idx])), **block}
    report["leave_one_dataset_out"] = lodo
    return report


def spread(values: Sequence[float]) -> dict[str, float]:
    """Mean, min and max, rounded to 4 places (figures over repeated splits or draws)."""
    return {
        "mean": round(float(np.mean(values)), 4),
        "min": round(float(np.min(values)), 4),
        "max": round(float(np.max(values)), 4),
    }


def _subscore_report(
    examples: Sequence[LabelledExample],
    observed: Sequence[Observed],
    targets: Targets,
    predicted: dict[str, np.ndarray],
) -> dict[str, Any]:
    """Mean absolute error of the model's sub-scores and of the rule's, where labels exist."""
    rule = {
        "resolution": np.array([resolution_score(o.body) for o in observed], dtype=np.float64),
        "efficiency": np.array([efficiency_score(o.body) for o in observed], dtype=np.float64),
    }
    out: dict[str, Any] = {}
    for name in SUBSCORES:
        truth = targets.subscores[name]
        known = ~np.isnan(truth) & ~np.isnan(predicted[name])
        if not known.any():
            continue
        out[name] = {
            "n": int(known.sum()),
            "model_mae": round(float(np.abs(predicted[name][known] - truth[known]).mean()), 3),
            "rule_mae": round(float(np.abs(rule[name][known] - truth[known]).mean()), 3),
        }
    return out


def format_report(report: dict[str, Any]) -> str:
    """The out-of-fold report as the training command prints it."""
    lines = []
    for title, key in (("grouped K-fold", "grouped_kfold"), ("leave-one-dataset-out", None)):
        blocks = (
            {"": report[key]} if key else report["leave_one_dataset_out"]
        )  # LODO: one block per held-out source
        lines.append(
            f"{title}" + (f" ({report[key]['folds']} folds)" if key else " (no label from it)")
        )
        lines.append(
            f"  {'set':<12}{'n':>6}{'F1 4-5':>9}{'all-4-5 F1':>12}{'AUC':>7}{'pred 4-5':>10}"
            f"{'human 4-5':>11}{'bias pts':>10}{'unfamiliar':>12}  reference"
        )
        for held, block in blocks.items():
            for name, m in block["sets"].items():
                if held and name != held:
                    continue
                ref = REFERENCE.get(name)
                ref_text = (
                    f"single rater {ref['single_rater']:.2f}, tf-idf+LR {ref['tfidf_logreg']:.2f}, "
                    f"target {ref['target']:.2f}"
                    if ref
                    else ""
                )
                auc = "-" if m["auc_4_5"] is None else f"{m['auc_4_5']:.2f}"
                lines.append(
                    f"  {name:<12}{m['n']:>6}{m['f1_4_5']:>9.2f}{m['f1_all_4_5']:>12.2f}{auc:>7}"
                    f"{m['predicted_share_4_5']:>10.1%}{m['human_share_4_5']:>11.1%}"
                    f"{m['share_bias_points']:>+10.1f}{m['unfamiliar_share']:>12.1%}  {ref_text}"
                )
            gap = block.get("ai_vs_human")
            if gap and (not held or held == "uss"):
                lines.append(
                    f"  AI vs human-handled (USS): judge gap {gap['judge_gap_points']:+.1f} pts, "
                    f"humans' gap {gap['human_gap_points']:+.1f} pts, "
                    f"excess {gap['excess_points']:+.1f} pts"
                )
        repeated = report[key].get("repeated") if key else None
        if repeated:
            lines.append(
                f"  over {len(repeated['seeds'])} splits (seeds {repeated['seeds'][0]}-"
                f"{repeated['seeds'][-1]}): F1 4-5 mean (min-max), share bias mean, AUC mean"
            )
            for name, m in repeated["sets"].items():
                f1 = m["f1_4_5"]
                auc = f"{m['auc_4_5']['mean']:>7.2f}" if "auc_4_5" in m else f"{'-':>7}"
                lines.append(
                    f"  {name:<12}{f1['mean']:>9.3f} ({f1['min']:.2f}-{f1['max']:.2f})"
                    f"{m['share_bias_points']['mean']:>+10.1f}{auc}"
                )
        if key:
            for name, m in report[key].get("subscores", {}).items():
                lines.append(
                    f"  sub-score {name} (helpdesk raters, n={m['n']}): model MAE "
                    f"{m['model_mae']:.2f}, rule MAE {m['rule_mae']:.2f}"
                )
    return "\n".join(lines)


def _write_atomic(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(payload)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the artifact is no secret
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def train(
    data_dir: Path,
    out_dir: Path,
    seed: int = 0,
    report: bool = True,
    repeats: int = 1,
    own_labels: Path | None = None,
) -> TrainingResult:
    """Fit the judge's model on every labelled set in `data_dir`; write artifact and card.

    With `report`, the out-of-fold figures are computed first (a few more fits; `repeats` grouped
    K-fold splits, see `evaluate`) and go into the card. `own_labels`: a folder of your own
    labelled contract JSONL files, one more training set and family each
    (`data.load_own_labels`). Raises `data.NoLabelledDataError` when there is no labelled set.
    """
    started = time.perf_counter()
    data = load_labelled(Path(data_dir), own_labels)
    rule = OfflineJudge()
    observed_or_errors = observe_many(rule, [e.conversation for e in data.examples])
    keep = [i for i, o in enumerate(observed_or_errors) if isinstance(o, Observed)]
    if len(keep) < len(data.examples):
        log.warning(
            "%d labelled conversations have no customer text to judge; left out",
            len(data.examples) - len(keep),
        )
    data = LabelledData([data.examples[i] for i in keep])
    observed: list[Observed] = [observed_or_errors[i] for i in keep]  # type: ignore[misc]

    evaluation = evaluate(data, observed, seed, repeats) if report else None
    model = fit_model(observed, training_targets(data.examples), seed=seed)
    vectorizers = [v for f in model.families.values() for v in f.vectorizers.values()]
    if model.turns is not None:
        vectorizers.append(model.turns.vectorizer)
    for vectorizer in [*vectorizers, *([model.router] if model.router is not None else [])]:
        vectorizer.stop_words_ = None  # the cut terms: not needed to score, and texts of the sets
    buffer = _dumps(model)
    digest = model_digest(model)
    out_dir = Path(out_dir)
    artifact = out_dir / ARTIFACT_NAME
    card_path = out_dir / CARD_NAME
    sets = data.set_names
    card: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "model_sha256": digest,
        "artifact_sha256": hashlib.sha256(buffer).hexdigest(),
        "version": f"{FORMAT_VERSION}+{digest[:12]}",
        "seed": seed,
        "rule_judge": rule.version,
        "training_sets": sets,
        "training_rows": {s: sum(e.set_name == s for e in data.examples) for s in sets},
        "families": {
            name: {
                "training_sets": family.training_sets,
                "threshold": round(family.threshold, 6),
                "set_thresholds": {
                    set_name: round(float(t), 6)
                    for set_name, t in zip(
                        family.set_names,
                        [] if family.set_thresholds is None else family.set_thresholds,
                        strict=True,
                    )
                },
                "terms": len(family.feature_names),
                "turn_model": family.uses_turns,
                "soft_labels": family.soft_labels,
                "c": family.c,
                "familiar_min": round(family.familiar_min, 6),
            }
            for name, family in model.families.items()
        },
        "subscore_models": model.subscore_names,
        "data_dir": str(data_dir),
        "own_labels": None if own_labels is None else str(own_labels),
        "train_seconds": round(time.perf_counter() - started, 2),
        "out_of_fold": evaluation,
    }
    _write_atomic(artifact, buffer)
    _write_atomic(card_path, (json.dumps(card, indent=2) + "\n").encode())
    return TrainingResult(model=model, card=card, artifact=artifact, card_path=card_path)


def model_digest(model: TrainedModel) -> str:
    """SHA-256 of what the model computes (weights, vocabularies, thresholds), not of its pickle:
    pickles of the same model differ between processes, the judge version must not."""
    sha = hashlib.sha256()

    def add(value: Any) -> None:
        array = np.ascontiguousarray(np.asarray(value, dtype=np.float64))
        sha.update(str(array.shape).encode())
        sha.update(array.tobytes())

    for family_name, family in model.families.items():
        sha.update(family_name.encode())
        add(family.scaler.mean_)
        add(family.scaler.scale_)
        for name in sorted(family.vectorizers):
            add(family.vectorizers[name].idf_)
        sha.update("\n".join(family.feature_names).encode())
        add(family.classifier.coef_)
        add(family.classifier.intercept_)
        add(family.regressor.coef_)
        add(family.regressor.intercept_)
        for name in sorted(family.subscore_models):
            sha.update(name.encode())
            add(family.subscore_models[name].coef_)
            add(family.subscore_models[name].intercept_)
        add(
            [
                family.threshold,
                float(family.uses_turns),
                float(family.soft_labels),
                family.c,
                family.familiar_min,
            ]
        )
        sha.update("\n".join(family.set_names).encode())
        if family.set_thresholds is not None and family.set_centroids is not None:
            add(family.set_thresholds)
            add(family.set_centroids)
    if model.turns is not None:
        turns = model.turns
        add(turns.vectorizer.idf_)
        sha.update("\n".join(turns.vectorizer.get_feature_names_out()).encode())
        add(turns.regressor.coef_)
        add([turns.regressor.intercept_, turns.high, turns.low, turns.default])
    if model.router is not None and model.router_centroids is not None:
        add(model.router.idf_)
        sha.update("\n".join(model.router.get_feature_names_out()).encode())
        add(model.router_centroids)
    return sha.hexdigest()


def _dumps(model: TrainedModel) -> bytes:
    import io

    buffer = io.BytesIO()
    joblib.dump(model, buffer, compress=3)
    return buffer.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    from orchestration.settings import get_settings

    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m orchestration.judge.trained.train")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=settings.trained_model_dir)
    parser.add_argument("--data-dir", type=Path, default=settings.data_dir)
    parser.add_argument(
        "--own-labels",
        type=Path,
        default=settings.judge_own_labels,
        help="folder of your own labelled contract JSONL files (default CX_JUDGE_OWN_LABELS)",
    )
    parser.add_argument(
        "--no-report", action="store_true", help="skip the out-of-fold report (faster)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="grouped K-fold splits to report F1 over (seeds SEED, SEED+1, ...; 5 fits each)",
    )
    parser.add_argument(
        "--skip-without-data",
        action="store_true",
        help="exit 0 with a note when the data folder holds no labelled set (make install)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        result = train(
            args.data_dir,
            args.out,
            seed=args.seed,
            report=not args.no_report,
            repeats=args.repeats,
            own_labels=args.own_labels,
        )
    except NoLabelledDataError as error:
        if not args.skip_without_data:
            raise
        print(f"trained judge not built: {error}; the pipeline will use the rule judge")
        return 0
    card = result.card
    print(
        f"trained judge {card['version']} on {', '.join(card['training_sets'])} "
        f"({sum(card['training_rows'].values()):,} conversations, seed {card['seed']}) "
        f"in {card['train_seconds']:.1f} s -> {result.artifact}"
    )
    if card["out_of_fold"]:
        print(format_report(card["out_of_fold"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
