"""The labelled public sets the trained judge learns from, read from `CX_DATA_DIR`.

Each record is mapped onto the input contract the way the demo replay maps it (the agent's
`author_kind` is `ai` for USS SGD's simulated system, `human` otherwise) without inventing message
times: the model never sees timeliness, which the demo synthesises. Labels kept per record:
`human_score` (1-5, the set's consensus), `human_score_mean` (the raters' mean) and, for the
helpdesk set, the raters' median A (task accomplished) and E (efficiency), on 1-5; for USS, the
raters' mean satisfaction at each customer turn (`turn_scores`).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from orchestration.contract.models import Conversation
from orchestration.demo.replay import SOURCE_FILES, is_ai_agent, read_sources

__all__ = [
    "LABELLED_SOURCES",
    "LabelledData",
    "LabelledExample",
    "NoLabelledDataError",
    "load_labelled",
    "load_own_labels",
    "to_labelled",
]

#: Replay source name -> training set name(s). USS is split by subset: leave-one-dataset-out
#: then holds out one source of dialogues (and its way of labelling) at a time.
LABELLED_SOURCES = ("stc3_dev", "uss")
_PLACEHOLDER_START = "2025-01-01T00:00:00Z"

log = logging.getLogger(__name__)


class NoLabelledDataError(FileNotFoundError):
    """No labelled set was found in the data folder (`CX_DATA_DIR`)."""


@dataclass(frozen=True, slots=True)
class LabelledExample:
    conversation: Conversation
    set_name: str  # stc3_dev, uss_SGD, uss_MWOZ, uss_ReDial, uss_CCPE
    group: str  # the dialogue id: no dialogue is ever on both sides of a split
    handler: str  # ai | human
    score: int  # consensus 1-5
    score_mean: float  # raters' mean, 1-5
    positive_share: float  # share of raters who gave 4 or 5 (the label itself when no raters)
    resolution: float | None  # helpdesk A median on 1-5, else None
    efficiency: float | None  # helpdesk E median on 1-5, else None
    #: Per customer message with text, in order (as `features.Observed.customer_turns`): the
    #: raters' mean satisfaction at that turn, 1-5, NaN where unrated; empty without turn labels.
    turn_scores: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class LabelledData:
    examples: list[LabelledExample]

    @property
    def set_names(self) -> list[str]:
        return sorted({e.set_name for e in self.examples})

    def __len__(self) -> int:
        return len(self.examples)


def _set_name(source: str, raw: Mapping[str, Any]) -> str:
    if source == "uss":
        return f"uss_{raw.get('subset') or 'unknown'}"
    return source


def _contract(source: str, raw: Mapping[str, Any]) -> Conversation:
    is_ai = is_ai_agent(raw)
    messages = []
    for message in raw.get("messages") or []:
        out: dict[str, Any] = {"role": message.get("role"), "text": message.get("text")}
        if message.get("role") == "agent":
            out["author_kind"] = "ai" if is_ai else "human"
        messages.append(out)
    channel = {"social_media": "social", "twitter": "social", "chat": "chat"}.get(
        str(raw.get("channel")), "other"
    )
    return Conversation.model_validate(
        {
            "conversation_id": str(raw["conversation_id"]),
            "channel": channel,
            "started_at": _PLACEHOLDER_START,
            "messages": messages,
        }
    )


def _quality(raw: Mapping[str, Any], key: str) -> float | None:
    value = (raw.get("quality_1to5_median") or {}).get(key)
    return float(value) if isinstance(value, int | float) else None


def _turn_scores(raw: Mapping[str, Any], where: str) -> tuple[float, ...]:
    """USS's per-turn ratings (`turn_scores`: message_index -> the raters' scores) as the mean
    rating of each customer message with text, in message order (NaN where none was rated)."""
    rated: dict[int, float] = {}
    for turn in raw.get("turn_scores") or []:
        index, scores = turn.get("message_index"), turn.get("scores")
        if (
            type(index) is not int
            or not isinstance(scores, list)
            or not scores
            or any(type(v) is not int or not 1 <= v <= 5 for v in scores)
        ):
            raise ValueError(f"{where} field 'turn_scores': {turn!r} is not a rated turn")
        rated[index] = sum(scores) / len(scores)
    if not rated:
        return ()
    out = []
    for index, message in enumerate(raw.get("messages") or []):
        if message.get("role") == "customer" and str(message.get("text") or "").strip():
            out.append(rated.get(index, math.nan))
    return tuple(out)


def to_labelled(source: str, raws: Iterable[Mapping[str, Any]]) -> list[LabelledExample]:
    """Public records of one replay source -> labelled examples (unlabelled ones are skipped).

    A labelled record that does not fit the contract raises `ValueError` naming the record and
    field: training on silently dropped data would make the reported figures lie.
    """
    out: list[LabelledExample] = []
    for line, raw in enumerate(raws, start=1):
        label = raw.get("human_score")
        if type(label) is not int or not 1 <= label <= 5:
            continue
        cid = raw.get("conversation_id")
        try:
            conversation = _contract(source, raw)
        except (ValidationError, KeyError) as error:
            field = (
                ".".join(str(p) for p in error.errors()[0]["loc"])
                if isinstance(error, ValidationError)
                else str(error)
            )
            raise ValueError(
                f"{SOURCE_FILES.get(source, source)}:{line} (conversation_id={cid!r}) "
                f"field {field!r}: not a valid conversation"
            ) from error
        mean = raw.get("human_score_mean")
        annotators = raw.get("annotator_scores") or []
        if not isinstance(mean, int | float):
            mean = sum(annotators) / len(annotators) if annotators else float(label)
        out.append(
            LabelledExample(
                conversation=conversation,
                set_name=_set_name(source, raw),
                group=str(cid),
                handler="ai" if is_ai_agent(raw) else "human",
                score=label,
                score_mean=float(mean),
                positive_share=(
                    sum(1 for a in annotators if a >= 4) / len(annotators)
                    if annotators
                    else float(label >= 4)
                ),
                resolution=_quality(raw, "A"),
                efficiency=_quality(raw, "E"),
                turn_scores=_turn_scores(
                    raw, f"{SOURCE_FILES.get(source, source)}:{line} (conversation_id={cid!r})"
                ),
            )
        )
    return out


def _own_label(raw: Mapping[str, Any], conversation: Conversation, where: str) -> int | None:
    """`human_score` (1..5) when present, else the answered survey's `csat.score`, else None."""
    value = raw.get("human_score")
    if value is None:
        return conversation.csat.score if conversation.csat is not None else None
    if type(value) is not int or not 1 <= value <= 5:
        raise ValueError(f"{where} field 'human_score': {value!r} is not an integer 1..5")
    return value


