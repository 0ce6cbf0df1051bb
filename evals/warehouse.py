"""Record an evaluation run in the warehouse: `evals.judge_agreement`, one row per metric.

    run_id, run_at,                                           which run (UTC time)
    judge_kind, judge_name, judge_version, judge_model,       which judge
    dataset, subset, agent_kind, slice,                       what it was measured on
    metric, value, ci_low, ci_high,                           the judge, with its 95% interval
    human_ceiling, ceiling_low, ceiling_high,                 the same metric, one rater vs others
    n, in_sample, bootstrap_resamples, seed                   how

One row per run x set x slice x metric. `subset` and `agent_kind` are `all` unless the slice cuts
by them (`slice` is `all`, `subset:SGD`, `agent_kind:human`, `team:billing`, ...). Sub-score
validity rows use the slice `all`, the metric `spearman:<judge score>~<rating>` (e.g.
`spearman:resolution_score~A`) and no ceiling. An undefined value is NULL.

The table is an append-only history: a run adds its rows in one transaction, and a run id that
is already there is refused (`DuplicateRunError`), never written twice or overwritten. The
connection is opened for the write and closed right away, so a running Dagster/dbt can have the
file again. Agreement over time, per judge version:

    select run_at, judge_version, value, ci_low, ci_high, human_ceiling
    from evals.judge_agreement
    where dataset = 'stc3_dev' and slice = 'all' and metric = 'f1_4_5'
    order by run_at;
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from evals.report import EvalRun
from orchestration.warehouse.load import connect

__all__ = ["COLUMNS", "DDL", "TABLE", "DuplicateRunError", "agreement_rows", "write_agreement"]

TABLE = "evals.judge_agreement"
COLUMNS: tuple[str, ...] = (
    "run_id",
    "run_at",
    "judge_kind",
    "judge_name",
    "judge_version",
    "judge_model",
    "dataset",
    "subset",
    "agent_kind",
    "slice",
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "human_ceiling",
    "ceiling_low",
    "ceiling_high",
    "n",
    "in_sample",
    "bootstrap_resamples",
    "seed",
)
DDL: tuple[str, ...] = (
    "create schema if not exists evals",
    f"""create table if not exists {TABLE} (
        run_id varchar not null,
        run_at timestamptz not null,
        judge_kind varchar not null,
        judge_name varchar not null,
        judge_version varchar not null,
        judge_model varchar,
        dataset varchar not null,
        subset varchar not null,
        agent_kind varchar not null,
        slice varchar not null,
        metric varchar not null,
        value double,
        ci_low double,
        ci_high double,
        human_ceiling double,
        ceiling_low double,
        ceiling_high double,
        n integer not null,
        in_sample boolean not null,
        bootstrap_resamples integer not null,
        seed bigint not null,
        primary key (run_id, dataset, slice, metric)
    )""",
)


class DuplicateRunError(ValueError):
    """The run id is already in `evals.judge_agreement`."""


def _num(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def agreement_rows(run: EvalRun) -> list[tuple[Any, ...]]:
    """The run as rows in `COLUMNS` order."""
    head = (
        run.run_id,
        run.run_at,
        run.judge_kind,
        run.judge_name,
        run.judge_version,
        run.judge_model,
    )
    tail = (run.n_boot, run.seed)
    rows: list[tuple[Any, ...]] = []
    for dataset in run.datasets:
        for result in dataset.slices:
            subset = result.value if result.dimension == "subset" else "all"
            agent_kind = result.value if result.dimension == "agent_kind" else "all"
            where = (dataset.name, subset, agent_kind, result.slice)
            for name, metric in result.metrics.items():
                ceiling = metric.ceiling
                rows.append(
                    (
                        *head,
                        *where,
                        name,
                        _num(metric.judge.value),
                        _num(metric.judge.low),
                        _num(metric.judge.high),
                        _num(ceiling.value) if ceiling else None,
                        _num(ceiling.low) if ceiling else None,
                        _num(ceiling.high) if ceiling else None,
                        result.n,
                        result.in_sample,
                        *tail,
                    )
                )
        for corr in dataset.subscores:
            rows.append(
                (
                    *head,
                    dataset.name,
                    "all",
                    "all",
                    "all",
                    f"spearman:{corr.judge_score}~{corr.human_rating}",
                    _num(corr.rho.value),
                    _num(corr.rho.low),
                    _num(corr.rho.high),
                    None,
                    None,
                    None,
                    corr.n,
                    dataset.in_sample,
                    *tail,
                )
            )
    return rows


def write_agreement(path: Path, run: EvalRun) -> int:
    """Append the run's rows to `evals.judge_agreement` (schema and table created if missing).

    Raises `DuplicateRunError` when the run id is already recorded; nothing is written then.
    """
    rows = agreement_rows(run)
    placeholders = ", ".join("?" for _ in COLUMNS)
    with connect(Path(path)) as con:
        for statement in DDL:
            con.execute(statement)
        con.execute("begin transaction")
        try:
            found = con.execute(
                f"select count(*) from {TABLE} where run_id = ?", [run.run_id]
            ).fetchone()
            if found and found[0]:
                raise DuplicateRunError(
                    f"run id {run.run_id!r} is already in {TABLE} ({found[0]} rows); "
                    "a run is recorded once (choose another --run-id)"
                )
            if rows:
                con.executemany(
                    f"insert into {TABLE} ({', '.join(COLUMNS)}) values ({placeholders})", rows
                )
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    return len(rows)
