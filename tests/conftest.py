"""Shared fixtures: a landing zone written by the tests themselves (never the shared data)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest

WriteDay = Callable[..., Path]


@pytest.fixture(scope="session", autouse=True)
def trained_judge_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`CX_MODEL_DIR` for the whole session: a temp dir, never the repo's `data/`.

    It starts with a copy of the artifact `make install` trained (`data/models/`) when there is
    one; otherwise the first pipeline run trains it there (once per session).
    """
    from orchestration.judge.trained.artifact import ARTIFACT_NAME, CARD_NAME

    folder = tmp_path_factory.mktemp("models")
    installed = Path(__file__).resolve().parent.parent / "data" / "models"
    if (installed / ARTIFACT_NAME).is_file() and (installed / CARD_NAME).is_file():
        for name in (ARTIFACT_NAME, CARD_NAME):
            shutil.copyfile(installed / name, folder / name)
    previous = os.environ.get("CX_MODEL_DIR")
    os.environ["CX_MODEL_DIR"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("CX_MODEL_DIR", None)
    else:
        os.environ["CX_MODEL_DIR"] = previous


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
