"""Extract: the landing files of one day -> validated raw conversations (+ quarantine)."""

import pyarrow.compute as pc
from dagster import AssetExecutionContext, MetadataValue, Output, asset

from orchestration.extract.landing import day_dir, extract_day, quarantine_errors
from orchestration.lake.partition import LakePartition
from orchestration.partitions import daily_partitions
from orchestration.resources import LakeResource, LandingZoneResource

__all__ = ["raw_conversations"]


@asset(
    partitions_def=daily_partitions,
    group_name="extract",
    io_manager_key="lake_io_manager",
    owners=["team:data-platform"],
    kinds={"python", "parquet"},
)
def raw_conversations(
    context: AssetExecutionContext, landing: LandingZoneResource, lake: LakeResource
) -> Output[LakePartition]:
    """The day's support conversations, read from `CX_LANDING_DIR/<day>/*.jsonl` and validated
    against the input contract. Tables: `conversations`, `messages`, and `quarantine` (every
    line that failed validation, with file, line, conversation_id, field and reason). A
    conversation_id seen twice in a day keeps its last occurrence. Nothing is dropped. Each
    partition shows the files read, lines in, conversations, messages, lines quarantined and
    the count per quarantine reason. The tables are streamed to Parquet as they are made, never
    held whole in memory."""
    day = daily_partitions.time_window_for_partition_key(context.partition_key).start.date()
    with lake.staging("raw_conversations") as staging:
        extracted = extract_day(landing.path, day, out_dir=staging)
    if not extracted.files:
        context.log.warning(f"no landing files in {day_dir(landing.path, day)}")
    day_tables = extracted.partition
    for error, _ in quarantine_errors(day_tables, limit=20):
        context.log.warning(f"quarantined: {error}")
    reasons = pc.value_counts(day_tables.read("quarantine", ["reason"]).column("reason"))
    return Output(
        day_tables,
        metadata={
            "files": len(extracted.files),
            "lines_in": extracted.lines_in,
            "conversations": day_tables.num_rows("conversations"),
            "messages": day_tables.num_rows("messages"),
            "quarantined": day_tables.num_rows("quarantine"),
            "quarantine_reasons": MetadataValue.json(
                {r["values"]: r["counts"] for r in reasons.to_pylist()}
            ),
        },
    )
