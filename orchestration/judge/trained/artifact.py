"""Where the trained judge's files live and which format they are in (no heavy imports)."""

from __future__ import annotations

__all__ = ["ARTIFACT_NAME", "CARD_NAME", "FORMAT_VERSION"]

#: Bump when the features, the model or the artifact layout change: an artifact of another
#: format is retrained on first use.
FORMAT_VERSION = "trained-7"
ARTIFACT_NAME = "trained_judge.joblib"
CARD_NAME = "trained_judge.json"
