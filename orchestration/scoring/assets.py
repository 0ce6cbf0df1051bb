"""Scoring: the judge rates every conversation of one day."""

from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc
from dagster import AssetExecutionContext, MetadataValue, Output, asset

from orchestration.partitions import daily_partitions
from orchestration.resources import JudgeResource
from orchestration.scoring.frame import score_day

__all__ = ["conversation_scores"]


@asset(
    partitions_def=daily_partitions,
    group_name="scoring",
    io_manager_key="lake_io_manager",
    owners=["team:data-platform"],
    kinds={"python", "parquet"},
)
def conversation_scores(
    context: AssetExecutionContext, judge: JudgeResource, raw_conversations: dict[str, pa.Table]
) -> Output[dict[str, pa.Table]]:
    """One verdict per conversation of the day: the overall 1-5 CX score, the sub-scores it is
    built from (resolution, sentiment, service, efficiency), per-issue resolution, sentiment
    start/end and trajectory, service and efficiency counts, topic and a short rationale. A
    conversation the judge cannot rate goes to `quarantine` with the reason instead."""
    day = daily_partitions.time_window_for_partition_key(context.partition_key).start.date()
    the_judge = judge.build()
    tables = score_day(day, raw_conversations, the_judge)
    scores = tables["scores"]
    histogram = Counter(scores.column("score").to_pylist())
    positive = pc.sum(pc.greater_equal(scores.column("score"), 4)).as_py() or 0
    return Output(
        tables,
        metadata={
            "judge": the_judge.version,
            "scored": scores.num_rows,
            "judge_failures": tables["quarantine"].num_rows,
            "cx_score": round(positive / scores.num_rows, 4) if scores.num_rows else None,
            "score_histogram": MetadataValue.json(
                {str(k): histogram.get(k, 0) for k in range(1, 6)}
            ),
        },
    )
