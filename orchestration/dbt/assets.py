"""dbt models as Dagster assets: the day's partition is handed to dbt as `--vars`."""

import json
from datetime import timedelta

from dagster import AssetExecutionContext, BackfillPolicy
from dagster_dbt import DbtCliResource, dbt_assets

from orchestration.dbt.project import cx_dbt_project, ensure_manifest
from orchestration.dbt.translator import CxDbtTranslator
from orchestration.partitions import daily_partitions

__all__ = ["cx_dbt_models", "partition_vars"]

ensure_manifest()


def partition_vars(context: AssetExecutionContext) -> dict[str, str]:
    """The run's partition window as dbt vars: first and last day, inclusive."""
    window = context.partition_time_window
    return {
        "min_date": window.start.date().isoformat(),
        "max_date": (window.end - timedelta(days=1)).date().isoformat(),
    }


@dbt_assets(
    manifest=cx_dbt_project.manifest_path,
    project=cx_dbt_project,
    dagster_dbt_translator=CxDbtTranslator(),
    partitions_def=daily_partitions,
    backfill_policy=BackfillPolicy.single_run(),
)
def cx_dbt_models(context: AssetExecutionContext, dbt: DbtCliResource):
    """Staging views, intermediate models and the marts, built and tested by `dbt build` for the
    partition window (a backfill of many days runs as one dbt invocation)."""
    args = ["build", "--vars", json.dumps(partition_vars(context))]
    yield from dbt.cli(args, context=context).stream()
