"""Evaluation harness: the pipeline's judge against human labels, next to the human ceiling.

`python -m evals` (see `evals.cli`) judges the labelled sets in `CX_DATA_DIR` (STC-3 helpdesk
dev, USS by subset and agent kind) or any contract JSONL with a label, with the same judge code
the pipeline runs (`orchestration.judge`), and reports per set and slice: precision, recall and
F1 of "rated 4-5 vs not", macro-F1 over 1-5, quadratic-weighted kappa, Spearman, the confusion
matrix and the share rated 4-5 by judge and humans, each with a 95% bootstrap interval and the
human ceiling (one rater against the consensus of the others) beside it; sub-score validity on
the helpdesk set. Output: markdown + JSON + PNGs, and rows in `evals.judge_agreement`.

Modules: `metrics` (the numbers), `datasets` (reading and mapping the sets), `evaluate`
(judging and slicing), `plots`, `report`, `warehouse`, `cli`.
"""

from __future__ import annotations

__all__: list[str] = []
