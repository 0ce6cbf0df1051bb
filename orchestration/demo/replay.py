"""Replay the public conversations (`CX_DATA_DIR`) into the landing zone as N demo days.

Every conversation of the four public files is mapped onto the input contract and laid on one
of `days` consecutive days ending `end_date`, as `<landing_dir>/<YYYY-MM-DD>/demo-<source>.jsonl`.
All randomness comes from a BLAKE2b hash of the conversation_id (never Python's `hash()`), so a
rerun with the same arguments writes byte-identical files.

Mapping onto the contract
    channel  `twitter` and `social_media` -> `social`, `chat` -> `chat`, anything else -> `other`.
    team     Twitter threads keep their brand care account (`team`); the STC-3 helpdesk threads
             -> `weibo_helpdesk`; USS by subset: SGD -> `virtual_assistant`, MultiWOZ ->
             `travel_desk`, ReDial -> `movie_recommendations`, CCPE -> `movie_preferences`.
    handler  USS SGD dialogues are AI only (`agent_kind: ai_simulated`: the simulated system) ->
             `author_kind: ai`, `author_id: <team>-assistant`; every other agent turn is a human
             -> `author_kind: human`, `author_id: <team>-agent`.
    times    Where the source has message times (Twitter), the first message lands on the hashed
             time of day of the hashed day and the others keep their gaps, each gap clamped to
             `MAX_GAP` so a thread stays a plausible support conversation; a null time stays null.
             Where the source has no times, `sent_at` is synthesised: the first message at the
             hashed time of day, then a hashed gap of `GAP_SECONDS` per message, and the record is
             tagged `synthetic_times`. `started_at`/`ended_at` are the first/last message time.
    tags     `demo`, `source:<source>`, `subset:<subset>` (USS), `synthetic_times`,
             `synthetic_csat` (see below).

CSAT survey simulation (tag `synthetic_csat`)
    The public sets have no surveys, so the demo simulates the survey a helpdesk would send, to
    show what surveyed CSAT sees next to the judge. Per conversation (hash-based):
    - a survey is sent with probability `SURVEY_RATE` (~39%), one minute after `ended_at`;
    - it is answered with probability `ANSWER_BASE * ANSWER_WEIGHT[label]`, where `label` is the
      set's consensus human rating (`human_score`) and the weights rise from 1 to 5 (the happy
      answer more often). `ANSWER_BASE` is set so that over the label distribution of the public
      labelled sets (STC-3 dev + USS) ~21% (`ANSWER_RATE`) of the surveys sent are answered;
    - the answer is the human label, `answered_at` a hashed delay after `sent_at`.
    Conversations without a human label (STC-3 unlabelled, Twitter) may be surveyed but the survey
    is never answered (`score: null`): there is no truthful answer to put there. Over all the
    demo data the response rate among surveys sent is therefore below 21%.

No Dagster here: `python -m orchestration.demo` and the benchmarks call `replay`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

__all__ = [
    "ANSWER_BASE",
    "ANSWER_RATE",
    "ANSWER_WEIGHT",
    "GAP_SECONDS",
    "MAX_GAP",
    "SOURCE_FILES",
    "SURVEY_RATE",
    "ReplaySummary",
    "demo_records",
    "is_ai_agent",
    "read_sources",
    "replay",
    "source_channel",
    "source_team",
]

log = logging.getLogger(__name__)

#: Demo source name -> file name in `CX_DATA_DIR`. The source name is used in the landing file
#: name (`demo-<source>.jsonl`) and in the `source:<source>` tag.
SOURCE_FILES: dict[str, str] = {
    "stc3_dev": "stc3_dch1_en.dev.jsonl",
    "stc3_unlabeled": "stc3_dch1_en_unlabeled.jsonl",
    "uss": "uss.jsonl",
    "twitter_cdp": "twitter_cdp.jsonl",
}

#: Share of conversations that get a (simulated) survey.
SURVEY_RATE = 0.39
#: Target share of surveys answered, over the label distribution of the public labelled sets.
ANSWER_RATE = 0.21
#: Relative answer propensity by human label: the happier the customer, the likelier the answer.
ANSWER_WEIGHT: dict[int, float] = {1: 0.5, 2: 0.75, 3: 1.0, 4: 1.5, 5: 2.0}
#: `human_score` counts of the public labelled sets (STC-3 dev + USS), used only to normalise.
_PUBLIC_LABEL_COUNTS: dict[int, int] = {1: 13, 2: 247, 3: 2889, 4: 631, 5: 18}
#: Answer probability = ANSWER_BASE * ANSWER_WEIGHT[label] (~0.196 * weight).
ANSWER_BASE = ANSWER_RATE / (
    sum(ANSWER_WEIGHT[s] * c for s, c in _PUBLIC_LABEL_COUNTS.items())
    / sum(_PUBLIC_LABEL_COUNTS.values())
)
#: The survey goes out this long after the conversation ends.
SURVEY_DELAY = timedelta(minutes=1)
#: An answer arrives between 2 minutes and 12 hours after the survey (skewed towards early).
_ANSWER_DELAY_MIN_S, _ANSWER_DELAY_SPAN_S = 120, 12 * 3600 - 120
#: Synthesised gap between two messages where the source has no times (inclusive range).
GAP_SECONDS = (20, 180)
#: Longest gap kept between two timed source messages (longer ones are clamped to it).
MAX_GAP = timedelta(hours=6)

_CHANNELS = {"twitter": "social", "social_media": "social", "social": "social", "chat": "chat"}
_CONTRACT_CHANNELS = frozenset({"chat", "email", "phone", "social", "other"})
_USS_TEAMS = {
    "SGD": "virtual_assistant",
    "MWOZ": "travel_desk",
    "MultiWOZ": "travel_desk",
    "ReDial": "movie_recommendations",
    "CCPE": "movie_preferences",
}
_STC3_TEAM = "weibo_helpdesk"
_AI_AGENT_KINDS = frozenset({"ai_simulated", "ai"})
_PERSON = b"cx-demo-replay"
_GAP_PERSON = b"cx-demo-gaps"
_U32 = float(2**32)


@dataclass
class ReplaySummary:
    """What a replay wrote: counts per source and per day, and the simulated surveys."""

    landing_dir: Path
    first_day: date
    last_day: date
    per_source: dict[str, int] = field(default_factory=dict)
    per_day: dict[date, int] = field(default_factory=dict)
    surveys_sent: int = 0
    surveys_answered: int = 0
    files_written: int = 0
    seconds: float = 0.0

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @property
    def conversations(self) -> int:
        return sum(self.per_source.values())

    @property
    def per_day_min(self) -> int:
        return min(self.per_day.values(), default=0)

    @property
    def per_day_max(self) -> int:
        return max(self.per_day.values(), default=0)

    def __str__(self) -> str:
        total = self.conversations
        sent_share = self.surveys_sent / total if total else 0.0
        answered_share = self.surveys_answered / self.surveys_sent if self.surveys_sent else 0.0
        sources = ", ".join(f"{name} {count:,}" for name, count in self.per_source.items())
        return "\n".join(
            [
                f"Replayed {total:,} conversations into {self.landing_dir} "
                f"({self.first_day}..{self.last_day}, {self.days} days, "
                f"{self.files_written} files, {self.seconds:.1f} s)",
                f"  per source: {sources}",
                f"  per day: {self.per_day_min:,}..{self.per_day_max:,} conversations",
                f"  simulated CSAT (tag synthetic_csat): {self.surveys_sent:,} surveys sent "
                f"({sent_share:.1%}), {self.surveys_answered:,} answered "
                f"({answered_share:.1%} of sent)",
            ]
        )


def read_sources(data_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """The raw public records per demo source, in file order.

    Raises `FileNotFoundError` naming the path when `data_dir` is missing or holds none of the
    files; a single missing file is skipped with a logged warning.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(
            f"demo data folder {data_dir} does not exist (set CX_DATA_DIR to the public data)"
        )
    out: dict[str, list[dict[str, Any]]] = {}
    for source, name in SOURCE_FILES.items():
        path = data_dir / name
        if not path.is_file():
            log.warning("demo data file %s is missing; replaying without source %r", path, source)
            continue
        with path.open("r", encoding="utf-8") as handle:
            out[source] = [json.loads(line) for line in handle if line.strip()]
    if not out:
        expected = ", ".join(SOURCE_FILES.values())
        raise FileNotFoundError(f"no demo data file in {data_dir} (expected: {expected})")
    return out


