"""The input contract: pydantic models for one conversation record and its parser."""

from orchestration.contract.models import MAX_MESSAGE_CHARS, Conversation, Csat, Message
from orchestration.contract.parse import REASONS, ContractError, parse_record

__all__ = [
    "MAX_MESSAGE_CHARS",
    "REASONS",
    "ContractError",
    "Conversation",
    "Csat",
    "Message",
    "parse_record",
]
