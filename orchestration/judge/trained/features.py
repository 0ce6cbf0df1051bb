"""What the trained judge reads from a transcript: the rule judge's observations, a few more
cues, and the words themselves.

`observe_many` runs the rule judge's observation step (`OfflineJudge.observe`: issues and their
outcome, VADER sentiment, tone, knowledge, loops, clarifications, hand-offs) once per
conversation; the same observations later become the verdict's sub-scores and rationale, so
nothing is computed twice. `cue_matrix` turns them into named numbers (`CUE_NAMES`), and
`text_fields` gives the three texts the word n-gram features are built from: everything the
customer wrote, the customer's last message, and everything the agent wrote. Message times are
never used (the demo synthesises them, the labelled sets have none).
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from orchestration.contract.models import Conversation
from orchestration.judge.base import JudgeError
from orchestration.judge.offline import (
    APOSTROPHES,
    CUSTOMER_ACK,
    CUSTOMER_PRAISE,
    CUSTOMER_SOLVED,
    CUSTOMER_UNHAPPY,
    OfflineJudge,
)
from orchestration.judge.rubric import (
    efficiency_score,
    resolution_score,
    sentiment_score,
)
from orchestration.judge.verdict import VerdictBody

__all__ = [
    "CUE_NAMES",
    "TEXT_FIELDS",
    "Observed",
    "cue_matrix",
    "customer_words",
    "observe_many",
    "text_fields",
    "words",
    "words_and_pairs",
]

TEXT_FIELDS = ("customer", "last_customer", "agent")

#: The numeric cues, in column order. Each is named so a rationale can say which one drove the
#: score (see `CUE_LABELS` in `judge.py`).
CUE_NAMES = (
    "sentiment_start",
    "sentiment_end",
    "sentiment_change",
    "improved",
    "worsened",
    "tone",
    "knowledge",
    "loops",
    "needless_clarifications",
    "broken_handoffs",
    "issues",
    "resolved_share",
    "partly_share",
    "unresolved_share",
    "resolution_subscore",
    "sentiment_subscore",
    "efficiency_subscore",
    "log_turns",
    "log_customer_words",
    "log_agent_words",
    "ends_with_customer",
    "last_thanks",
    "last_praise",
    "last_solved",
    "last_unhappy",
    "last_question",
    "last_exclamation",
    "log_last_words",
    "first_unhappy",
    "no_agent_reply",
)


#: scikit-learn's default token pattern (words of two or more letters or digits).
_WORD = re.compile(r"(?u)\b\w\w+\b")


def words(text: str) -> list[str]:
    """The words of an `Observed` text (already lower-cased), as the n-gram features split it."""
    return _WORD.findall(text)


def words_and_pairs(text: str) -> list[str]:
    """`words` and then each pair of adjacent words: the terms scikit-learn's `ngram_range=(1, 2)`
    makes of `words`, in its order, as one analyzer call (its own path adds a few calls per text,
    15-20% of transforming short texts such as single turns)."""
    found = _WORD.findall(text)
    return found + [f"{a} {b}" for a, b in itertools.pairwise(found)]


@functools.lru_cache(maxsize=1024)
def customer_words(text: str) -> tuple[str, ...]:
    """`words` of everything the customer wrote, cached: the router and the chosen family's
    `customer` vectorizer split the same text. Only these texts go through the cache, so it
    holds at most the last 1,024 (two of the judge's 512-conversation batches)."""
    return tuple(_WORD.findall(text))


@dataclass(frozen=True, slots=True)
class Observed:
    """One conversation as the trained judge sees it: the rule observations and its texts."""

    body: VerdictBody
    customer: str
    last_customer: str
    agent: str
    first_customer: str
    turns: int
    agent_turns: int
    ends_with_customer: bool
    #: Each customer message with text (as in `customer`): the turn model's input
    #: (`model.TurnModel`).
    customer_turns: tuple[str, ...] = ()


def _observe(rule: OfflineJudge, conversation: Conversation) -> Observed:
    body = rule.observe(conversation)
    customer: list[str] = []
    agent: list[str] = []
    turns = 0
    last_role = ""
    for message in conversation.messages:
        if message.role == "system" or not message.text.strip():
            continue
        turns += 1
        last_role = message.role
        low = message.text.translate(APOSTROPHES).lower()
        (customer if message.role == "customer" else agent).append(low)
    return Observed(
        body=body,
        customer=" ".join(customer),
        last_customer=customer[-1] if customer else "",
        agent=" ".join(agent),
        first_customer=customer[0] if customer else "",
        turns=turns,
        agent_turns=len(agent),
        ends_with_customer=last_role == "customer",
        customer_turns=tuple(customer),
    )


def observe_many(
    rule: OfflineJudge, conversations: Sequence[Conversation]
) -> list[Observed | JudgeError]:
    """The rule observations and texts of each conversation (a `JudgeError` where it fails)."""
    out: list[Observed | JudgeError] = []
    for conversation in conversations:
        try:
            out.append(_observe(rule, conversation))
        except JudgeError as error:
            out.append(error)
    return out


def _cues(item: Observed) -> list[float]:
    body = item.body
    statuses = [i.status for i in body.issues]
    n = len(statuses)
    last = item.last_customer
    words_customer = len(item.customer.split())
    words_agent = len(item.agent.split())
    return [
        body.sentiment_start,
        body.sentiment_end,
        body.sentiment_end - body.sentiment_start,
        float(body.sentiment_trajectory == "improved"),
        float(body.sentiment_trajectory == "worsened"),
        float(body.tone_score),
        float(body.knowledge_score),
        float(min(body.loop_count, 5)),
        float(min(body.needless_clarification_count, 5)),
        float(body.broken_handoff_count),
        float(n),
        statuses.count("resolved") / n,
        statuses.count("partly") / n,
        statuses.count("not_resolved") / n,
        float(resolution_score(body)),
        float(sentiment_score(body)),
        float(efficiency_score(body)),
        math.log1p(item.turns),
        math.log1p(words_customer),
        math.log1p(words_agent),
        float(item.ends_with_customer),
        float(bool(CUSTOMER_ACK.search(last))),
        float(bool(CUSTOMER_PRAISE.search(last))),
        float(bool(CUSTOMER_SOLVED.search(last))),
        float(bool(CUSTOMER_UNHAPPY.search(last))),
        float("?" in last),
        float("!" in last),
        math.log1p(len(last.split())),
        float(bool(CUSTOMER_UNHAPPY.search(item.first_customer))),
        float(item.agent_turns == 0),
    ]


def cue_matrix(items: Sequence[Observed]) -> np.ndarray:
    """One row of `CUE_NAMES` per observed conversation (float64)."""
    rows = [_cues(item) for item in items]
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(CUE_NAMES))


def text_fields(items: Sequence[Observed]) -> dict[str, list[str]]:
    """The three texts per conversation the n-gram features are built from."""
    return {
        "customer": [i.customer for i in items],
        "last_customer": [i.last_customer for i in items],
        "agent": [i.agent for i in items],
    }
