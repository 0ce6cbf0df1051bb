"""The verdict: what any judge (offline or LLM) says about one conversation.

Every judge returns the same model, so the warehouse, the marts and the evals never care which
judge ran. The overall score is not the judge's free choice: `rubric.overall_score` derives it
from the sub-scores by one documented rule.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "IssueStatus",
    "IssueVerdict",
    "Trajectory",
    "Verdict",
    "VerdictBody",
]

IssueStatus = Literal["resolved", "partly", "not_resolved"]
Trajectory = Literal["improved", "stable", "worsened"]


class IssueVerdict(BaseModel):
    """One thing the customer needed, and whether they got it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    summary: str = Field(max_length=200, description="The customer's issue in a few words.")
    status: IssueStatus
    evidence: str = Field(max_length=300, description="What in the transcript shows the status.")


class VerdictBody(BaseModel):
    """What a judge observes. An LLM judge is asked for exactly this (as JSON)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    issues: list[IssueVerdict] = Field(min_length=1, max_length=10)
    sentiment_start: float = Field(ge=-1, le=1, description="Customer sentiment at the start.")
    sentiment_end: float = Field(ge=-1, le=1, description="Customer sentiment at the end.")
    sentiment_trajectory: Trajectory
    tone_score: int = Field(ge=1, le=5, description="Agent tone: courteous, empathetic.")
    knowledge_score: int = Field(ge=1, le=5, description="Agent gave correct, specific help.")
    timeliness_score: int | None = Field(
        default=None, ge=1, le=5, description="Response speed; null when no message times."
    )
    loop_count: int = Field(ge=0, description="Times the conversation went round in circles.")
    needless_clarification_count: int = Field(ge=0, description="Questions the agent need not ask.")
    broken_handoff_count: int = Field(ge=0, description="Transfers that lost context or stalled.")
    topic: str = Field(max_length=64, description="A topic id from the taxonomy file.")
    rationale: str = Field(max_length=600, description="Why, in one to three sentences.")


class Verdict(VerdictBody):
    """The full verdict: observations plus the sub-scores and overall score derived from them."""

    resolution_score: int = Field(ge=1, le=5)
    sentiment_score: int = Field(ge=1, le=5)
    service_score: int = Field(ge=1, le=5)
    efficiency_score: int = Field(ge=1, le=5)
    score: int = Field(ge=1, le=5, description="Overall CX score, by rubric.overall_score.")
