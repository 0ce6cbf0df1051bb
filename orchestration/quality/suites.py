"""The great-expectations suites: what the scored rows of a day must look like.

Two suites, one per table a data team reads:

- `scored_conversations`: the judge's raw output, `scored.conversation_scores`, for one day.
- `fct_conversation_scores`: the mart, `marts.fct_conversation_scores`, for the same window.

Each holds value expectations (ranges, allowed values, nulls, uniqueness, consistency between
columns) and, on a batch of at least `MIN_ROWS_FOR_DISTRIBUTION` rows, distribution expectations
(the judge does not give every conversation one score; the mean score stays off the ends of the
scale). Suites are data here; `validate` builds them in an ephemeral great-expectations context
(no files written, no network) and runs them over a pandas frame.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

__all__ = [
    "DERIVED",
    "MIN_ROWS_FOR_DISTRIBUTION",
    "SUITES",
    "ExpectationOutcome",
    "SuiteReport",
    "suite_columns",
    "validate",
]

#: Below this many rows a day's mean and spread say little: distribution expectations wait.
MIN_ROWS_FOR_DISTRIBUTION = 30

Spec = tuple[str, dict[str, Any]]

_SUB_SCORES = ("resolution_score", "sentiment_score", "service_score", "efficiency_score")
_OBSERVATIONS = ("tone_score", "knowledge_score")
_COUNTS = ("loop_count", "needless_clarification_count", "broken_handoff_count")

#: Columns `validate` derives before a suite runs: the KPI's definition of positive (rated 4-5;
#: null stays null), so the flags are checked with a pair-equality expectation (vectorised in
#: GX; its pair-in-set expectation walks the rows one by one in Python: 31 s of a 58 s
#: validation of 200,000 mart rows).
DERIVED: Mapping[str, str] = {
    "score_is_4_or_5": "score",
    "csat_score_is_4_or_5": "csat_score",
}


def _not_null(column: str) -> Spec:
    return ("ExpectColumnValuesToNotBeNull", {"column": column})


def _between(column: str, low: float | None = None, high: float | None = None) -> Spec:
    return (
        "ExpectColumnValuesToBeBetween",
        {"column": column, "min_value": low, "max_value": high},
    )


def _in_set(column: str, values: list) -> Spec:
    return ("ExpectColumnValuesToBeInSet", {"column": column, "value_set": values})


def _at_least(column_a: str, column_b: str) -> Spec:
    kwargs = {"column_A": column_a, "column_B": column_b, "or_equal": True}
    return ("ExpectColumnPairValuesAToBeGreaterThanB", kwargs)


def _equal(column_a: str, column_b: str) -> Spec:
    """Equal on every row; a row with both null is skipped, one null is a failure."""
    kwargs = {"column_A": column_a, "column_B": column_b}
    return ("ExpectColumnPairValuesToBeEqual", kwargs)


def _verdict_values() -> list[Spec]:
    """What every verdict row must satisfy, in the judge's table and in the mart alike."""
    specs: list[Spec] = [
        _not_null("conversation_id"),
        ("ExpectColumnValuesToBeUnique", {"column": "conversation_id"}),
        _not_null("score"),
        _in_set("score", [1, 2, 3, 4, 5]),
    ]
    for column in (*_SUB_SCORES, *_OBSERVATIONS):
        specs += [_not_null(column), _between(column, 1, 5)]
    specs += [
        _between("timeliness_score", 1, 5),  # null when the conversation has no message times
        _between("sentiment_start", -1, 1),
        _between("sentiment_end", -1, 1),
        _in_set("sentiment_trajectory", ["improved", "stable", "worsened"]),
        _in_set("judge_kind", ["offline", "llm"]),
        _not_null("judge_version"),
        _not_null("topic"),
        _not_null("rationale"),
        ("ExpectColumnValueLengthsToBeBetween", {"column": "rationale", "min_value": 1}),
        _between("issues_total", 0),
        _at_least("issues_total", "issues_resolved"),
        _at_least("issues_total", "issues_unresolved"),
    ]
    specs += [_between(column, 0) for column in _COUNTS]
    return specs


def _distribution() -> list[Spec]:
    """A judge that rates every conversation alike, or nearly all at one end, is broken."""
    return [
        ("ExpectColumnStdevToBeBetween", {"column": "score", "min_value": 0.25}),
        ("ExpectColumnMeanToBeBetween", {"column": "score", "min_value": 1.5, "max_value": 4.8}),
        ("ExpectColumnUniqueValueCountToBeBetween", {"column": "score", "min_value": 2}),
    ]


def _mart_values() -> list[Spec]:
    """What the mart adds on top of the verdict: handler, channel, KPI flag, survey answer."""
    return [
        _not_null("conversation_date"),
        _in_set("handler", ["ai_only", "human_only", "ai_then_human", "other"]),
        _in_set("channel", ["chat", "email", "phone", "social", "other"]),
        _not_null("team"),
        _not_null("is_positive"),
        _equal("is_positive", "score_is_4_or_5"),  # the KPI's definition
        _in_set("csat_score", [1, 2, 3, 4, 5]),
        _equal("csat_is_positive", "csat_score_is_4_or_5"),  # both null: skipped
        _between("message_count", 1),
    ]


#: suite name -> (value expectations, distribution expectations)
SUITES: Mapping[str, tuple[list[Spec], list[Spec]]] = {
    "scored_conversations": (_verdict_values(), _distribution()),
    "fct_conversation_scores": (_verdict_values() + _mart_values(), _distribution()),
}


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str
    column: str
    success: bool
    observed: str
    distribution: bool  # a distribution expectation (mean, spread), not a per-value one


