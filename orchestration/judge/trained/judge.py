"""The trained offline judge: the rule judge's observations, a trained model's overall score.

    sub-scores  the rubric's, from the rule judge's observations (issues, sentiment, tone and
                knowledge, loops, clarifications, hand-offs): explainable, unchanged.
    score       the trained model's (`model.TrainedModel`): P(rated 4-5) against its threshold
                decides 4-5 or not, the expected rater mean picks the number within that side.
    rationale   starts with the model's call: its score, P(4-5) and threshold, what the rubric
                rule alone would have said, the model's helpdesk-trained sub-score estimates when
                it has them, and the three features that pushed P(4-5) most; then the rule
                judge's own rationale (what it found).
    unfamiliar  a conversation whose customer's words the model's vocabulary knows less of than
                for 99% of its training conversations (`model.UNFAMILIAR_QUANTILE`: a source it
                has no labels of) gets the rubric rule's score instead, and says so: held out,
                the model's cut transferred badly (the USS-trained model called 2.7% of the
                helpdesk threads 4-5 for the humans' 13.8%), the rule needs no training data.

`load_trained_judge()` reads the artifact from `CX_MODEL_DIR` and, when it is missing, trains
it first from `CX_DATA_DIR` (logged), so a fresh checkout needs no extra step.
"""

from __future__ import annotations

import fcntl
import json
import logging
import math
import threading
from collections.abc import Sequence
from pathlib import Path

import joblib
from pydantic import ValidationError

from orchestration.contract.models import Conversation
from orchestration.judge.base import BatchJudge, JudgeError
from orchestration.judge.offline import OfflineJudge
from orchestration.judge.rubric import rubric_score, subscores
from orchestration.judge.trained.artifact import ARTIFACT_NAME, CARD_NAME, FORMAT_VERSION
from orchestration.judge.trained.features import Observed, observe_many
from orchestration.judge.trained.model import UNFAMILIAR_QUANTILE, Prediction, TrainedModel
from orchestration.judge.verdict import Verdict

__all__ = ["TrainedJudge", "load_trained_judge"]

log = logging.getLogger(__name__)

#: How a feature reads in a rationale: cue name -> words; text features read as `field "term"`.
CUE_LABELS = {
    "last_thanks": "thanks in the last customer message",
    "last_praise": "praise in the last customer message",
    "last_solved": "customer says it is solved",
    "last_unhappy": "complaint in the last customer message",
    "first_unhappy": "complaint in the first customer message",
    "sentiment_end": "customer's final sentiment",
    "sentiment_start": "customer's opening sentiment",
    "resolved_share": "share of issues resolved",
    "unresolved_share": "share of issues unresolved",
    "turn_mean": "predicted satisfaction over the customer's turns",
    "turn_last": "predicted satisfaction at the last customer turn",
    "turn_last3": "predicted satisfaction over the last three customer turns",
    "turn_min": "the customer's least satisfied turn",
    "turn_max": "the customer's most satisfied turn",
    "turn_weighted": "predicted satisfaction, later turns weighted",
    "turn_high_share": "share of customer turns predicted satisfied",
    "turn_low_share": "share of customer turns predicted dissatisfied",
}
TEXT_LABELS = {"customer": "customer", "last_customer": "last customer msg", "agent": "agent"}
BATCH = 512
_LOCK = threading.Lock()


def _feature_label(name: str) -> str:
    field, _, value = name.partition(":")
    if field == "cue":
        return CUE_LABELS.get(value, value.replace("_", " "))
    return f'{TEXT_LABELS.get(field, field)} "{value}"'


