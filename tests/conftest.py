"""Shared fixtures: a landing zone written by the tests themselves (never the shared data)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

WriteDay = Callable[..., Path]


def conversation(
    cid: str,
    *turns: tuple[str, str],
    channel: str = "chat",
    team: str | None = "billing",
    started_at: str = "2026-03-02T09:00:00Z",
    csat: dict | None = None,
) -> dict:
    """A valid record. `turns` are (speaker, text), speaker in customer | ai | human | system."""
    messages = []
    for speaker, text in turns:
        if speaker in ("ai", "human"):
            messages.append({"role": "agent", "author_kind": speaker, "text": text})
        else:
            messages.append({"role": speaker, "text": text})
    record = {
        "conversation_id": cid,
        "channel": channel,
        "team": team,
        "started_at": started_at,
        "messages": messages,
    }
    if csat is not None:
        record["csat"] = csat
    return record


def jsonl(records: list[dict | str | bytes]) -> bytes:
    out = b""
    for record in records:
        if isinstance(record, bytes):
            out += record
        elif isinstance(record, str):
            out += record.encode()
        else:
            out += json.dumps(record).encode()
        out += b"\n"
    return out


@pytest.fixture
def write_day(tmp_path: Path) -> WriteDay:
    """Write `{file_name: records}` into `<tmp>/landing/<day>/`; returns the landing root."""

    def _write(day: date, files: dict[str, list[dict | str | bytes]]) -> Path:
        root = tmp_path / "landing"
        folder = root / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        for name, records in files.items():
            (folder / name).write_bytes(jsonl(records))
        return root

    return _write
