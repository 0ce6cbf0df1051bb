"""The trained judge, out of fold: each labelled conversation scored by a model that never saw it.

`python -m evals --judge trained --cross-fit` measures the trained judge with the full metric
suite (F1 with intervals, QWK, macro-F1, the human ceiling, sub-score validity) instead of the
in-sample figures `--judge trained` gives on the sets it learnt from. The labelled data the
trained judge learns from (the public sets in `CX_DATA_DIR`, and `CX_JUDGE_OWN_LABELS`) is split
as `orchestration.judge.trained.train` splits it for its own report (`grouped_folds`: stratified
by set and label, grouped by dialogue id); one model is fitted per fold on the other folds, and a
conversation is judged by the model of the fold that held it out. A conversation that is not
among the training data (an `--input` file of other conversations) is judged by a model fitted
on all of it, which is not in-sample either. The verdicts are the trained judge's own
(`TrainedJudge`), so rationales and sub-scores are what the pipeline would write.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from orchestration.contract.models import Conversation
from orchestration.judge.base import BatchJudge, JudgeError
from orchestration.judge.offline import OfflineJudge
from orchestration.judge.trained import TrainedJudge
from orchestration.judge.trained.artifact import FORMAT_VERSION
from orchestration.judge.trained.data import LabelledData, load_labelled
from orchestration.judge.trained.features import Observed, observe_many
from orchestration.judge.trained.model import fit_model
from orchestration.judge.trained.train import FOLDS, grouped_folds, training_targets
from orchestration.judge.verdict import Verdict

__all__ = ["CrossFittedJudge"]


class CrossFittedJudge(BatchJudge):
    """The trained judge with one model per fold; see the module doc."""

    kind = "offline"
    name = "cx-offline-trained"
    model = None
    #: Nothing is in-sample: every labelled conversation is judged by a model fitted without it.
    training_sets: tuple[str, ...] = ()

    def __init__(
        self,
        data_dir: Path,
        own_labels: Path | None = None,
        folds: int = FOLDS,
        seed: int = 0,
    ) -> None:
        self.rule = OfflineJudge()
        data = load_labelled(Path(data_dir), own_labels)
        observed = observe_many(self.rule, [e.conversation for e in data.examples])
        keep = [i for i, o in enumerate(observed) if isinstance(o, Observed)]
        self._data = LabelledData([data.examples[i] for i in keep])
        self._observed: list[Observed] = [observed[i] for i in keep]  # type: ignore[misc]
        ids = [e.conversation.conversation_id for e in self._data.examples]
        if len(set(ids)) != len(ids):
            raise ValueError("labelled conversations share a conversation_id; cannot cross-fit")
        self._seed = seed
        self.splits = grouped_folds(self._data.examples, seed, folds)
        self.fold_of = {ids[i]: fold for fold, (_, held) in enumerate(self.splits) for i in held}
        #: Per fold, the ids its model was fitted on (the tests check none is judged by it).
        self.trained_on = [{ids[i] for i in train} for train, _ in self.splits]
        self._judges: dict[int, TrainedJudge] = {}
        self._card = {"version": f"{FORMAT_VERSION}+crossfit{len(self.splits)}-seed{seed}"}
        self.version = f"{self._card['version']}+{self.rule.version}"

    def _judge_for(self, fold: int) -> TrainedJudge:
        """The judge of one fold (-1: fitted on all the labelled data), built on first use."""
        if fold not in self._judges:
            rows = self.splits[fold][0] if fold >= 0 else list(range(len(self._data.examples)))
            examples = [self._data.examples[i] for i in rows]
            model = fit_model(
                [self._observed[i] for i in rows], training_targets(examples), seed=self._seed
            )
            self._judges[fold] = TrainedJudge(model, self._card, rule=self.rule)
        return self._judges[fold]

    def judge_many(self, conversations: Sequence[Conversation]) -> list[Verdict | JudgeError]:
        by_fold: dict[int, list[int]] = {}
        for index, conversation in enumerate(conversations):
            by_fold.setdefault(self.fold_of.get(conversation.conversation_id, -1), []).append(index)
        results: list[Verdict | JudgeError | None] = [None] * len(conversations)
        for fold, indices in sorted(by_fold.items()):
            judged = self._judge_for(fold).judge_many([conversations[i] for i in indices])
            for index, result in zip(indices, judged, strict=True):
                results[index] = result
        return results  # type: ignore[return-value]