def load_own_labels(folder: Path) -> list[LabelledExample]:
    """Your own labelled conversations: every `*.jsonl` file in `folder`, one training set (and
    its own family, i.e. its own model) per file, named by the file's stem.

    Each line is a record in the input contract (validated by the pipeline's `parse_record`)
    with a label: a top-level `human_score` (1..5) or, without one, the answered survey's
    `csat.score`; an optional `annotator_scores` list gives the raters' mean. A record without
    a label is skipped (logged); any other bad line raises `ValueError` naming the file, line,
    conversation_id and field. A file whose stem is a public set's name (or `uss_...`) is
    refused: its rows would join that set's family.
    """
    from orchestration.contract.parse import ContractError, first_key_wins, parse_record

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"own labels folder {folder} does not exist (CX_JUDGE_OWN_LABELS, --own-labels)"
        )
    out: list[LabelledExample] = []
    for path in sorted(folder.glob("*.jsonl")):
        name = path.stem
        if name in LABELLED_SOURCES or name.startswith("uss_"):
            raise ValueError(f"{path}: the name {name!r} is a public set's; rename the file")
        unlabelled = 0
        with path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                line = line.rstrip(b"\r\n")
                parsed = parse_record(line, path.name, number)
                if isinstance(parsed, ContractError):
                    raise ValueError(str(parsed))
                raw = json.loads(first_key_wins(line))  # a repeated key: the first, as parsed
                where = f"{path.name}:{number} (conversation_id={parsed.conversation_id!r})"
                label = _own_label(raw, parsed, where)
                if label is None:
                    unlabelled += 1
                    continue
                annotators = raw.get("annotator_scores")
                if annotators is not None and (
                    not isinstance(annotators, list)
                    or not annotators
                    or any(type(a) is not int or not 1 <= a <= 5 for a in annotators)
                ):
                    raise ValueError(
                        f"{where} field 'annotator_scores': not a list of integers 1..5"
                    )
                ai = any(m.author_kind == "ai" for m in parsed.messages)
                out.append(
                    LabelledExample(
                        conversation=parsed,
                        set_name=name,
                        group=parsed.conversation_id,
                        handler="ai" if ai else "human",
                        score=label,
                        score_mean=sum(annotators) / len(annotators) if annotators else label,
                        positive_share=(
                            sum(a >= 4 for a in annotators) / len(annotators)
                            if annotators
                            else float(label >= 4)
                        ),
                        resolution=None,
                        efficiency=None,
                    )
                )
        if unlabelled:
            log.warning("%s: %d records without a label (no human_score, no answered survey) "
                        "left out of training", path, unlabelled)  # fmt: skip
    return out


def load_labelled(data_dir: Path, own_labels: Path | None = None) -> LabelledData:
    """Every labelled public set found in `data_dir`, and your own labelled files in
    `own_labels` (`load_own_labels`) when given; raises `NoLabelledDataError` if none."""
    own = load_own_labels(own_labels) if own_labels is not None else []
    try:
        sources = read_sources(Path(data_dir))
    except FileNotFoundError as error:
        if own:
            return LabelledData(own)
        raise NoLabelledDataError(
            f"no labelled data to train the judge on: {error} (set CX_DATA_DIR to the folder "
            f"holding {', '.join(SOURCE_FILES[s] for s in LABELLED_SOURCES)})"
        ) from error
    examples: list[LabelledExample] = []
    for source in LABELLED_SOURCES:
        examples.extend(to_labelled(source, sources.get(source, [])))
    examples.extend(own)
    if not examples:
        raise NoLabelledDataError(
            f"no labelled conversation in {data_dir} (set CX_DATA_DIR to the folder holding "
            f"{', '.join(SOURCE_FILES[s] for s in LABELLED_SOURCES)})"
        )
    return LabelledData(examples)
