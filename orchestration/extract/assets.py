"""Extract: the landing files of one day -> validated raw conversations (+ quarantine)."""

from collections import Counter

import pyarrow as pa
from dagster import AssetExecutionContext, MetadataValue, Output, asset

from orchestration.extract.landing import day_dir, extract_day
from orchestration.partitions import daily_partitions
from orchestration.resources import LandingZoneResource

__all__ = ["raw_conversations"]


@asset(
    partitions_def=daily_partitions,
    group_name="extract",
    io_manager_key="lake_io_manager",
    owners=["team:data-platform"],
    kinds={"python", "parquet"},
)
def raw_conversations(
    context: AssetExecutionContext, landing: LandingZoneResource
) -> Output[dict[str, pa.Table]]:
    """The day's support conversations, read from `CX_LANDING_DIR/<day>/*.jsonl` and validated
    against the input contract. Tables: `conversations`, `messages`, and `quarantine` (every
    line that failed validation, with file, line, conversation_id, field and reason). A
    conversation_id seen twice in a day keeps its last occurrence. Nothing is dropped. Each
    partition shows the files read, lines in, conversations, messages, lines quarantined and
    the count per quarantine reason."""
    day = daily_partitions.time_window_for_partition_key(context.partition_key).start.date()
    extracted = extract_day(landing.path, day)
    if not extracted.files:
        context.log.warning(f"no landing files in {day_dir(landing.path, day)}")
    for error, _ in extracted.quarantine[:20]:
        context.log.warning(f"quarantined: {error}")
    tables = extracted.tables()
    reasons = Counter(error.reason for error, _ in extracted.quarantine)
    return Output(
        tables,
        metadata={
            "files": len(extracted.files),
            "lines_in": extracted.lines_in,
            "conversations": tables["conversations"].num_rows,
            "messages": tables["messages"].num_rows,
            "quarantined": tables["quarantine"].num_rows,
            "quarantine_reasons": MetadataValue.json(dict(reasons)),
        },
    )
