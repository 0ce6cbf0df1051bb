"""The labelled sets an evaluation runs on: the public ones in `CX_DATA_DIR`, or any contract JSONL.

Public sets (`BUILTIN_SETS`, file names from `orchestration.demo.replay.SOURCE_FILES`)
    stc3_dev  `stc3_dch1_en.dev.jsonl`: 298 helpdesk threads, 19 raters each. Label `human_score`
              (median of the raters' satisfaction, 1..5); ceiling consensus `median_low`. Per
              conversation also the raters' mean A (task accomplished), S and E (efficiency),
              each -2..+2.
    uss       `uss.jsonl`: 3,500 task dialogues, 3-7 raters each. Label `human_score` (majority,
              ties low); ceiling consensus `majority_low`. Sliced by `subset` (SGD, MWOZ, ReDial,
              CCPE) and `agent_kind` (ai_simulated = SGD, human_wizard = MWOZ, human = the rest).

    Each public record is mapped onto the input contract the way `orchestration.demo.replay` maps
    it (channel, team, the agent's `author_kind`/`author_id`), with two deliberate differences:
    no message times are invented (the source has none; the judge's timeliness is then left out
    of its service score instead of being scored on made-up gaps), and no CSAT survey is
    simulated (the label is the human rating itself). `started_at` is a fixed placeholder.
    replay.py has no public per-record mapper, hence the few lines here.

Any JSONL in the input contract (`--input`)
    Each line is a `Conversation` record (validated by the pipeline's own
    `orchestration.contract.parse.parse_record`) plus a label: a top-level `human_score` (1..5)
    when present, else `csat.score`. An optional `annotator_scores` list (1..5 each) gives the
    human ceiling, with the consensus rule chosen by the caller (`majority_low` by default).
    Slices: `subset` when the records have one, `agent_kind` (a top-level `agent_kind` when
    present, else from the agent messages' `author_kind`: ai, human, ai+human or none) and `team`.
    A record with no label at all (no `human_score`, no answered survey) is skipped and counted
    (`no_label`); any other bad line stops the load with an `EvalInputError` naming the file,
    line, conversation_id and field: an evaluation set is small and should be clean.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.metrics import CONSENSUS_RULES, LABELS
from orchestration.contract.models import Conversation
from orchestration.contract.parse import ContractError, parse_record
from orchestration.demo.replay import SOURCE_FILES, is_ai_agent, source_channel, source_team

__all__ = [
    "BUILTIN_SETS",
    "EVAL_STARTED_AT",
    "EvalInputError",
    "LabelledConversation",
    "LabelledSet",
    "SetSpec",
    "evenly_spaced",
    "load_builtin",
    "load_contract_jsonl",
    "public_record_to_contract",
]

#: `started_at` of every mapped public record (the sets have no times; the judge ignores it).
EVAL_STARTED_AT = "2025-01-01T00:00:00Z"


class EvalInputError(ValueError):
    """A labelled record cannot be used; the message names the file, line, id and field."""


def _where(path: Path, line: int, conversation_id: Any) -> str:
    who = f"conversation_id={str(conversation_id)!r}" if conversation_id else "no id"
    return f"{path.name}:{line} ({who})"


@dataclass(frozen=True)
class SetSpec:
    """A public labelled set: its file in `CX_DATA_DIR`, ceiling consensus rule and slices."""

    file_name: str
    consensus_rule: str
    slice_fields: tuple[str, ...]
    description: str
    has_quality: bool = False


BUILTIN_SETS: dict[str, SetSpec] = {
    "stc3_dev": SetSpec(
        file_name=SOURCE_FILES["stc3_dev"],
        consensus_rule="median_low",
        slice_fields=("agent_kind",),
        description="NTCIR-14 STC-3 DCH-1 dev: real helpdesk threads (Weibo), 19 raters; "
        "human_score = median satisfaction",
        has_quality=True,
    ),
    "uss": SetSpec(
        file_name=SOURCE_FILES["uss"],
        consensus_rule="majority_low",
        slice_fields=("subset", "agent_kind"),
        description="User Satisfaction Simulation (SGD, MultiWOZ, ReDial, CCPE), 3-7 raters; "
        "human_score = majority overall rating, ties low; agent_kind follows the subset "
        "(SGD ai_simulated, MWOZ human_wizard, ReDial and CCPE human)",
    ),
}


@dataclass(frozen=True)
class LabelledConversation:
    """One conversation in the input contract with its human label(s)."""

    conversation: Conversation
    human_score: int
    #: The individual raters' scores (positional), empty when the set has none.
    annotator_scores: tuple[int, ...] = ()
    #: Slice dimension -> value, e.g. {"subset": "SGD", "agent_kind": "ai_simulated"}.
    slices: Mapping[str, str] = field(default_factory=dict)
    #: STC-3 only: the raters' mean A, S and E rating (-2..+2).
    quality: Mapping[str, float] | None = None


@dataclass
class LabelledSet:
    """A labelled set ready to judge, with what was skipped while reading it."""

    name: str
    path: Path
    consensus_rule: str
    label_rule: str
    description: str
    items: list[LabelledConversation]
    records_read: int
    #: Reason -> count of records not used (`no_label`: no human rating, no answered survey).
    skipped: dict[str, int] = field(default_factory=dict)
    #: Records with annotator scores, and how many of them the consensus rule reproduces.
    consensus_checked: int = 0
    consensus_reproduced: int = 0
    #: Set when `--limit` kept only part of the usable records.
    limited_from: int | None = None


def public_record_to_contract(name: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """One public record (`CX_DATA_DIR`) -> a contract record (plain dict), as replay maps it,
    without invented message times or surveys (see the module doc)."""
    team = source_team(name, raw)
    is_ai = is_ai_agent(raw)
    author_kind = "ai" if is_ai else "human"
    author_id = f"{team or name}-{'assistant' if is_ai else 'agent'}"
    messages: list[dict[str, Any]] = []
    for message in raw.get("messages") or []:
        out: dict[str, Any] = {"role": message.get("role"), "text": message.get("text")}
        if message.get("role") == "agent":
            out["author_kind"] = author_kind
            out["author_id"] = author_id
        if message.get("time"):
            out["sent_at"] = message["time"]
        messages.append(out)
    tags = ["eval", f"source:{name}"]
    if raw.get("subset"):
        tags.append(f"subset:{raw['subset']}")
    return {
        "conversation_id": str(raw["conversation_id"]),
        "channel": source_channel(raw),
        "started_at": EVAL_STARTED_AT,
        "team": team,
        "messages": messages,
        "tags": tags,
    }


def _valid_score(value: Any) -> int | None:
    if type(value) is int and value in LABELS:
        return value
    return None


def _label(raw: Mapping[str, Any], where: str) -> int | None:
    """`human_score` when present (1..5), None when absent or null; anything else is an error."""
    value = raw.get("human_score")
    if value is None:
        return None
    score = _valid_score(value)
    if score is None:
        raise EvalInputError(f"{where} field 'human_score': {value!r} is not an integer 1..5")
    return score


def _annotators(raw: Mapping[str, Any], where: str) -> tuple[int, ...]:
    """The record's individual ratings (empty when absent); a bad entry is an error."""
    values = raw.get("annotator_scores")
    if values is None:
        return ()
    if not isinstance(values, list):
        raise EvalInputError(f"{where} field 'annotator_scores': not a list")
    scores: list[int] = []
    for index, value in enumerate(values):
        score = _valid_score(value)
        if score is None:
            raise EvalInputError(
                f"{where} field 'annotator_scores[{index}]': {value!r} is not an integer 1..5"
            )
        scores.append(score)
    return tuple(scores)


