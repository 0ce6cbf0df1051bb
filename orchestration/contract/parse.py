"""Parse one JSON Lines record into a `Conversation`, or say exactly why not.

An error names the file, the line, the conversation_id (when the line got that far) and the
field, and carries a stable reason code the quarantine table can be grouped by.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import ValidationError

from orchestration.contract.models import Conversation

__all__ = ["REASONS", "ContractError", "first_key_wins", "parse_record"]

#: Every reason code a record can be quarantined with at the contract stage.
REASONS = (
    "invalid_utf8",
    "invalid_json",
    "not_an_object",
    "missing_field",
    "invalid_conversation_id",
    "invalid_channel",
    "unknown_role",
    "missing_author_kind",
    "no_messages",
    "no_customer_message",
    "invalid_timestamp",
    "message_too_long",
    "invalid_value",
    "duplicate_conversation_id",
)


@dataclass(frozen=True, slots=True)
class ContractError:
    """Why one record was refused, precise enough to find and fix it."""

    source_file: str
    source_line: int
    conversation_id: str | None
    field: str | None
    reason: str
    detail: str

    def __str__(self) -> str:
        who = f"conversation_id={self.conversation_id!r}" if self.conversation_id else "no id"
        where = f"field {self.field!r}: " if self.field else ""
        return f"{self.source_file}:{self.source_line} ({who}) {where}{self.detail} [{self.reason}]"


def _field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _reason(err: dict) -> str:
    kind, loc = err["type"], err["loc"]
    last = loc[-1] if loc else None
    if kind == "json_invalid":
        return "invalid_json"
    if kind in ("model_type", "model_attributes_type") and not loc:
        return "not_an_object"
    if kind == "missing":
        return "missing_field"
    if kind == "author_kind_missing":
        return "missing_author_kind"
    if kind == "no_customer_message":
        return "no_customer_message"
    if kind == "started_at_missing":
        return "missing_field"
    if last == "conversation_id" or (loc and loc[0] == "conversation_id"):
        return "invalid_conversation_id"
    if last == "role":
        return "unknown_role"
    if last == "channel":
        return "invalid_channel"
    if last == "messages" and kind == "too_short":
        return "no_messages"
    if last == "text" and kind == "string_too_long":
        return "message_too_long"
    if kind.startswith("datetime") or kind in ("timezone_aware", "ended_before_start"):
        return "invalid_timestamp"
    return "invalid_value"


_FIELD_FOR_MODEL_ERRORS = {"started_at_missing": "started_at", "ended_before_start": "ended_at"}


def _conversation_id_of(line: bytes) -> str | None:
    """Best effort: the id of a record that failed validation, for the quarantine row."""
    try:
        value = json.loads(line)
    except ValueError:
        return None
    if isinstance(value, dict) and isinstance(value.get("conversation_id"), str | int):
        return str(value["conversation_id"]) or None
    return None


def first_key_wins(line: bytes) -> bytes:
    """The line with every repeated key of an object dropped after its first occurrence.

    JSON leaves repeated keys undefined; the contract takes the first (as DuckDB's reader, the
    extract's fast path, does; Python and pydantic would take the last). Only a line that
    repeats a key is rewritten; any other line, valid or not, is returned as it is, so errors
    are worded on the original text."""
    repeated = False

    def first(pairs: list[tuple[str, object]]) -> dict[str, object]:
        nonlocal repeated
        out: dict[str, object] = {}
        for key, value in pairs:
            if key in out:
                repeated = True
            else:
                out[key] = value
        return out

    try:
        parsed = json.loads(line, object_pairs_hook=first)
    except ValueError:
        return line
    return json.dumps(parsed).encode() if repeated else line


def parse_record(line: bytes, source_file: str, source_line: int) -> Conversation | ContractError:
    """Validate one raw line. Never raises for bad input: returns a `ContractError`."""
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return ContractError(
            source_file,
            source_line,
            None,
            None,
            "invalid_utf8",
            f"line is not UTF-8 (byte {exc.start}: {line[exc.start : exc.start + 1]!r})",
        )
    try:
        return Conversation.model_validate_json(first_key_wins(line))
    except ValidationError as exc:
        err = exc.errors(include_url=False, include_input=False)[0]
        reason = _reason(err)
        field = _FIELD_FOR_MODEL_ERRORS.get(err["type"]) or _field_path(err["loc"]) or None
        if reason == "invalid_json":
            field = None
        elif reason == "missing_author_kind":
            field = f"{field}.author_kind"
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        return ContractError(
            source_file,
            source_line,
            None if reason == "invalid_json" else _conversation_id_of(line),
            field,
            reason,
            err["msg"] + more,
        )