@dataclass(frozen=True)
class SuiteReport:
    suite: str
    rows: int
    distribution_checked: bool
    outcomes: list[ExpectationOutcome]

    @property
    def success(self) -> bool:
        return all(o.success for o in self.outcomes)

    @property
    def failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    def markdown(self) -> str:
        """The failed expectations first, then the rest: one table a data team can scan."""
        lines = ["| result | expectation | column | observed |", "| --- | --- | --- | --- |"]
        for o in sorted(self.outcomes, key=lambda o: o.success):
            observed = o.observed.replace("|", "\\|")
            lines.append(
                f"| {'pass' if o.success else '**FAIL**'} | {o.expectation} | {o.column} | "
                f"{observed} |"
            )
        return "\n".join(lines)


def _observed(result: Mapping[str, Any]) -> str:
    if "observed_value" in result:
        value = result["observed_value"]
        if isinstance(value, float) and not math.isnan(value):
            return f"{value:.4g}"
        return str(value)
    unexpected = result.get("unexpected_count")
    if unexpected is None:
        return ""
    if not unexpected:
        return "0 unexpected"
    sample = ", ".join(map(str, result.get("partial_unexpected_list", [])[:5]))
    return f"{unexpected} unexpected, e.g. {sample}"


def suite_columns(suite: str) -> list[str]:
    """The columns suite `suite` reads (a derived column counts as its source): select only
    these, a 1M-row day's other text columns cost memory and nothing else."""
    values, distribution = SUITES[suite]
    columns: dict[str, None] = {}
    for _, kwargs in values + distribution:
        for key in ("column", "column_A", "column_B"):
            if key in kwargs:
                columns[DERIVED.get(kwargs[key], kwargs[key])] = None
    return list(columns)


def _prepared(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The frame with the DERIVED `columns` added, and every narrower integer column widened
    to int64 (float64 where it holds nulls): GX's between-expectation is vectorised for int64
    and float64 only and calls Python once per value otherwise (DuckDB hands over INTEGER as
    int32)."""
    changed = {}
    for name in columns:
        if name in DERIVED and DERIVED[name] in frame:
            source = frame[DERIVED[name]]
            changed[name] = (source >= 4).astype(object).where(source.notna(), None)
    for name, dtype in frame.dtypes.items():
        if pd.api.types.is_integer_dtype(dtype) and dtype != "int64":
            column = frame[name]
            widened = "int64" if not column.isna().any() else "float64"
            changed[name] = column.astype(widened)
    # One block per dtype now: GX copies the frame per metric, and an unconsolidated frame is
    # merged again on every copy.
    return (frame.assign(**changed) if changed else frame).copy()


def validate(frame: pd.DataFrame, suite: str) -> SuiteReport:
    """Run suite `suite` over `frame` in an ephemeral great-expectations context."""
    values, distribution = SUITES[suite]
    checked = len(frame) >= MIN_ROWS_FOR_DISTRIBUTION
    specs = values + (distribution if checked else [])
    if frame.empty:
        return SuiteReport(suite, 0, False, [])
    referenced = [kwargs.get(key) for _, kwargs in specs for key in ("column_A", "column_B")]
    outcomes = _run_suite(
        _prepared(frame, [name for name in referenced if name]), suite, specs, len(values)
    )
    # GX's objects hold each other in reference cycles (data source, asset, execution engine,
    # the batch's copy of the frame): collect them now, not at the interpreter's next full
    # collection (in a 1M-row Dagster run that came 25 s into `dbt build`, 0.9 GB later).
    gc.collect()
    return SuiteReport(suite, len(frame), checked, outcomes)


def _run_suite(
    frame: pd.DataFrame, suite: str, specs: list[Spec], values: int
) -> list[ExpectationOutcome]:
    """The outcome of each expectation in `specs` (the first `values` are value expectations,
    the rest distribution ones) over `frame`, in an ephemeral great-expectations context."""
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    # In memory only: no data docs site, no analytics events, no progress bars.
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    datasource = context.data_sources.add_pandas(suite)
    try:
        batch = (
            datasource.add_dataframe_asset("batch")
            .add_batch_definition_whole_dataframe("whole")
            .get_batch(batch_parameters={"dataframe": frame})
        )
        expectations = [getattr(gxe, name)(**kwargs) for name, kwargs in specs]
        distribution_types = {e.expectation_type for e in expectations[values:]}
        expectation_suite = context.suites.add(
            gx.ExpectationSuite(name=suite, expectations=expectations)
        )
        result = batch.validate(expectation_suite)
    finally:
        # GX keeps the last context in a module-level project manager, and the context keeps
        # the data source's execution engine, which keeps the frame: without this, a 1M-row
        # day's frame (1.1 GB) stayed in the Dagster process until the next suite replaced it,
        # beside `dbt build` and the next suite's own frame.
        context.data_sources.delete(suite)
    outcomes = []
    for item in result.results:
        kwargs = item.expectation_config.kwargs
        column = kwargs.get("column") or f"{kwargs.get('column_A')}, {kwargs.get('column_B')}"
        kind = item.expectation_config.type
        outcomes.append(
            ExpectationOutcome(
                kind, column, bool(item.success), _observed(item.result), kind in distribution_types
            )
        )
    return outcomes
