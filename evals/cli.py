"""`python -m evals`: evaluate a judge against human labels, in one command.

    python -m evals                                   # offline judge on stc3_dev and uss
    python -m evals --judge trained                   # the trained offline judge
    python -m evals --judge trained --cross-fit       # ... out of fold (a model per fold)
    python -m evals --judge llm --base-url URL        # the LLM judge (or CX_JUDGE_BASE_URL)
    python -m evals --sets stc3_dev --limit 100       # a quick run
    python -m evals --input labelled.jsonl            # any contract JSONL with a label
    python -m evals --no-warehouse --out /tmp/eval    # files only

Writes `report.md`, `metrics.json` and the PNG plots into `--out` (default
`evals/reports/<judge>/`, the reports kept in the repository), and appends the metrics to the
warehouse table `evals.judge_agreement` (default `CX_WAREHOUSE_PATH`; `--no-warehouse` skips it).
Exit status 0 on success, 1 when data or the warehouse cannot be read or written, 2 on a usage
error or a judge that is not available.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from evals.datasets import BUILTIN_SETS, LabelledSet, load_builtin, load_contract_jsonl
from evals.evaluate import evaluate_set, training_sets_of
from evals.metrics import CONSENSUS_RULES
from evals.report import EvalRun, write_outputs
from orchestration.judge import Judge
from orchestration.settings import REPO_ROOT, get_settings

__all__ = [
    "DEFAULT_OUT_ROOT",
    "JUDGE_KINDS",
    "JudgeUnavailableError",
    "build_judge",
    "main",
    "parse_args",
]

#: Reports go to `<this>/<judge>/` unless `--out` says otherwise.
DEFAULT_OUT_ROOT = REPO_ROOT / "evals" / "reports"
DEFAULT_SETS = ("stc3_dev", "uss")
JUDGE_KINDS = ("offline", "trained", "llm")


class JudgeUnavailableError(RuntimeError):
    """The requested judge kind is not part of this build."""


def build_judge(
    kind: str,
    base_url: str | None = None,
    cross_fit: bool = False,
    data_dir: Path | None = None,
    seed: int = 0,
) -> Judge:
    """The judge the pipeline would run, from `orchestration.judge` (imported, never copied).

    `offline`: the rule judge, `OfflineJudge()`. `trained`: `load_trained_judge()` from
    `orchestration.judge.trained` (trains its artifact on first use). `llm`: what the pipeline's
    `JudgeResource(base_url=...).build()` returns, with `base_url` or `CX_JUDGE_BASE_URL`.
    `cross_fit` (trained only): `evals.crossfit.CrossFittedJudge` over the labelled data in
    `data_dir` (default `CX_DATA_DIR`) and `CX_JUDGE_OWN_LABELS`, folds split with `seed`.
    Raises `JudgeUnavailableError` when the kind cannot be built here, saying why.
    """
    if cross_fit and kind != "trained":
        raise JudgeUnavailableError("--cross-fit is for --judge trained only")
    if kind == "offline":
        from orchestration.judge import OfflineJudge

        return OfflineJudge()
    if kind == "trained":
        try:
            from orchestration.judge.trained import load_trained_judge
        except ImportError as error:
            raise JudgeUnavailableError(
                f"the trained judge is not available in this build ({error}); use --judge offline"
            ) from error
        try:
            if cross_fit:
                from evals.crossfit import CrossFittedJudge

                settings = get_settings()
                return CrossFittedJudge(
                    data_dir or settings.data_dir, settings.judge_own_labels, seed=seed
                )
            return load_trained_judge()
        except OSError as error:  # e.g. no labelled data to train it on (CX_DATA_DIR)
            raise JudgeUnavailableError(f"the trained judge cannot be loaded: {error}") from error
    if kind == "llm":
        url = base_url or get_settings().judge_base_url
        if not url:
            raise JudgeUnavailableError(
                "the llm judge needs an OpenAI-compatible endpoint: set CX_JUDGE_BASE_URL "
                "or pass --base-url"
            )
        from orchestration.resources import JudgeResource

        try:
            return JudgeResource(base_url=url).build()
        except (ImportError, NotImplementedError, ValueError) as error:  # incl. bad settings
            raise JudgeUnavailableError(f"the llm judge cannot be built: {error}") from error
    raise JudgeUnavailableError(f"unknown judge kind {kind!r}; known: {', '.join(JUDGE_KINDS)}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m evals",
        description="Evaluate a CX judge against human labels (metrics next to the human "
        "ceiling, bootstrap intervals); write a report and a warehouse table.",
    )
    parser.add_argument(
        "--judge",
        choices=JUDGE_KINDS,
        default="offline",
        help="offline: the rule judge; trained: the trained offline judge; llm: the LLM judge "
        "(default offline)",
    )
    parser.add_argument(
        "--base-url", help="OpenAI-compatible endpoint of the llm judge (default CX_JUDGE_BASE_URL)"
    )
    parser.add_argument(
        "--cross-fit",
        action="store_true",
        help="trained judge only: judge each labelled conversation with a model fitted without "
        "it (5 grouped folds of the training data, split with --seed); nothing is in-sample",
    )
    parser.add_argument(
        "--sets",
        help=f"comma-separated public labelled sets in the data dir: {', '.join(BUILTIN_SETS)} "
        f"(default: all of them, unless --input is given)",
    )
    parser.add_argument(
        "--input",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="contract JSONL with a label per record (`human_score`, else `csat.score`); "
        "optional `annotator_scores` give the human ceiling; repeatable",
    )
    parser.add_argument(
        "--consensus",
        choices=sorted(CONSENSUS_RULES),
        default="majority_low",
        help="consensus of the other raters for --input files (default majority_low)",
    )
    parser.add_argument(
        "--data-dir", type=Path, help="folder of the public sets (default CX_DATA_DIR)"
    )
    parser.add_argument("--out", type=Path, help="output folder (default evals/reports/<judge>)")
    warehouse = parser.add_mutually_exclusive_group()
    warehouse.add_argument(
        "--warehouse",
        type=Path,
        help="DuckDB file for evals.judge_agreement (default CX_WAREHOUSE_PATH)",
    )
    warehouse.add_argument(
        "--no-warehouse", action="store_true", help="do not write the warehouse table"
    )
    parser.add_argument(
        "--limit",
        type=int,
        help="at most N conversations per set, evenly spaced over the file (quick runs)",
    )
    parser.add_argument(
        "--bootstrap", type=int, default=1000, metavar="N", help="bootstrap resamples (1000)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="bootstrap seed, and the --cross-fit split (default 0)"
    )
    parser.add_argument("--run-id", help="run id (default <UTC time>-<judge>-<random>)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument(
        "--slice-plots", action="store_true", help="plot every slice, not only each set's `all`"
    )
    parser.add_argument(
        "--predictions",
        action="store_true",
        help="also write predictions.csv (ids, human labels, judge scores; keep it out of git)",
    )
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and check the command line (exits with status 2 on a usage error)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.sets is None:
        args.set_names = [] if args.input else list(DEFAULT_SETS)
    else:
        args.set_names = [name.strip() for name in args.sets.split(",") if name.strip()]
        unknown = [name for name in args.set_names if name not in BUILTIN_SETS]
        if unknown:
            parser.error(f"unknown set(s) {', '.join(unknown)}; known: {', '.join(BUILTIN_SETS)}")
        if not args.set_names and not args.input:
            parser.error("--sets is empty and no --input is given")
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    if args.bootstrap < 1:
        parser.error("--bootstrap must be at least 1")
    if args.cross_fit and args.judge != "trained":
        parser.error("--cross-fit needs --judge trained")
    return args


def _load(args: argparse.Namespace, data_dir: Path) -> list[LabelledSet]:
    sets = [load_builtin(name, data_dir, limit=args.limit) for name in args.set_names]
    sets += [
        load_contract_jsonl(path, consensus_rule=args.consensus, limit=args.limit)
        for path in args.input
    ]
    empty = [s.name for s in sets if not s.items]
    if empty:
        raise ValueError(f"no usable labelled conversation in: {', '.join(empty)}")
    return sets


def _headline(run: EvalRun) -> list[str]:
    def ceiling(metric: str, m: dict) -> str:
        result = m[metric]
        return f" (ceiling {result.ceiling.value:.3f})" if result.ceiling else ""

    lines = []
    for dataset in run.datasets:
        result = dataset.slices[0]
        m = result.metrics
        f1 = m["f1_4_5"].judge
        tag = "  IN-SAMPLE" if result.in_sample else ""
        lines.append(
            f"  {dataset.name}{tag}: n={result.n:,}  F1(4-5) {f1.value:.3f} "
            f"[{f1.low:.3f}, {f1.high:.3f}]{ceiling('f1_4_5', m)}  "
            f"QWK {m['qwk'].judge.value:.3f}{ceiling('qwk', m)}  "
            f"share 4-5 judge {m['share_4_5_pred'].judge.value:.1%} vs human "
            f"{m['share_4_5_human'].judge.value:.1%} "
            f"(bias {m['share_4_5_bias'].judge.value * 100:+.1f} pp)"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Run an evaluation; returns the exit status."""
    args = parse_args(argv)
    started = time.perf_counter()
    settings = get_settings()
    data_dir = args.data_dir or settings.data_dir
    try:
        judge = build_judge(args.judge, args.base_url, args.cross_fit, data_dir, args.seed)
    except JudgeUnavailableError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        sets = _load(args, data_dir)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    run_at = datetime.now(UTC)
    label = f"{args.judge}-crossfit" if args.cross_fit else args.judge
    run_id = args.run_id or f"{run_at:%Y%m%dT%H%M%SZ}-{label}-{uuid.uuid4().hex[:6]}"
    training = training_sets_of(judge)
    results = [
        evaluate_set(labelled, judge, args.bootstrap, args.seed, training) for labelled in sets
    ]
    run = EvalRun(
        run_id=run_id,
        run_at=run_at,
        judge_kind=judge.kind,
        judge_name=judge.name,
        judge_version=judge.version,
        judge_model=judge.model,
        n_boot=args.bootstrap,
        seed=args.seed,
        limit=args.limit,
        datasets=results,
        training_sets=tuple(sorted(training)),
    )
    out_dir = args.out or DEFAULT_OUT_ROOT / (
        f"{args.judge}-crossfit" if args.cross_fit else args.judge
    )
    run.seconds = time.perf_counter() - started
    paths = write_outputs(
        run,
        out_dir,
        plots=not args.no_plots,
        slice_plots=args.slice_plots,
        predictions=args.predictions,
    )
    print(f"eval run {run_id}: {judge.name} {judge.version}")
    print("\n".join(_headline(run)))
    if any(d.in_sample for d in run.datasets):
        print(
            f"WARNING: IN-SAMPLE: the judge was trained on {', '.join(run.training_sets)}; "
            "the figures of those sets measure memory, not agreement",
            file=sys.stderr,
        )
    print(f"report: {paths['markdown']}")
    print(f"json:   {paths['json']}")
    if not args.no_warehouse:
        warehouse = args.warehouse or settings.warehouse_path
        import duckdb

        from evals.warehouse import DuplicateRunError, write_agreement

        try:
            rows = write_agreement(warehouse, run)
        except DuplicateRunError as error:
            print(f"error: {error} (the report is written)", file=sys.stderr)
            return 1
        except (duckdb.Error, OSError) as error:  # e.g. the file is locked by a running Dagster
            print(
                f"error: could not write evals.judge_agreement to {warehouse}: {error} "
                "(the report is written; rerun later or with --no-warehouse)",
                file=sys.stderr,
            )
            return 1
        print(f"warehouse: {rows} rows in evals.judge_agreement ({warehouse})")
    print(f"done in {time.perf_counter() - started:.1f} s")
    return 0
