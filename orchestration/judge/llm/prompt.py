"""The prompt: a versioned template file, the verdict's JSON Schema, and the transcript as data.

The template lives in `orchestration/judge/prompts/<id>.md` (system text, then a `---repair---`
line and the repair text). `prompt_version` is its id plus a hash of the template AND the JSON
Schema, so editing either one changes the judge version.

The transcript goes in the user message between `<<<TRANSCRIPT>>>` and `<<<END TRANSCRIPT>>>`,
one message per labelled line (`[3 agent:human +4m10s] ...`); continuation lines are indented,
so no text inside a message can start a line that looks like a label, and marker look-alikes
inside the text are defused. Personal data is redacted first (`Redactor`), then the transcript
is fitted to the input budget (`fit_transcript`): the start and the end are kept and the gap is
marked.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from orchestration.contract.models import Conversation
from orchestration.judge.llm.redact import Redactor
from orchestration.judge.rubric import RUBRIC_VERSION
from orchestration.judge.taxonomy import Taxonomy
from orchestration.judge.verdict import VerdictBody

__all__ = [
    "DEFAULT_PROMPT_ID",
    "PROMPTS_DIR",
    "BuiltPrompt",
    "PromptTemplate",
    "TokenEstimator",
    "fit_transcript",
    "render_message",
    "verdict_json_schema",
]

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"
DEFAULT_PROMPT_ID = "cx-judge-v1"
START, END = "<<<TRANSCRIPT>>>", "<<<END TRANSCRIPT>>>"
_MARKERS = re.compile(r"<{3,}|>{3,}")
_REPAIR_SPLIT = "\n---repair---\n"


def verdict_json_schema(topic_ids: tuple[str, ...]) -> dict[str, Any]:
    """`VerdictBody`'s JSON Schema, made self-contained for structured-output engines.

    `$ref`s inlined (grammar compilers differ in `$defs` support), titles dropped, `topic` an
    enum of the taxonomy ids, and every property required (OpenAI's strict mode wants that;
    `timeliness_score` stays nullable).
    """
    raw = VerdictBody.model_json_schema()
    defs = raw.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(copy.deepcopy(defs[node["$ref"].rsplit("/", 1)[-1]]))
            return {k: inline(v) for k, v in node.items() if k not in ("title", "default")}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    schema = inline(raw)
    schema["properties"]["topic"] = {
        "type": "string",
        "enum": list(topic_ids),
        "description": schema["properties"]["topic"].get("description", ""),
    }
    for node in (schema, schema["properties"]["issues"]["items"]):
        node["required"] = list(node["properties"])
        node["additionalProperties"] = False
    return schema


@dataclass(frozen=True)
class TokenEstimator:
    """Tokens of a text, estimated from its UTF-8 size (`bytes_per_token`; ~4 for English with
    OpenAI-style tokenizers, 1 for a byte-level vocabulary). The server's reported usage is what
    gets recorded; this only keeps the request within the budget."""

    bytes_per_token: float = 3.0

    def __call__(self, text: str) -> int:
        return math.ceil(len(text.encode("utf-8")) / self.bytes_per_token)


def _clock(delta_s: float) -> str:
    seconds = max(0, round(delta_s))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"+{hours}h{minutes:02d}m{secs:02d}s" if hours else f"+{minutes}m{secs:02d}s"


def render_message(number: int, role: str, text: str, offset_s: float | None) -> str:
    """One labelled message; continuation lines indented; transcript markers defused."""
    label = f"{number} {role}" + (f" {_clock(offset_s)}" if offset_s is not None else "")
    safe = _MARKERS.sub(lambda m: " ".join(m.group()), text.replace("\r\n", "\n").strip())
    lines = safe.split("\n") or [""]
    return "\n".join([f"[{label}] {lines[0]}", *(f"    {line}" for line in lines[1:])])


def _cut_text(line: str, limit_tokens: int, estimate: TokenEstimator) -> str:
    """Keep the start and the end of one over-long message, marking the cut."""
    if estimate(line) <= limit_tokens:
        return line
    keep_chars = max(40, int(len(line) * limit_tokens / max(1, estimate(line))) - 60)
    head, tail = line[: keep_chars // 2], line[len(line) - keep_chars // 2 :]
    omitted = len(line) - len(head) - len(tail)
    return f"{head}\n    [... {omitted:,} characters omitted ...]\n    {tail}"


@dataclass(frozen=True)
class Fitted:
    lines: list[str]
    truncated: bool
    messages_omitted: int
    chars_omitted: int


def fit_transcript(lines: list[str], budget_tokens: int, estimate: TokenEstimator) -> Fitted:
    """Keep whole messages from the start and the end (alternating) while they fit; mark the gap.

    The first and the last message are always kept (cut in the middle if one alone is too long).
    """
    total = sum(estimate(line) + 1 for line in lines)
    if total <= budget_tokens:
        return Fitted(lines, False, 0, 0)
    gap_reserve = 20
    half = max(1, (budget_tokens - gap_reserve) // 2)
    first = _cut_text(lines[0], half, estimate)
    last = _cut_text(lines[-1], half, estimate) if len(lines) > 1 else None
    head, tail = [first], [last] if last is not None else []
    used = sum(estimate(line) + 1 for line in head + tail) + gap_reserve
    left, right = 1, len(lines) - 2
    take_head = True
    while left <= right:
        index = left if take_head else right
        cost = estimate(lines[index]) + 1
        if used + cost > budget_tokens:
            break
        used += cost
        if take_head:
            head.append(lines[left])
            left += 1
        else:
            tail.insert(0, lines[right])
            right -= 1
        take_head = not take_head
    omitted = max(0, right - left + 1)
    kept_chars = sum(len(line) for line in head + tail)
    chars_omitted = sum(len(line) for line in lines) - kept_chars
    middle = (
        [f"[... {omitted} messages omitted ({chars_omitted:,} characters) to fit the input ...]"]
        if omitted
        else []
    )
    return Fitted(head + middle + tail, True, omitted, max(0, chars_omitted))


@dataclass(frozen=True)
class BuiltPrompt:
    """What is sent for one conversation, and what was done to it on the way."""

    system: str
    user: str
    truncated: bool
    messages_omitted: int
    redactions: dict[str, int] = field(default_factory=dict)

    @property
    def messages(self) -> list[dict[str, str]]:
        return [{"role": "system", "content": self.system}, {"role": "user", "content": self.user}]


class PromptTemplate:
    """A versioned prompt file and the builder of each conversation's messages."""

    def __init__(
        self,
        taxonomy: Taxonomy,
        prompt_id: str = DEFAULT_PROMPT_ID,
        prompts_dir: Path = PROMPTS_DIR,
    ) -> None:
        path = prompts_dir / f"{prompt_id}.md"
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise ValueError(f"cannot read the judge prompt {path}: {error}") from error
        if _REPAIR_SPLIT not in text:
            raise ValueError(f"judge prompt {path}: no '---repair---' line before the repair text")
        system, repair = text.split(_REPAIR_SPLIT, 1)
        self.prompt_id = prompt_id
        self.schema = verdict_json_schema(taxonomy.ids)
        topics = "\n".join(
            f"- {t.id}: {t.label}" + (f" - {t.description}" if t.description else "")
            for t in taxonomy.topics
        )
        self.system = system.strip().format(rubric_version=RUBRIC_VERSION, topics=topics)
        self.repair = repair.strip()
        digest = hashlib.sha256(text.encode() + json.dumps(self.schema, sort_keys=True).encode())
        self.version = f"{prompt_id}-{digest.hexdigest()[:8]}"

    def system_for(self, plain_text: bool) -> str:
        """The system message; without structured output the schema is spelled out in it."""
        if not plain_text:
            return self.system
        schema = json.dumps(self.schema, separators=(",", ":"))
        return f"{self.system}\n\nThe reply must be a JSON object valid against: {schema}"

    def repair_message(self, error: str) -> str:
        return self.repair.format(error=error)

    def build(
        self,
        conversation: Conversation,
        *,
        max_input_tokens: int,
        estimate: TokenEstimator,
        redactor: Redactor | None,
    ) -> BuiltPrompt:
        """The messages for one conversation: redacted, labelled, fitted to the budget."""
        before = dict(redactor.counts) if redactor is not None else {}
        start: datetime | None = next(
            (m.sent_at for m in conversation.messages if m.sent_at is not None), None
        )
        lines = []
        for number, message in enumerate(conversation.messages, start=1):
            role = message.role if message.role != "agent" else f"agent:{message.author_kind}"
            text = redactor.redact(message.text) if redactor is not None else message.text
            offset = (
                (message.sent_at - start).total_seconds()
                if start is not None and message.sent_at is not None
                else None
            )
            lines.append(render_message(number, role, text, offset))
        # The system text is the fixed overhead; what is left (less a reserve for the chat
        # template's own tokens) is the transcript's budget.
        budget = max_input_tokens - estimate(self.system) - 64
        fitted = fit_transcript(lines, max(64, budget), estimate)
        header = f"{START} channel={conversation.channel} messages={len(conversation.messages)}"
        user = "\n".join([header, *fitted.lines, END])
        redactions = (
            {k: v - before.get(k, 0) for k, v in redactor.counts.items() if v - before.get(k, 0)}
            if redactor is not None
            else {}
        )
        return BuiltPrompt(self.system, user, fitted.truncated, fitted.messages_omitted, redactions)
