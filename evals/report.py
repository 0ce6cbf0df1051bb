"""Write an evaluation run: `report.md`, `metrics.json` and the PNG plots.

Layout of the output folder:

    report.md                          the human-readable report (links the PNGs)
    metrics.json                       every number of the report, machine-readable
    <set>__<slice>__<kind>.png         confusion, distribution and calibration (the `all` slice of
                                       each set; every slice with `slice_plots`)
    predictions.csv                    only on request: per conversation id, the human label and
                                       the judge's scores (the labels belong to the data sets:
                                       keep this file out of the repository)

No transcript text is written anywhere: ids, counts and metrics only.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from evals.evaluate import DatasetResult, MetricResult, SliceResult
from evals.metrics import METRICS, Interval
from evals.plots import plot_slice

__all__ = ["METHOD", "METRIC_LABELS", "EvalRun", "render_markdown", "write_outputs"]

#: How each metric is named in the report.
METRIC_LABELS: dict[str, str] = {
    "f1_4_5": "F1, rated 4-5 vs not",
    "precision_4_5": "precision, 4-5",
    "recall_4_5": "recall, 4-5",
    "macro_f1_4_5": "macro-F1, 4-5 vs not (both classes)",
    "macro_f1": "macro-F1 over 1-5",
    "qwk": "quadratic-weighted kappa",
    "spearman": "Spearman rho",
    "share_4_5_pred": "share rated 4-5 (judge / rater)",
    "share_4_5_human": "share rated 4-5 (human consensus)",
    "share_4_5_bias": "KPI bias (judge - human)",
    "share_4_5_abs_bias": "|KPI bias|",
}
_SHARES = frozenset({"share_4_5_pred", "share_4_5_human", "share_4_5_bias", "share_4_5_abs_bias"})
_SIGNED = frozenset({"share_4_5_bias"})

#: The method, as printed at the top of every report.
METHOD = """\
- **Label**: the set's consensus human rating (`human_score`, 1-5). The judge is compared with it
  on the KPI's own decision (rated 4-5 vs 1-3: precision, recall, F1), on the whole scale
  (macro-F1 over the scores that occur, quadratic-weighted kappa, Spearman) and on the KPI itself
  (share rated 4-5 by the judge vs by the humans; the difference is the KPI's bias, in points).
- **Human ceiling** (leave one rater out): each individual rating is scored with the same metric
  against the consensus of the *other* raters of the conversation, using the set's own consensus
  rule (STC-3: median, the lower of the two middle scores when the others are an even number;
  USS and contract files: majority, ties to the lower score), all (rater, others) pairs pooled.
  This is how well one human agrees with the rest: a judge should be read against this, never
  against 1.0. For the bias rows the ceiling is one rater's share rated 4-5 vs the others'
  consensus share (pooled signed bias; |bias| as the mean over rater positions of each
  position's size of bias, which pooling would cancel out).
- **Intervals**: 95% percentile bootstrap over conversations ({n_boot} resamples, seed {seed});
  the judge and the ceiling use the same resamples, so *judge - ceiling* has a paired interval.
  An interval that excludes 0 means the judge is reliably above or below one human.
- Conversations the judge could not rate (`JudgeError`) are left out and counted.
"""


@dataclass
class EvalRun:
    """One evaluation run: which judge, on what, with which settings, and the results."""

    run_id: str
    run_at: datetime
    judge_kind: str
    judge_name: str
    judge_version: str
    judge_model: str | None
    n_boot: int
    seed: int
    limit: int | None
    datasets: list[DatasetResult]
    seconds: float = 0.0
    #: The labelled sets the judge says it was trained on (`training_sets`), if any.
    training_sets: tuple[str, ...] = ()
    #: (dataset, slice) -> plot kind -> path relative to the output folder.
    plots: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "run_id": self.run_id,
            "run_at": self.run_at.isoformat(),
            "judge": {
                "kind": self.judge_kind,
                "name": self.judge_name,
                "version": self.judge_version,
                "model": self.judge_model,
                "training_sets": list(self.training_sets),
            },
            "in_sample_warning": _in_sample_warning(self),
            "bootstrap": {"resamples": self.n_boot, "seed": self.seed, "level": 0.95},
            "limit": self.limit,
            "seconds": round(self.seconds, 3),
            "datasets": [],
        }
        for dataset in self.datasets:
            entry = dataset.as_dict()
            for slice_entry in entry["slices"]:
                slice_entry["plots"] = self.plots.get((dataset.name, slice_entry["slice"]), {})
            out["datasets"].append(entry)
        return out


# --- number formatting ----------------------------------------------------------------------


def _fmt(metric: str, value: float) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    if metric in _SIGNED:
        return f"{value * 100:+.1f} pp"
    if metric in _SHARES:
        return f"{value * 100:.1f}%" if metric != "share_4_5_abs_bias" else f"{value * 100:.1f} pp"
    return f"{value:.3f}"


def _fmt_gap(metric: str, value: float) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    if metric in _SHARES:
        return f"{value * 100:+.1f} pp"
    return f"{value:+.3f}"


def _cell(metric: str, interval: Interval | None, gap: bool = False) -> str:
    if interval is None:
        return "-"
    fmt = _fmt_gap if gap else _fmt
    if not math.isfinite(interval.value):
        return "n/a"
    if not math.isfinite(interval.low):
        return fmt(metric, interval.value)
    low, high = fmt(metric, interval.low), fmt(metric, interval.high)
    return f"{fmt(metric, interval.value)} [{low}, {high}]"


def _in_sample_warning(run: EvalRun) -> str | None:
    """The loud line every report of a judge scored on its own training data carries."""
    marked = [f"{d.name}/{s.slice}" for d in run.datasets for s in d.slices if s.in_sample]
    if not marked:
        return None
    return (
        f"IN-SAMPLE: the judge was trained on {', '.join(run.training_sets)}; "
        f"{len(marked)} slice(s) below ({', '.join(marked)}) contain conversations it learnt "
        "from. Those figures measure memory, not agreement: read its out-of-fold report instead."
    )


def _in_sample_tag(result: SliceResult) -> str:
    if not result.in_sample:
        return ""
    if result.in_sample_share >= 1:
        return " **IN-SAMPLE**"
    return f" **IN-SAMPLE ({result.in_sample_share:.0%})**"


# --- markdown -------------------------------------------------------------------------------


def _summary_table(run: EvalRun) -> list[str]:
    lines = [
        "| set | slice | n | F1 4-5: judge [95% CI] | ceiling | macro-F1: judge / ceiling "
        "| QWK: judge / ceiling | Spearman: judge / ceiling | share 4-5: judge vs human (bias) |",
        "| --- | --- | ---: | --- | --- | --- | --- | --- | --- |",
    ]
    for dataset in run.datasets:
        for result in dataset.slices:
            m = result.metrics

            def pair(name: str, m: dict[str, MetricResult] = m) -> str:
                ceiling = m[name].ceiling
                right = _fmt(name, ceiling.value) if ceiling else "-"
                return f"{_fmt(name, m[name].judge.value)} / {right}"

            ceiling = m["f1_4_5"].ceiling
            lines.append(
                f"| {dataset.name} | {result.slice}{_in_sample_tag(result)} | {result.n:,} "
                f"| {_cell('f1_4_5', m['f1_4_5'].judge)} "
                f"| {_cell('f1_4_5', ceiling) if ceiling else '-'} "
                f"| {pair('macro_f1')} | {pair('qwk')} | {pair('spearman')} "
                f"| {_fmt('share_4_5_pred', m['share_4_5_pred'].judge.value)} vs "
                f"{_fmt('share_4_5_human', m['share_4_5_human'].judge.value)} "
                f"({_fmt('share_4_5_bias', m['share_4_5_bias'].judge.value)}) |"
            )
    return lines


def _bias_line(result: SliceResult) -> str:
    m = result.metrics
    judge = _fmt("share_4_5_pred", m["share_4_5_pred"].judge.value)
    human = _fmt("share_4_5_human", m["share_4_5_human"].judge.value)
    bias = _cell("share_4_5_bias", m["share_4_5_bias"].judge)
    line = f"**KPI (share rated 4-5)**: judge {judge} vs human {human}: bias {bias}."
    ceiling = m["share_4_5_bias"].ceiling
    abs_ceiling = m["share_4_5_abs_bias"].ceiling
    if ceiling is not None and abs_ceiling is not None:
        line += (
            f" One rater vs the others: bias {_fmt('share_4_5_bias', ceiling.value)} on average, "
            f"{_fmt('share_4_5_abs_bias', abs_ceiling.value)} in size."
        )
    return line


def _slice_section(run: EvalRun, dataset: DatasetResult, result: SliceResult) -> list[str]:
    lines = [
        f"### {dataset.name} / {result.slice} (n = {result.n:,}){_in_sample_tag(result)}",
        "",
    ]
    if result.ceiling_pairs:
        lines += [
            f"Ceiling from {result.ceiling_pairs:,} rater-conversation pairs over "
            f"{result.ceiling_raters} rater positions.",
            "",
        ]
    else:
        lines += ["No individual ratings here: no human ceiling.", ""]
    lines += [
        "| metric | judge [95% CI] | human ceiling [95% CI] | judge - ceiling [95% CI] |",
        "| --- | --- | --- | --- |",
    ]
    for name in METRICS:
        metric = result.metrics[name]
        lines.append(
            f"| {METRIC_LABELS[name]} | {_cell(name, metric.judge)} "
            f"| {_cell(name, metric.ceiling)} | {_cell(name, metric.gap, gap=True)} |"
        )
    lines += ["", _bias_line(result), ""]
    lines += ["Confusion (rows: human score, columns: judge score):", ""]
    lines += [
        "| human \\ judge | 1 | 2 | 3 | 4 | 5 |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for score, row in zip(range(1, 6), result.confusion.tolist(), strict=True):
        lines.append(f"| {score} | " + " | ".join(f"{v:,}" for v in row) + " |")
    lines.append("")
    plots = run.plots.get((dataset.name, result.slice), {})
    if plots:
        for kind, path in plots.items():
            lines += [f"![{result.dataset} / {result.slice}: {kind}]({path})", ""]
    return lines


def _subscore_section(dataset: DatasetResult) -> list[str]:
    if not dataset.subscores:
        return []
    lines = [
        f"### {dataset.name}: sub-score validity",
        "",
        "Spearman's rho between the judge's scores and the raters' mean per-conversation rating "
        "of A (task accomplished), S (satisfaction) and E (efficiency), with 95% bootstrap "
        "intervals. Resolution should track A and efficiency should track E. No ceiling: the set "
        "does not say which rater gave which A/E rating.",
        "",
        "| judge score | vs A (accomplished) | vs S (satisfaction) | vs E (efficiency) |",
        "| --- | --- | --- | --- |",
    ]
    by_pair = {(c.judge_score, c.human_rating): c for c in dataset.subscores}
    for judge_score in dict.fromkeys(c.judge_score for c in dataset.subscores):
        cells = []
        for rating in ("A", "S", "E"):
            corr = by_pair.get((judge_score, rating))
            text = _cell("spearman", corr.rho) if corr else "-"
            if (judge_score, rating) in (("resolution_score", "A"), ("efficiency_score", "E")):
                text = f"**{text}**"
            cells.append(text)
        lines.append(f"| {judge_score} | " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def _dataset_header(dataset: DatasetResult) -> list[str]:
    lab = dataset.labelled
    skipped = ", ".join(f"{k} {v:,}" for k, v in sorted(lab.skipped.items())) or "none"
    errors = ", ".join(f"{k} {v:,}" for k, v in sorted(dataset.judge_errors.items())) or "none"
    sample = ""
    if lab.limited_from:
        sample = f" (evenly spaced sample of {lab.limited_from:,}, `--limit`)"
    lines = [
        f"## {lab.name}",
        "",
        f"- {lab.description}",
        f"- file: `{lab.path.name}` in the data folder; records read {lab.records_read:,}; "
        f"skipped: {skipped}",
        f"- conversations evaluated: {len(lab.items):,}"
        + sample
        + f"; judge errors (left out): {errors}",
        f"- label: `{lab.label_rule}`; ceiling consensus rule: `{lab.consensus_rule}`",
    ]
    if lab.consensus_checked:
        lines.append(
            f"- the consensus rule applied to all raters reproduces the label on "
            f"{lab.consensus_reproduced:,} of {lab.consensus_checked:,} conversations"
        )
    lines.append(
        f"- judged in {dataset.seconds_judging:.1f} s, "
        f"measured in {dataset.seconds_measuring:.1f} s"
    )
    lines.append("")
    return lines


def render_markdown(run: EvalRun) -> str:
    """The report as markdown (plots linked relative to the report)."""
    lines = [
        f"# Judge agreement: {run.judge_name} {run.judge_version}",
        "",
        f"- run `{run.run_id}` at {run.run_at.isoformat(timespec='seconds')}, "
        f"{run.seconds:.1f} s to load, judge and measure",
        f"- judge: kind `{run.judge_kind}`, name `{run.judge_name}`, version "
        f"`{run.judge_version}`, model `{run.judge_model}`"
        + (f"; trained on {', '.join(run.training_sets)}" if run.training_sets else ""),
        f"- bootstrap: {run.n_boot:,} resamples, seed {run.seed}"
        + (f"; `--limit {run.limit}`" if run.limit else ""),
        "",
    ]
    warning = _in_sample_warning(run)
    if warning:
        lines += [f"> **{warning}**", ""]
    lines += [
        "## Method",
        "",
        METHOD.format(n_boot=run.n_boot, seed=run.seed),
        "## Summary",
        "",
        *_summary_table(run),
        "",
    ]
    for dataset in run.datasets:
        lines += _dataset_header(dataset)
        lines += _subscore_section(dataset)
        for result in dataset.slices:
            lines += _slice_section(run, dataset, result)
    return "\n".join(lines).rstrip() + "\n"


# --- files ----------------------------------------------------------------------------------


def _write_predictions(path: Path, datasets: Iterable[DatasetResult]) -> None:
    rows = [{"dataset": d.name, **row} for d in datasets for row in d.predictions]
    columns = list(dict.fromkeys(k for row in rows for k in row)) or ["dataset"]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def write_outputs(
    run: EvalRun,
    out_dir: Path,
    plots: bool = True,
    slice_plots: bool = False,
    predictions: bool = False,
) -> dict[str, Path]:
    """Write the plots, `report.md` and `metrics.json` (and `predictions.csv` when asked) into
    `out_dir`. Plots cover the `all` slice of each set, every slice with `slice_plots`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if plots:
        for dataset in run.datasets:
            for result in dataset.slices:
                if result.slice != "all" and not slice_plots:
                    continue
                paths = plot_slice(result, out_dir)
                run.plots[(dataset.name, result.slice)] = {
                    kind: path.relative_to(out_dir).as_posix() for kind, path in paths.items()
                }
    written = {"markdown": out_dir / "report.md", "json": out_dir / "metrics.json"}
    written["markdown"].write_text(render_markdown(run), encoding="utf-8")
    written["json"].write_text(
        json.dumps(run.as_dict(), indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )
    if predictions:
        written["predictions"] = out_dir / "predictions.csv"
        _write_predictions(written["predictions"], run.datasets)
    return written