class TrainedJudge(BatchJudge):
    """Offline judge whose overall score comes from a model trained on human ratings."""

    kind = "offline"
    name = "cx-offline-trained"
    model = None

    def __init__(self, model: TrainedModel, card: dict, rule: OfflineJudge | None = None) -> None:
        self._model = model
        self.card = card
        self.rule = rule if rule is not None else OfflineJudge()
        self.training_sets: list[str] = list(card.get("training_sets", []))
        self.version = f"{card['version']}+{self.rule.version}"

    def __repr__(self) -> str:
        return f"TrainedJudge(version={self.version!r}, training_sets={self.training_sets!r})"

    def judge_many(self, conversations: Sequence[Conversation]) -> list[Verdict | JudgeError]:
        results: list[Verdict | JudgeError] = []
        for start in range(0, len(conversations), BATCH):
            results.extend(self._batch(conversations[start : start + BATCH]))
        return results

    def _batch(self, conversations: Sequence[Conversation]) -> list[Verdict | JudgeError]:
        observed = observe_many(self.rule, conversations)
        ok = [i for i, o in enumerate(observed) if isinstance(o, Observed)]
        results: list[Verdict | JudgeError] = list(observed)  # type: ignore[arg-type]
        if not ok:
            return results
        items: list[Observed] = [observed[i] for i in ok]  # type: ignore[misc]
        prediction = self._model.predict(items, explain=True)
        for row, index in enumerate(ok):
            try:
                results[index] = self._verdict(items[row], prediction, row)
            except ValidationError as error:
                results[index] = JudgeError(
                    f"trained judge produced an invalid verdict for "
                    f"{conversations[index].conversation_id!r}: {error.errors()[0]['msg']}",
                    reason="judge_invalid_verdict",
                    raw_output=str(error),
                )
        return results

    def _verdict(self, item: Observed, prediction: Prediction, row: int) -> Verdict:
        body = item.body
        scores = subscores(body)
        score = int(prediction.score[row])
        if prediction.unfamiliar is not None and prediction.unfamiliar[row]:
            known = 1.0 if prediction.familiarity is None else prediction.familiarity[row]
            head = (
                f"Rubric score {score}: the customer's wording is unfamiliar to the model (it "
                f"knows {known:.0%} of their words, fewer than for "
                f"{1 - UNFAMILIAR_QUANTILE:.0%} of its training conversations), so its P(4-5) "
                f"{prediction.probability[row]:.2f} is not used. "
            )
        else:
            head = self._model_head(prediction, row, score, rubric_score(body, scores))
        return Verdict(
            **body.model_dump(exclude={"rationale"}),
            rationale=(head + body.rationale)[:600],
            **scores,
            score=score,
        )

    @staticmethod
    def _model_head(prediction: Prediction, row: int, score: int, rubric: int) -> str:
        """The rationale's opening for a score the model decided: its call and drivers."""
        drivers = ", ".join(
            f"{'+' if weight > 0 else '-'}{_feature_label(name)}"
            for name, weight in prediction.drivers[row]
        )
        estimates = ", ".join(
            f"{name} {values[row]:.1f}"
            for name, values in prediction.subscores.items()
            if not math.isnan(values[row])
        )
        return (
            f"Model score {score} (P(4-5) {prediction.probability[row]:.2f} vs threshold "
            f"{prediction.threshold[row]:.2f}"
            + (f" of {prediction.nearest_set[row]}" if prediction.nearest_set[row] else "")
            + f"; rubric rule alone {rubric}"
            + (f"; model sub-scores {estimates}" if estimates else "")
            + f"). Drivers: {drivers or 'none'}. "
        )


_CACHE: dict[tuple[str, float], TrainedJudge] = {}


def load_trained_judge(
    model_dir: Path | None = None,
    data_dir: Path | None = None,
    seed: int = 0,
    own_labels: Path | None = None,
) -> TrainedJudge:
    """The trained judge from `model_dir` (default `CX_MODEL_DIR`), trained first if missing.

    Missing artifact: trains it from `data_dir` (default `CX_DATA_DIR`) and `own_labels`
    (default `CX_JUDGE_OWN_LABELS`, your own labelled files) with `seed`, logging that it does
    (no out-of-fold report: `python -m orchestration.judge.trained.train` prints one). An
    artifact trained with another own-labels folder (or without one) is stale and retrained.
    No labelled data there: raises `NoLabelledDataError` naming the folder and CX_DATA_DIR.
    """
    from orchestration.settings import get_settings

    settings = get_settings()
    model_dir = Path(model_dir) if model_dir is not None else settings.trained_model_dir
    data_dir = Path(data_dir) if data_dir is not None else settings.data_dir
    if own_labels is None:
        own_labels = settings.judge_own_labels
    artifact, card_path = model_dir / ARTIFACT_NAME, model_dir / CARD_NAME
    with _LOCK:
        if not _is_current(artifact, card_path, own_labels):
            _train_once(model_dir, data_dir, seed, own_labels)
        key = (str(artifact), artifact.stat().st_mtime)
        if key not in _CACHE:
            card = _read_card(card_path)
            if card is None:
                raise RuntimeError(f"trained judge card {card_path} is unreadable")
            _CACHE.clear()
            _CACHE[key] = TrainedJudge(joblib.load(artifact), card)
        return _CACHE[key]


def _is_current(artifact: Path, card_path: Path, own_labels: Path | None) -> bool:
    card = _read_card(card_path)
    wanted = None if own_labels is None else str(own_labels)
    return artifact.is_file() and card is not None and card.get("own_labels") == wanted


def _train_once(model_dir: Path, data_dir: Path, seed: int, own_labels: Path | None) -> None:
    """Train into `model_dir` unless another process does it first (a file lock serialises
    the processes of a multiprocess run that all find the artifact missing)."""
    from orchestration.judge.trained.train import train

    artifact, card_path = model_dir / ARTIFACT_NAME, model_dir / CARD_NAME
    model_dir.mkdir(parents=True, exist_ok=True)
    with (model_dir / ".training.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if _is_current(artifact, card_path, own_labels):
                return  # another process trained it while this one waited
            log.warning(
                "trained judge artifact %s is missing or stale; training it now from "
                "CX_DATA_DIR=%s%s (seed %d)",
                artifact,
                data_dir,
                "" if own_labels is None else f" and CX_JUDGE_OWN_LABELS={own_labels}",
                seed,
            )
            result = train(data_dir, model_dir, seed=seed, report=False, own_labels=own_labels)
            log.warning(
                "trained judge %s written to %s in %.1f s",
                result.card["version"],
                artifact,
                result.card["train_seconds"],
            )
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read_card(path: Path) -> dict | None:
    """The card, or None when it is missing, unreadable or from another format version."""
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(card, dict) or card.get("format") != FORMAT_VERSION:
        return None
    return card
