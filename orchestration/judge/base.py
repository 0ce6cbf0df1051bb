"""What every judge is: the `Judge` protocol, the `JudgeError` it raises, a small `BaseJudge`.

No Dagster here. The scoring stage (`orchestration.scoring.frame`) only ever calls
`judge.judge_many(conversations)` and reads `kind`, `name`, `version` and `model`; any object with
those attributes and methods is a judge. A conversation the judge cannot rate is reported as a
`JudgeError` in the result list (the pipeline quarantines it), never as a missing row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from orchestration.contract.models import Conversation
from orchestration.judge.verdict import Verdict

__all__ = ["BaseJudge", "BatchJudge", "Judge", "JudgeError"]


class JudgeError(Exception):
    """The judge could not rate one conversation.

    `reason` is a short machine-readable code (it becomes the quarantine reason, e.g.
    `judge_invalid_output`); `raw_output` is what the judge produced, kept for debugging.
    """

    def __init__(
        self, message: str, reason: str = "judge_error", raw_output: str | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.raw_output = raw_output

    def __repr__(self) -> str:
        return f"JudgeError({str(self)!r}, reason={self.reason!r})"


@runtime_checkable
class Judge(Protocol):
    """A judge rates conversations; every judge returns the same `Verdict` model."""

    #: "offline" (rules, no network) or "llm".
    kind: str
    #: A stable name, e.g. "cx-offline".
    name: str
    #: Changes whenever the judge's output for the same input may change (rules, rubric,
    #: taxonomy, prompt, model): scores are stored per judge version.
    version: str
    #: The model behind an LLM judge; None for the offline judge.
    model: str | None

    def judge(self, conversation: Conversation) -> Verdict:
        """Rate one conversation; raises `JudgeError` when it cannot."""
        ...

    def judge_many(self, conversations: Sequence[Conversation]) -> list[Verdict | JudgeError]:
        """Rate many conversations: exactly one result per input, in input order."""
        ...


class BaseJudge:
    """Convenience base: `judge_many` calls `judge` for each conversation.

    A `JudgeError` becomes that conversation's entry in the result list; any other exception is
    a bug and propagates (the run fails loudly instead of quarantining everything).
    """

    kind: str
    name: str
    version: str
    model: str | None = None

    def judge(self, conversation: Conversation) -> Verdict:  # pragma: no cover - abstract
        raise NotImplementedError

    def judge_many(self, conversations: Sequence[Conversation]) -> list[Verdict | JudgeError]:
        results: list[Verdict | JudgeError] = []
        for conversation in conversations:
            try:
                results.append(self.judge(conversation))
            except JudgeError as error:
                results.append(error)
        return results


class BatchJudge(BaseJudge):
    """Convenience base for judges that work on batches: `judge` is `judge_many` of one."""

    def judge(self, conversation: Conversation) -> Verdict:
        (result,) = self.judge_many([conversation])
        if isinstance(result, JudgeError):
            raise result
        return result

    def judge_many(  # pragma: no cover - abstract
        self, conversations: Sequence[Conversation]
    ) -> list[Verdict | JudgeError]:
        raise NotImplementedError
