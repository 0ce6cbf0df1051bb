"""Scoring: the judge rates every conversation of one day."""

import pyarrow.compute as pc
from dagster import AssetExecutionContext, MetadataValue, Output, asset

from orchestration.lake.partition import LakePartition
from orchestration.partitions import daily_partitions
from orchestration.resources import JudgeResource, LakeResource
from orchestration.scoring.frame import score_day
from orchestration.scoring.summary import score_histogram, spotlight_markdown

__all__ = ["conversation_scores"]


@asset(
    partitions_def=daily_partitions,
    group_name="scoring",
    io_manager_key="lake_io_manager",
    owners=["team:data-platform"],
    kinds={"python", "parquet"},
)
def conversation_scores(
    context: AssetExecutionContext,
    judge: JudgeResource,
    lake: LakeResource,
    raw_conversations: LakePartition,
) -> Output[LakePartition]:
    """The judge's verdict on every conversation of the day: the overall 1-5 CX score and the
    sub-scores it is built from (resolution of each customer issue, sentiment and how it moved,
    quality of service, efficiency), the topic and a short rationale. A conversation the judge
    cannot rate goes to `quarantine` with the reason instead, never silently dropped. Each
    partition shows conversations in / scored / quarantined, the score histogram, the day's CX
    score (share rated 4-5) and the day's spotlight: AI-only conversations the judge found
    resolved that still scored 1-2. Conversations are judged and written a batch at a time."""
    day = daily_partitions.time_window_for_partition_key(context.partition_key).start.date()
    the_judge = judge.build()
    with lake.staging("conversation_scores") as staging:
        scored = score_day(
            day, raw_conversations, the_judge, out_dir=staging, processes=judge.processes
        )
    scores = scored.read("scores", ["score"])
    positive = pc.sum(pc.greater_equal(scores.column("score"), 4)).as_py() or 0
    return Output(
        scored,
        metadata={
            "judge": the_judge.version,
            "conversations_in": raw_conversations.num_rows("conversations"),
            "scored": scores.num_rows,
            "quarantined": scored.num_rows("quarantine"),
            "cx_score": round(positive / scores.num_rows, 4) if scores.num_rows else None,
            "score_histogram": MetadataValue.json(score_histogram(scores)),
            "spotlight": MetadataValue.md(spotlight_markdown(raw_conversations, scored)),
            # LLM judge only: tokens, cost, cache hits, requests, redactions, truncations.
            **getattr(the_judge, "run_metadata", dict)(),
        },
    )
