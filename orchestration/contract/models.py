"""The input record: one JSON Lines record per support conversation.

No Dagster here: this module changes only when the input format changes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

__all__ = [
    "MAX_MESSAGE_CHARS",
    "AuthorKind",
    "Channel",
    "Conversation",
    "Csat",
    "Message",
    "Role",
]

Channel = Literal["chat", "email", "phone", "social", "other"]
Role = Literal["customer", "agent", "system"]
AuthorKind = Literal["ai", "human"]

#: A message longer than this is refused (the record goes to quarantine). Transcripts of a
#: whole phone call fit comfortably; anything larger is almost always a paste or a bug upstream.
MAX_MESSAGE_CHARS = 20_000


def _to_utc(value: datetime | None) -> datetime | None:
    """Timestamps are stored in UTC; one without an offset is taken to be UTC already."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class Message(BaseModel):
    """One turn of the conversation."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    role: Role
    text: str = Field(max_length=MAX_MESSAGE_CHARS)
    author_kind: AuthorKind | None = None
    author_id: str | None = None
    sent_at: datetime | None = None

    _utc = field_validator("sent_at")(_to_utc)

    @model_validator(mode="after")
    def _agents_say_who_they_are(self) -> Message:
        if self.role == "agent" and self.author_kind is None:
            raise PydanticCustomError(
                "author_kind_missing", "an agent message needs author_kind 'ai' or 'human'"
            )
        return self


class Csat(BaseModel):
    """A satisfaction survey: sent, and answered 1-5 if the customer replied."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    score: int | None = Field(default=None, ge=1, le=5)
    sent_at: datetime | None = None
    answered_at: datetime | None = None

    _utc = field_validator("sent_at", "answered_at")(_to_utc)


class Conversation(BaseModel):
    """One support conversation in the input contract (see README, "Input contract")."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    conversation_id: str = Field(min_length=1, max_length=256)
    channel: Channel
    started_at: datetime | None = None
    ended_at: datetime | None = None
    team: str | None = None
    messages: list[Message] = Field(min_length=1)
    csat: Csat | None = None
    tags: list[str] = Field(default_factory=list)

    _utc = field_validator("started_at", "ended_at")(_to_utc)

    @field_validator("conversation_id")
    @classmethod
    def _id_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("conversation_id is blank")
        return value

    @field_validator("messages")
    @classmethod
    def _has_customer(cls, value: list[Message]) -> list[Message]:
        if not any(m.role == "customer" for m in value):
            raise PydanticCustomError("no_customer_message", "no message has role 'customer'")
        return value

    @model_validator(mode="after")
    def _derive_and_check(self) -> Conversation:
        times = [m.sent_at for m in self.messages if m.sent_at is not None]
        if self.started_at is None:
            if not times:
                raise PydanticCustomError(
                    "started_at_missing", "started_at is missing and no message has sent_at"
                )
            object.__setattr__(self, "started_at", min(times))
        if self.ended_at is None and times:
            object.__setattr__(self, "ended_at", max(times))
        if self.ended_at is not None and self.ended_at < self.started_at:
            raise PydanticCustomError("ended_before_start", "ended_at is before started_at")
        return self
