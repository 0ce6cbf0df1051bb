"""Warehouse load: one day's raw + scored rows into DuckDB, replacing the partition atomically."""

from pathlib import Path

import pyarrow.compute as pc
from dagster import AssetExecutionContext, MaterializeResult, asset
from dagster_duckdb import DuckDBResource

from orchestration.lake.partition import LakePartition
from orchestration.partitions import daily_partitions
from orchestration.resources import JudgeResource
from orchestration.warehouse.load import PartitionLoad, judge_of, load_partition

__all__ = ["warehouse_partition"]


@asset(
    partitions_def=daily_partitions,
    group_name="warehouse",
    owners=["team:data-platform"],
    kinds={"duckdb"},
)
def warehouse_partition(
    context: AssetExecutionContext,
    warehouse: DuckDBResource,
    judge: JudgeResource,
    raw_conversations: LakePartition,
    conversation_scores: LakePartition,
) -> MaterializeResult:
    """The day's rows in the warehouse: `raw.conversations`, `raw.messages`, `raw.quarantine`,
    `raw.partition_loads` and `scored.conversation_scores`. The whole day is replaced in one
    transaction, so a rerun gives exactly the same rows: no duplicates, no gaps. Its checks
    stop the marts when a landing line is unaccounted for or a score is off the rubric, and
    warn on the quarantine rate, the judge failure rate, a shift of the score distribution and
    the great-expectations suite over the scored rows."""
    day = daily_partitions.time_window_for_partition_key(context.partition_key).start.date()
    ran = judge_of(conversation_scores)
    if ran is None:  # nothing scored today (all quarantined, or no lines): the judge that ran
        built = judge.build()
        ran = built.kind, built.version
    judge_kind, judge_version = ran
    lines_in = int(pc.sum(raw_conversations.read("files").column("lines")).as_py() or 0)
    load = PartitionLoad(day, lines_in, judge_kind, judge_version, context.run_id)
    Path(warehouse.database).parent.mkdir(parents=True, exist_ok=True)
    with warehouse.get_connection() as con:
        counts = load_partition(con, load, raw_conversations, conversation_scores)
    return MaterializeResult(metadata={**counts, "judge_version": judge_version})
