"""Landing zone -> the day's validated conversations and quarantine rows.

`CX_LANDING_DIR/<YYYY-MM-DD>/*.jsonl`, any number of files a day, read in name order. Every
non-blank line ends up either as a conversation or as a quarantine row with a reason; a
conversation_id seen twice in a day keeps its last occurrence and quarantines the earlier ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pyarrow as pa

from orchestration.contract import ContractError, Conversation, parse_record
from orchestration.warehouse.schema import arrow_schema

__all__ = ["ExtractedDay", "Located", "day_dir", "extract_day", "landing_files"]


@dataclass(frozen=True, slots=True)
class Located:
    """A valid conversation and where it came from."""

    conversation: Conversation
    source_file: str
    source_line: int


@dataclass
class ExtractedDay:
    day: date
    files: list[str]
    lines_in: int = 0
    lines_per_file: dict[str, int] = field(default_factory=dict)
    conversations: list[Located] = field(default_factory=list)
    quarantine: list[tuple[ContractError, str]] = field(default_factory=list)

    def tables(self) -> dict[str, pa.Table]:
        """The day as Arrow tables shaped like `raw.conversations/messages/quarantine`."""
        return {
            "conversations": _conversations_table(self.day, self.conversations),
            "messages": _messages_table(self.day, self.conversations),
            "quarantine": quarantine_table(self.day, "extract", self.quarantine),
            "files": pa.table(
                {
                    "source_file": list(self.lines_per_file),
                    "lines": pa.array(list(self.lines_per_file.values()), pa.int64()),
                }
            ),
        }


def day_dir(landing_dir: Path, day: date) -> Path:
    return landing_dir / day.isoformat()


def landing_files(landing_dir: Path, day: date) -> list[Path]:
    folder = day_dir(landing_dir, day)
    return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip(b"\r\n")
            if line.strip():
                yield number, line


def extract_day(landing_dir: Path, day: date) -> ExtractedDay:
    """Read and validate every landing file of one day."""
    files = landing_files(landing_dir, day)
    out = ExtractedDay(day=day, files=[p.name for p in files])
    latest: dict[str, tuple[Located, bytes]] = {}
    for path in files:
        name = f"{day.isoformat()}/{path.name}"
        out.lines_per_file[name] = 0
        for number, line in _lines(path):
            out.lines_in += 1
            out.lines_per_file[name] += 1
            parsed = parse_record(line, name, number)
            if isinstance(parsed, ContractError):
                out.quarantine.append((parsed, _decode(line)))
                continue
            located = Located(parsed, name, number)
            earlier = latest.get(parsed.conversation_id)
            if earlier is not None:
                old, old_line = earlier
                out.quarantine.append(
                    (
                        ContractError(
                            old.source_file,
                            old.source_line,
                            parsed.conversation_id,
                            "conversation_id",
                            "duplicate_conversation_id",
                            f"superseded by {name}:{number} (the last occurrence in a day wins)",
                        ),
                        _decode(old_line),
                    )
                )
            latest[parsed.conversation_id] = (located, line)
    out.conversations = [located for located, _ in latest.values()]
    return out


def _decode(line: bytes) -> str:
    return line.decode("utf-8", errors="replace")


def _conversations_table(day: date, rows: list[Located]) -> pa.Table:
    cols: dict[str, list] = {name: [] for name in arrow_schema("raw.conversations").names}
    for loc in rows:
        c = loc.conversation
        csat = c.csat
        cols["partition_date"].append(day)
        cols["conversation_id"].append(c.conversation_id)
        cols["channel"].append(c.channel)
        cols["team"].append(c.team)
        cols["started_at"].append(c.started_at)
        cols["ended_at"].append(c.ended_at)
        cols["message_count"].append(len(c.messages))
        cols["csat_score"].append(csat.score if csat else None)
        cols["csat_sent_at"].append(csat.sent_at if csat else None)
        cols["csat_answered_at"].append(csat.answered_at if csat else None)
        cols["is_surveyed"].append(csat is not None)
        cols["tags"].append(json.dumps(c.tags))
        cols["source_file"].append(loc.source_file)
        cols["source_line"].append(loc.source_line)
    return pa.Table.from_pydict(cols, schema=arrow_schema("raw.conversations"))


def _messages_table(day: date, rows: list[Located]) -> pa.Table:
    cols: dict[str, list] = {name: [] for name in arrow_schema("raw.messages").names}
    for loc in rows:
        cid = loc.conversation.conversation_id
        for index, m in enumerate(loc.conversation.messages):
            cols["partition_date"].append(day)
            cols["conversation_id"].append(cid)
            cols["message_index"].append(index)
            cols["role"].append(m.role)
            cols["author_kind"].append(m.author_kind)
            cols["author_id"].append(m.author_id)
            cols["sent_at"].append(m.sent_at)
            cols["text"].append(m.text)
    return pa.Table.from_pydict(cols, schema=arrow_schema("raw.messages"))


def quarantine_table(day: date, stage: str, rows: list[tuple[ContractError, str]]) -> pa.Table:
    """Quarantine rows of one stage, shaped like `raw.quarantine`."""
    return pa.Table.from_pylist(
        [
            {
                "partition_date": day,
                "stage": stage,
                "source_file": err.source_file,
                "source_line": err.source_line,
                "conversation_id": err.conversation_id,
                "field": err.field,
                "reason": err.reason,
                "detail": err.detail,
                "raw_line": raw,
            }
            for err, raw in rows
        ],
        schema=arrow_schema("raw.quarantine"),
    )
