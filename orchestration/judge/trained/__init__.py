"""The trained offline judge: the rule judge's observations, an overall score learnt from people.

No Dagster here. `python -m orchestration.judge.trained.train` trains it on the labelled public
sets in `CX_DATA_DIR` and prints its out-of-fold report; `load_trained_judge()` returns it (a
`Judge`), training it first when the artifact in `CX_MODEL_DIR` is missing.
"""

from __future__ import annotations

from orchestration.judge.trained.data import NoLabelledDataError
from orchestration.judge.trained.judge import TrainedJudge, load_trained_judge

__all__ = ["NoLabelledDataError", "TrainedJudge", "load_trained_judge"]
