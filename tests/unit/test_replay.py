"""The demo replay and the synthetic big day, on a tiny fake data folder written here.

The fake files mimic the shape of the public data (see `CX_DATA_DIR`'s README) with invented
texts; these tests never read the shared data.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from orchestration.contract import Conversation
from orchestration.demo.replay import (
    ANSWER_BASE,
    ANSWER_RATE,
    ANSWER_WEIGHT,
    MAX_GAP,
    SOURCE_FILES,
    replay,
)
from orchestration.demo.synthetic import synthesize_day

END = date(2026, 3, 28)
USS_SUBSETS = {  # subset -> (agent_kind in the source, team expected)
    "SGD": ("ai_simulated", "virtual_assistant"),
    "MWOZ": ("human_wizard", "travel_desk"),
    "ReDial": ("human", "movie_recommendations"),
    "CCPE": ("human", "movie_preferences"),
}
TWITTER_TEAMS = ("AcmeCare", "WidgetHelp")


def _stc3(i: int, score: int | None) -> dict[str, Any]:
    return {
        "conversation_id": f"stc3-{900_000 + i}",
        "source": "stc3_dch1",
        "language": "en",
        "channel": "social_media",
        "agent_kind": "human",
        "domain": "customer helpdesk (invented)",
        "messages": [
            {"role": "customer", "text": f"My parcel number {i} has not arrived yet."},
            {"role": "agent", "text": "Hello! Please send us the order number privately."},
            {"role": "customer", "text": "Sent, thanks." if i % 3 else ""},
        ],
        "human_score": score,
        "turn_scores": None,
    }


def _uss(i: int) -> dict[str, Any]:
    subset = list(USS_SUBSETS)[i % 4]
    turns = 2 + i % 5
    messages = []
    for t in range(turns):
        messages.append({"role": "customer", "text": f"Could you find option {t} for me?"})
        messages.append({"role": "agent", "text": f"Option {t} is available."})
    return {
        "conversation_id": f"uss-{subset}-{i:04d}",
        "source": "uss",
        "subset": subset,
        "language": "en",
        "channel": "chat",
        "agent_kind": USS_SUBSETS[subset][0],
        "domain": "invented",
        "topics": None,
        "messages": messages,
        "human_score": [3, 3, 3, 4, 2, 5, 1, 3][i % 8],
        "annotator_scores": [3, 3, 4],
        "turn_scores": None,
    }


def _twitter(i: int) -> dict[str, Any]:
    start = datetime(2020, 4, 1, 10, 0, 0) + timedelta(hours=i)
    gaps = [0, 95, 3_000, 40 * 86_400 if i == 0 else 600]  # the first thread has a 40-day gap
    messages = []
    moment = start
    for k, gap in enumerate(gaps):
        moment += timedelta(seconds=gap)
        role = "customer" if k % 2 == 0 else "agent"
        messages.append(
            {"role": role, "text": f"@{role} message {k}", "time": f"{moment.isoformat()}.000Z"}
        )
    messages.append({"role": "agent", "text": "@customer all fixed now.", "time": None})
    return {
        "conversation_id": f"twcdp-{i:06d}",
        "source": "twitter_cdp",
        "split": "dev",
        "language": "en",
        "channel": "twitter",
        "agent_kind": "human",
        "team": TWITTER_TEAMS[i % 2],
        "domain": "invented",
        "messages": messages,
        "human_score": None,
        "turn_scores": None,
    }


FAKE: dict[str, list[dict[str, Any]]] = {
    "stc3_dev": [_stc3(i, [3, 2, 3, 4, 5, 1, 3, 3][i % 8]) for i in range(120)],
    "stc3_unlabeled": [_stc3(1_000 + i, None) for i in range(60)],
    "uss": [_uss(i) for i in range(240)],
    "twitter_cdp": [_twitter(i) for i in range(80)],
}
TOTAL = sum(len(records) for records in FAKE.values())
SOURCE_RECORDS = {r["conversation_id"]: r for records in FAKE.values() for r in records}


def _write_data(folder: Path, sources: list[str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for source in sources or list(FAKE):
        lines = "".join(json.dumps(record) + "\n" for record in FAKE[source])
        (folder / SOURCE_FILES[source]).write_text(lines, encoding="utf-8")
    return folder


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return _write_data(tmp_path / "data")


def _read(landing: Path) -> list[tuple[str, str, dict[str, Any]]]:
    """(day folder, file name, record) for every line under the landing root."""
    out = []
    for path in sorted(landing.glob("*/*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            out.append((path.parent.name, path.name, json.loads(line)))
    return out


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_every_line_validates_against_the_contract(data_dir: Path, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    summary = replay(data_dir, landing, end_date=END, days=7)
    rows = _read(landing)
    assert len(rows) == TOTAL == summary.conversations
    assert len({record["conversation_id"] for _, _, record in rows}) == TOTAL
    assert summary.per_source == {source: len(records) for source, records in FAKE.items()}
    for folder, name, record in rows:
        conversation = Conversation.model_validate(record)
        source = name.removeprefix("demo-").removesuffix(".jsonl")
        assert conversation.tags[:2] == ["demo", f"source:{source}"]
        assert conversation.started_at.date().isoformat() == folder
        assert conversation.started_at == conversation.messages[0].sent_at


def test_replay_is_deterministic(data_dir: Path, tmp_path: Path) -> None:
    replay(data_dir, tmp_path / "a", end_date=END, days=5)
    replay(data_dir, tmp_path / "b", end_date=END, days=5)
    first = _tree(tmp_path / "a")
    assert first and first == _tree(tmp_path / "b")
    replay(data_dir, tmp_path / "a", end_date=END, days=5)
    assert _tree(tmp_path / "a") == first


def test_days_span_exactly_the_window_ending_end_date(data_dir: Path, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    summary = replay(data_dir, landing, end_date=END, days=5)
    expected = [(END - timedelta(days=i)).isoformat() for i in reversed(range(5))]
    assert sorted(p.name for p in landing.iterdir()) == expected
    assert (summary.first_day, summary.last_day, summary.days) == (date(2026, 3, 24), END, 5)
    assert sorted(d.isoformat() for d in summary.per_day) == expected
    assert sum(summary.per_day.values()) == TOTAL
    assert 0 < summary.per_day_min <= summary.per_day_max < TOTAL
    with pytest.raises(ValueError, match="days"):
        replay(data_dir, landing, end_date=END, days=0)


def test_handler_mapping_sgd_is_ai_everything_else_human(data_dir: Path, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    replay(data_dir, landing, end_date=END, days=3)
    seen = set()
    for _, _, record in _read(landing):
        agents = [m for m in record["messages"] if m["role"] == "agent"]
        customers = [m for m in record["messages"] if m["role"] == "customer"]
        assert agents and all("author_kind" not in m for m in customers)
        is_sgd = "subset:SGD" in record["tags"]
        kinds = {m["author_kind"] for m in agents}
        ids = {m["author_id"] for m in agents}
        if is_sgd:
            assert (kinds, ids) == ({"ai"}, {"virtual_assistant-assistant"})
        else:
            assert (kinds, ids) == ({"human"}, {f"{record['team']}-agent"})
        seen.add(is_sgd)
    assert seen == {True, False}


def test_team_channel_and_tag_mapping(data_dir: Path, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    replay(data_dir, landing, end_date=END, days=3)
    teams = set()
    for _, name, record in _read(landing):
        raw = SOURCE_RECORDS[record["conversation_id"]]
        if raw["source"] == "stc3_dch1":
            assert (record["team"], record["channel"]) == ("weibo_helpdesk", "social")
        elif raw["source"] == "uss":
            assert (record["team"], record["channel"]) == (USS_SUBSETS[raw["subset"]][1], "chat")
            assert f"subset:{raw['subset']}" in record["tags"]
        else:
            assert (record["team"], record["channel"]) == (raw["team"], "social")
            assert name == "demo-twitter_cdp.jsonl"
        teams.add(record["team"])
    assert teams == {"weibo_helpdesk", *(t for _, t in USS_SUBSETS.values()), *TWITTER_TEAMS}


def test_message_times_kept_where_known_and_synthesised_where_not(
    data_dir: Path, tmp_path: Path
) -> None:
    landing = tmp_path / "landing"
    replay(data_dir, landing, end_date=END, days=3)
    for _, _, record in _read(landing):
        raw = SOURCE_RECORDS[record["conversation_id"]]
        sent = [m["sent_at"] for m in record["messages"]]
        if raw["source"] == "twitter_cdp":
            assert "synthetic_times" not in record["tags"]
            assert sent[-1] is None and all(s is not None for s in sent[:-1])
            old = [_at(m["time"]) for m in raw["messages"][:-1]]
            new = [_at(s) for s in sent[:-1]]
            for (a, b), (x, y) in zip(pairwise(old), pairwise(new), strict=True):
                assert y - x == min(b - a, MAX_GAP)
            assert record["ended_at"] == sent[-2]
        else:
            assert "synthetic_times" in record["tags"]
            times = [_at(s) for s in sent]
            gaps = [(b - a).total_seconds() for a, b in pairwise(times)]
            assert all(20 <= gap <= 180 for gap in gaps)
            assert (record["started_at"], record["ended_at"]) == (sent[0], sent[-1])
    clamped = next(r for _, _, r in _read(landing) if r["conversation_id"] == "twcdp-000000")
    span = _at(clamped["ended_at"]) - _at(clamped["started_at"])
    assert span == timedelta(seconds=95 + 3_000) + MAX_GAP


def test_csat_is_answered_only_with_a_label_and_answers_the_label(
    data_dir: Path, tmp_path: Path
) -> None:
    landing = tmp_path / "landing"
    summary = replay(data_dir, landing, end_date=END, days=3)
    sent = answered = unlabelled_sent = 0
    for _, _, record in _read(landing):
        label = SOURCE_RECORDS[record["conversation_id"]]["human_score"]
        csat = record.get("csat")
        assert ("synthetic_csat" in record["tags"]) == (csat is not None)
        if csat is None:
            continue
        sent += 1
        assert _at(csat["sent_at"]) == _at(record["ended_at"]) + timedelta(minutes=1)
        if csat["score"] is None:
            assert csat["answered_at"] is None
            unlabelled_sent += label is None
            continue
        answered += 1
        assert label is not None and csat["score"] == label
        assert _at(csat["answered_at"]) > _at(csat["sent_at"])
    assert (summary.surveys_sent, summary.surveys_answered) == (sent, answered)
    assert 0.25 * TOTAL < sent < 0.55 * TOTAL
    assert 0 < answered < sent and unlabelled_sent > 0


def test_answer_propensity_rises_with_the_label_and_averages_the_target() -> None:
    weights = [ANSWER_WEIGHT[s] for s in range(1, 6)]
    assert weights == sorted(weights) and weights[0] < weights[-1]
    assert ANSWER_BASE * max(weights) <= 1
    public = {1: 13, 2: 247, 3: 2889, 4: 631, 5: 18}  # the labelled sets' human_score counts
    mean = sum(ANSWER_BASE * ANSWER_WEIGHT[s] * c for s, c in public.items()) / sum(public.values())
    assert mean == pytest.approx(ANSWER_RATE)


def test_rerun_replaces_its_own_files_and_leaves_foreign_ones(
    data_dir: Path, tmp_path: Path
) -> None:
    landing = tmp_path / "landing"
    replay(data_dir, landing, end_date=END, days=3)
    first = _tree(landing)
    day = landing / END.isoformat()
    (day / "crm-export.jsonl").write_text('{"foreign": true}\n')
    (day / "demo-legacy.jsonl").write_text('{"stale": true}\n')
    (day / "notes.txt").write_text("keep me")
    outside = landing / (END + timedelta(days=1)).isoformat()
    outside.mkdir()
    (outside / "demo-uss.jsonl").write_text('{"outside": true}\n')

    replay(data_dir, landing, end_date=END, days=3)
    after = _tree(landing)
    assert not (day / "demo-legacy.jsonl").exists()
    assert (day / "crm-export.jsonl").read_text() == '{"foreign": true}\n'
    assert (day / "notes.txt").read_text() == "keep me"
    assert (outside / "demo-uss.jsonl").read_text() == '{"outside": true}\n'
    assert {k: v for k, v in after.items() if k in first} == first
    assert set(after) - set(first) == {
        f"{END.isoformat()}/crm-export.jsonl",
        f"{END.isoformat()}/notes.txt",
        f"{outside.name}/demo-uss.jsonl",
    }


def test_missing_data_is_a_clear_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    missing = tmp_path / "no-such-folder"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        replay(missing, tmp_path / "landing", end_date=END)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=re.escape(str(empty))):
        replay(empty, tmp_path / "landing", end_date=END)
    assert not (tmp_path / "landing").exists()

    partial = _write_data(tmp_path / "partial", ["uss", "twitter_cdp"])
    with caplog.at_level(logging.WARNING, logger="orchestration.demo.replay"):
        summary = replay(partial, tmp_path / "landing", end_date=END, days=2)
    assert summary.per_source == {"uss": 240, "twitter_cdp": 80}
    assert str(partial / SOURCE_FILES["stc3_dev"]) in caplog.text
    assert str(partial / SOURCE_FILES["stc3_unlabeled"]) in caplog.text


def test_summary_reads_well(data_dir: Path, tmp_path: Path) -> None:
    summary = replay(data_dir, tmp_path / "landing", end_date=END, days=4)
    text = str(summary)
    assert f"{TOTAL} conversations" in text and "2026-03-25..2026-03-28, 4 days" in text
    assert "stc3_dev 120, stc3_unlabeled 60, uss 240, twitter_cdp 80" in text
    assert f"{summary.surveys_sent} surveys sent" in text
    assert 3 <= len(text.splitlines()) <= 6


def test_synthesize_day_writes_n_unique_valid_conversations(data_dir: Path, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    day = date(2026, 4, 2)
    n = 2 * TOTAL + 37
    folder = synthesize_day(data_dir, landing, day, n, batch_size=100)
    assert folder == landing / day.isoformat()
    files = sorted(p.name for p in folder.iterdir())
    assert files and all(re.fullmatch(r"synthetic-\d{3}\.jsonl", name) for name in files)
    rows = _read(landing)
    assert len(rows) == n
    ids = [record["conversation_id"] for _, _, record in rows]
    assert len(set(ids)) == n
    for _, _, record in rows:
        conversation = Conversation.model_validate(record)
        original, copy = conversation.conversation_id.rsplit("~", 1)
        assert original in SOURCE_RECORDS and 0 <= int(copy) <= 2
        assert "synthetic_volume" in conversation.tags and "demo" in conversation.tags
        assert conversation.started_at.date() == day
    first = _tree(landing)

    (folder / "crm-export.jsonl").write_text('{"foreign": true}\n')
    synthesize_day(data_dir, landing, day, 10, batch_size=3)
    assert sum(1 for name, _, _ in _read(landing) if name == day.isoformat()) == 11
    assert (folder / "crm-export.jsonl").read_text() == '{"foreign": true}\n'
    (folder / "crm-export.jsonl").unlink()
    synthesize_day(data_dir, landing, day, n, batch_size=100)
    assert _tree(landing) == first