def _digest(conversation_id: str) -> bytes:
    return hashlib.blake2b(conversation_id.encode(), digest_size=32, person=_PERSON).digest()


def _u32(digest: bytes, start: int) -> int:
    return int.from_bytes(digest[start : start + 4], "big")


def _gaps(conversation_id: str, count: int) -> list[int]:
    """`count` hashed gaps in seconds, each within GAP_SECONDS."""
    low, high = GAP_SECONDS
    span = high - low + 1
    out: list[int] = []
    block = 0
    while len(out) < count:
        chunk = hashlib.blake2b(
            f"{block}:{conversation_id}".encode(), digest_size=64, person=_GAP_PERSON
        ).digest()
        out.extend(
            low + (int.from_bytes(chunk[i : i + 2], "big") * span >> 16) for i in range(0, 64, 2)
        )
        block += 1
    return out[:count]


def _iso(moment: datetime) -> str:
    """A naive UTC datetime as `YYYY-MM-DDTHH:MM:SSZ`."""
    return moment.isoformat(timespec="seconds") + "Z"


def _parse_time(value: Any) -> datetime | None:
    """A source timestamp as a naive UTC datetime (offset-less ones are taken as UTC)."""
    if not isinstance(value, str) or not value:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)


def source_team(source: str, raw: Mapping[str, Any]) -> str | None:
    """The team a public record is replayed under (the evals and the trained judge share it)."""
    if source.startswith("stc3"):
        return _STC3_TEAM
    if source == "uss":
        subset = str(raw.get("subset") or "unknown")
        return _USS_TEAMS.get(subset, f"uss_{subset.lower()}")
    team = raw.get("team")
    return str(team) if team else None