def _quality(raw: Mapping[str, Any]) -> dict[str, float] | None:
    quality = raw.get("quality")
    if not isinstance(quality, Mapping):
        return None
    out: dict[str, float] = {}
    for key in ("A", "S", "E"):
        entry = quality.get(key)
        if isinstance(entry, Mapping) and isinstance(entry.get("mean"), int | float):
            out[key] = float(entry["mean"])
    return out or None


def _agent_kind(conversation: Conversation) -> str:
    kinds = sorted({m.author_kind for m in conversation.messages if m.author_kind is not None})
    return "+".join(kinds) if kinds else "none"


def _read_jsonl(path: Path) -> Iterable[tuple[int, bytes]]:
    """(line number, raw bytes) of every non-blank line."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, line.rstrip(b"\r\n")


def _json_object(path: Path, number: int, line: bytes) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except ValueError as error:
        raise EvalInputError(f"{path.name}:{number} (no id) not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise EvalInputError(f"{path.name}:{number} (no id) not a JSON object")
    return value


def evenly_spaced(count: int, limit: int | None) -> list[int]:
    """Indices of at most `limit` items spread evenly over `range(count)`, in order.

    `--limit` uses this so a quick run still covers every part of a file that is ordered by
    subset (USS is: SGD first, CCPE last).
    """
    if limit is None or limit >= count:
        return list(range(count))
    if limit <= 0:
        return []
    return sorted({round(i * (count - 1) / max(limit - 1, 1)) for i in range(limit)})


def _finish(labelled: LabelledSet, limit: int | None) -> LabelledSet:
    keep = evenly_spaced(len(labelled.items), limit)
    if len(keep) < len(labelled.items):
        labelled.limited_from = len(labelled.items)
        labelled.items = [labelled.items[i] for i in keep]
    return labelled


def _check_consensus(labelled: LabelledSet) -> None:
    rule = CONSENSUS_RULES[labelled.consensus_rule]
    for item in labelled.items:
        if item.annotator_scores:
            labelled.consensus_checked += 1
            labelled.consensus_reproduced += rule(item.annotator_scores) == item.human_score


def load_builtin(name: str, data_dir: Path, limit: int | None = None) -> LabelledSet:
    """A public labelled set from `data_dir` (`BUILTIN_SETS[name]`).

    Raises `KeyError` for an unknown name, `FileNotFoundError` when the file is missing and
    `EvalInputError` for a record that cannot be used.
    """
    spec = BUILTIN_SETS[name]
    path = Path(data_dir) / spec.file_name
    if not path.is_file():
        raise FileNotFoundError(
            f"labelled set {name!r} not found: {path} (set CX_DATA_DIR or --data-dir)"
        )
    skipped: Counter[str] = Counter()
    items: list[LabelledConversation] = []
    read = 0
    for number, line in _read_jsonl(path):
        read += 1
        raw = _json_object(path, number, line)
        where = _where(path, number, raw.get("conversation_id"))
        label = _label(raw, where)
        if label is None:
            skipped["no_label"] += 1
            continue
        if "conversation_id" not in raw:
            raise EvalInputError(f"{where} field 'conversation_id': missing")
        mapped = json.dumps(public_record_to_contract(name, raw)).encode()
        parsed = parse_record(mapped, path.name, number)
        if isinstance(parsed, ContractError):
            raise EvalInputError(f"{parsed} (after mapping the {name} record to the contract)")
        slices = {f: str(raw[f]) for f in spec.slice_fields if raw.get(f) not in (None, "")}
        items.append(
            LabelledConversation(
                conversation=parsed,
                human_score=label,
                annotator_scores=_annotators(raw, where),
                slices=slices,
                quality=_quality(raw) if spec.has_quality else None,
            )
        )
    labelled = LabelledSet(
        name=name,
        path=path,
        consensus_rule=spec.consensus_rule,
        label_rule="human_score",
        description=spec.description,
        items=items,
        records_read=read,
        skipped=dict(skipped),
    )
    _check_consensus(labelled)
    return _finish(labelled, limit)


def load_contract_jsonl(
    path: Path, consensus_rule: str = "majority_low", limit: int | None = None
) -> LabelledSet:
    """Contract records with a human label from any JSONL file (see the module doc)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"input file not found: {path}")
    if consensus_rule not in CONSENSUS_RULES:
        raise ValueError(f"unknown consensus rule {consensus_rule!r}")
    skipped: Counter[str] = Counter()
    items: list[LabelledConversation] = []
    read = 0
    for number, line in _read_jsonl(path):
        read += 1
        parsed = parse_record(line, path.name, number)
        if isinstance(parsed, ContractError):
            raise EvalInputError(str(parsed))
        raw = _json_object(path, number, line)
        where = _where(path, number, parsed.conversation_id)
        label = _label(raw, where)
        if label is None and parsed.csat is not None:
            label = parsed.csat.score
        if label is None:
            skipped["no_label"] += 1
            continue
        slices: dict[str, str] = {}
        if raw.get("subset"):
            slices["subset"] = str(raw["subset"])
        slices["agent_kind"] = str(raw.get("agent_kind") or _agent_kind(parsed))
        if parsed.team:
            slices["team"] = parsed.team
        items.append(
            LabelledConversation(
                conversation=parsed,
                human_score=label,
                annotator_scores=_annotators(raw, where),
                slices=slices,
                quality=_quality(raw),
            )
        )
    labelled = LabelledSet(
        name=path.stem,
        path=path,
        consensus_rule=consensus_rule,
        label_rule="human_score, else csat.score",
        description=f"contract records from {path.name}",
        items=items,
        records_read=read,
        skipped=dict(skipped),
    )
    _check_consensus(labelled)
    return _finish(labelled, limit)
