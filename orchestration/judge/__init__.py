"""The judge: rates one support conversation as a `Verdict` (observations + rubric scores).

No Dagster here. `base` (the `Judge` protocol, `JudgeError`), `verdict` and `rubric` load
eagerly (pydantic only); `OfflineJudge` and the taxonomy (VADER, YAML) load on first use, so
importing `orchestration.judge.verdict` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestration.judge.base import BaseJudge, Judge, JudgeError
from orchestration.judge.rubric import RUBRIC_VERSION, apply_rubric, overall_score
from orchestration.judge.verdict import (
    IssueStatus,
    IssueVerdict,
    Trajectory,
    Verdict,
    VerdictBody,
)

if TYPE_CHECKING:
    from orchestration.judge.offline import OfflineJudge
    from orchestration.judge.taxonomy import Taxonomy, TaxonomyError

__all__ = [
    "RUBRIC_VERSION",
    "BaseJudge",
    "IssueStatus",
    "IssueVerdict",
    "Judge",
    "JudgeError",
    "OfflineJudge",
    "Taxonomy",
    "TaxonomyError",
    "Trajectory",
    "Verdict",
    "VerdictBody",
    "apply_rubric",
    "overall_score",
]

_LAZY = {
    "OfflineJudge": "orchestration.judge.offline",
    "Taxonomy": "orchestration.judge.taxonomy",
    "TaxonomyError": "orchestration.judge.taxonomy",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