def source_channel(raw: Mapping[str, Any]) -> str:
    """A public record's channel as a contract channel (unknown ones become `other`)."""
    value = str(raw.get("channel") or "other")
    return _CHANNELS.get(value, value if value in _CONTRACT_CHANNELS else "other")


def is_ai_agent(raw: Mapping[str, Any]) -> bool:
    """Whether a public record's agent is an AI (the USS SGD system is simulated)."""
    return str(raw.get("agent_kind") or "") in _AI_AGENT_KINDS


def _message_times(
    conversation_id: str, messages: list[dict[str, Any]], start: datetime
) -> tuple[list[datetime | None], bool]:
    """(sent_at per message, synthesised?) with the first message at `start`."""
    if not messages:
        return [], True
    source_times = [_parse_time(m.get("time")) for m in messages]
    if not any(t is not None for t in source_times):
        times: list[datetime | None] = [start]
        moment = start
        for gap in _gaps(conversation_id, len(messages) - 1):
            moment += timedelta(seconds=gap)
            times.append(moment)
        return times, False
    out: list[datetime | None] = []
    previous_source: datetime | None = None
    previous_new: datetime | None = None
    for original in source_times:
        if original is None:
            out.append(None)
            continue
        if previous_source is None or previous_new is None:
            new = start
        else:
            gap = original - previous_source
            new = previous_new + min(max(gap, timedelta(0)), MAX_GAP)
        out.append(new)
        previous_source, previous_new = original, new
    return out, True


def _record(source: str, raw: dict[str, Any], day: date, digest: bytes) -> dict[str, Any]:
    """One public record -> one contract record placed on `day` (a plain dict, JSON-ready)."""
    conversation_id = str(raw["conversation_id"])
    team = source_team(source, raw)
    is_ai = is_ai_agent(raw)
    author_kind = "ai" if is_ai else "human"
    author_id = f"{team or source}-{'assistant' if is_ai else 'agent'}"
    messages_in: list[dict[str, Any]] = list(raw.get("messages") or [])

    start = datetime(day.year, day.month, day.day) + timedelta(seconds=_u32(digest, 8) % 86_400)
    times, from_source = _message_times(conversation_id, messages_in, start)
    messages: list[dict[str, Any]] = []
    for message, sent_at in zip(messages_in, times, strict=True):
        role = message.get("role")
        out: dict[str, Any] = {"role": role}
        if role == "agent":
            out["author_kind"] = author_kind
            out["author_id"] = author_id
        out["sent_at"] = _iso(sent_at) if sent_at is not None else None
        out["text"] = message.get("text")
        messages.append(out)

    known = [t for t in times if t is not None]
    started_at = known[0] if known else start
    ended_at = max(known) if known else start

    tags = ["demo", f"source:{source}"]
    if source == "uss" and raw.get("subset"):
        tags.append(f"subset:{raw['subset']}")
    if not from_source:
        tags.append("synthetic_times")

    record: dict[str, Any] = {
        "conversation_id": conversation_id,
        "channel": source_channel(raw),
        "started_at": _iso(started_at),
        "ended_at": _iso(ended_at),
        "team": team,
        "messages": messages,
    }
    if _u32(digest, 12) / _U32 < SURVEY_RATE:
        sent_at = ended_at + SURVEY_DELAY
        label = raw.get("human_score")
        score: int | None = None
        answered_at: datetime | None = None
        labelled = type(label) is int and label in ANSWER_WEIGHT
        if labelled and _u32(digest, 16) / _U32 < ANSWER_BASE * ANSWER_WEIGHT[label]:
            score = label
            delay = _ANSWER_DELAY_MIN_S + int((_u32(digest, 20) / _U32) ** 2 * _ANSWER_DELAY_SPAN_S)
            answered_at = sent_at + timedelta(seconds=delay)
        record["csat"] = {
            "score": score,
            "sent_at": _iso(sent_at),
            "answered_at": _iso(answered_at) if answered_at is not None else None,
        }
        tags.append("synthetic_csat")
    record["tags"] = tags
    return record


def demo_records(
    data_dir: Path, end_date: date, days: int = 28
) -> Iterator[tuple[date, str, dict[str, Any]]]:
    """(day, source, contract record) for every public conversation, in file order."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    first = end_date - timedelta(days=days - 1)
    for source, raws in read_sources(data_dir).items():
        for raw in raws:
            digest = _digest(str(raw["conversation_id"]))
            day = first + timedelta(days=int.from_bytes(digest[:8], "big") % days)
            yield day, source, _record(source, raw, day, digest)


def _dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def replay(data_dir: Path, landing_dir: Path, end_date: date, days: int = 28) -> ReplaySummary:
    """Lay every public conversation into the landing zone over `days` days ending `end_date`.

    Writes `<landing_dir>/<day>/demo-<source>.jsonl` (one file per source and day, lines in
    `started_at` order) and removes the `demo-*.jsonl` left in those day folders by an earlier
    replay; no other file is touched. Deterministic: same arguments, byte-identical files.
    """
    started = time.perf_counter()
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    landing_dir = Path(landing_dir)
    first = end_date - timedelta(days=days - 1)
    summary = ReplaySummary(landing_dir=landing_dir, first_day=first, last_day=end_date)
    files: dict[tuple[date, str], list[tuple[str, str, str]]] = defaultdict(list)
    per_source: Counter[str] = Counter()
    for day, source, record in demo_records(data_dir, end_date, days):
        files[(day, source)].append(
            (record["started_at"], record["conversation_id"], _dumps(record))
        )
        per_source[source] += 1
        csat = record.get("csat")
        if csat is not None:
            summary.surveys_sent += 1
            summary.surveys_answered += csat["score"] is not None
    summary.per_source = {s: per_source[s] for s in SOURCE_FILES if s in per_source}

    for offset in range(days):
        day = first + timedelta(days=offset)
        folder = landing_dir / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        keep = {f"demo-{source}.jsonl" for (d, source) in files if d == day}
        for stale in folder.glob("demo-*.jsonl"):
            if stale.name not in keep and stale.is_file():
                stale.unlink()
        summary.per_day[day] = 0
        for source in SOURCE_FILES:
            lines = files.get((day, source))
            if not lines:
                continue
            lines.sort()
            target = folder / f"demo-{source}.jsonl"
            partial = folder / f".demo-{source}.jsonl.partial"
            with partial.open("w", encoding="utf-8", newline="\n") as handle:
                handle.write("".join(line + "\n" for _, _, line in lines))
            os.replace(partial, target)
            summary.per_day[day] += len(lines)
            summary.files_written += 1
    summary.seconds = time.perf_counter() - started
    return summary
