"""`LLMJudge`: the same `Verdict` as the offline judge, from any OpenAI-compatible endpoint.

Per run (`judge_many`): look every conversation up in the cache; if any is left, check the
endpoint answers (an unreachable one, or one that refuses the key, fails the run at once with a
`JudgeEndpointError`, before anything is written); settle the output mode on the first
conversation (`json_schema`, else `json_object` with a schema, else plain text: once per run,
then remembered); then judge the rest concurrently under a semaphore of `concurrency`.

Each conversation: one request, retried by the openai client itself (exponential backoff with
jitter, `Retry-After` honoured on 429/5xx, timeouts retried; at most `max_retries` retries); the
reply is validated; an invalid one gets one repair request; still invalid -> `JudgeError`
`judge_invalid_output` with the (truncated) reply. Retries used up -> `judge_timeout`,
`judge_rate_limited`, `judge_server_error` or `judge_request_rejected`. The scoring stage
quarantines those conversations with that reason.

The overall score is never the model's: the model reports observations (`VerdictBody`) and
`rubric.apply_rubric` derives the sub-scores and the overall score, exactly as for the offline
judge. The API key is read from the environment when the client is built and is held by no
attribute, log line, exception or metadata.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import openai
from openai import AsyncOpenAI

from orchestration.contract.models import Conversation
from orchestration.judge.base import JudgeError
from orchestration.judge.llm.cache import CacheEntry, CacheWriter, cache_key, read_cache
from orchestration.judge.llm.output import (
    MODES,
    InvalidOutput,
    OutputMode,
    parse_verdict,
    response_format,
)
from orchestration.judge.llm.prompt import (
    DEFAULT_PROMPT_ID,
    BuiltPrompt,
    PromptTemplate,
    TokenEstimator,
)
from orchestration.judge.llm.redact import Redactor
from orchestration.judge.rubric import RUBRIC_VERSION, apply_rubric
from orchestration.judge.taxonomy import Taxonomy
from orchestration.judge.verdict import Verdict, VerdictBody

__all__ = ["JudgeEndpointError", "LLMJudge", "LLMJudgeConfig", "RunStats", "api_key_from_env"]

log = logging.getLogger(__name__)
RAW_OUTPUT_LIMIT = 2000
_FORMAT_WORDS = ("response_format", "json_schema", "json_object", "schema", "grammar")


def api_key_from_env() -> str:
    """`CX_JUDGE_API_KEY`, else `OPENAI_API_KEY`, else a placeholder (local servers need none)."""
    return (
        os.environ.get("CX_JUDGE_API_KEY")
        or os.environ.get("OPENAI_API_KEY")
        or "no-key-configured"
    )


def _public_url(url: str) -> str:
    """The endpoint without any user:password part, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class JudgeEndpointError(RuntimeError):
    """The endpoint cannot be used at all (unreachable, or it refuses the key): the run fails."""


@dataclass(frozen=True)
class LLMJudgeConfig:
    """Everything the LLM judge needs, from `orchestration.settings` (the key excepted)."""

    base_url: str
    model: str
    cache_path: Path | None = None
    concurrency: int = 8
    timeout_s: float = 60.0
    max_retries: int = 3
    max_input_tokens: int = 6000
    max_output_tokens: int = 1024
    bytes_per_token: float = 3.0
    redact_pii: bool = True
    phone_region: str = "US"
    temperature: float = 0.0
    price_input_per_mtok: float | None = None
    price_output_per_mtok: float | None = None
    prompt_id: str = DEFAULT_PROMPT_ID

    @classmethod
    def from_settings(cls, settings: Any, base_url: str | None = None) -> LLMJudgeConfig:
        url = base_url or settings.judge_base_url
        if not url:
            raise ValueError("CX_JUDGE_BASE_URL is not set")
        if not settings.judge_model:
            raise ValueError(
                "CX_JUDGE_MODEL is not set: the LLM judge needs the model name the endpoint "
                f"serves ({_public_url(url)}; for llama.cpp any name works)"
            )
        return cls(
            base_url=url,
            model=settings.judge_model,
            cache_path=settings.warehouse_path,
            concurrency=settings.judge_concurrency,
            timeout_s=settings.judge_timeout_s,
            max_retries=settings.judge_max_retries,
            max_input_tokens=settings.judge_max_input_tokens,
            max_output_tokens=settings.judge_max_output_tokens,
            bytes_per_token=settings.judge_bytes_per_token,
            redact_pii=settings.judge_redact_pii,
            phone_region=settings.judge_phone_region,
            price_input_per_mtok=settings.judge_price_input_per_mtok,
            price_output_per_mtok=settings.judge_price_output_per_mtok,
        )


@dataclass
class RunStats:
    """What one `judge_many` did; summed per partition into Dagster metadata."""

    conversations: int = 0
    cache_hits: int = 0
    judged: int = 0
    requests: int = 0
    repairs: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    truncated: int = 0
    output_mode: str | None = None
    redactions: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    cost_usd: float | None = None

    def metadata(self) -> dict[str, Any]:
        return {
            "llm_conversations_sent": self.judged,
            "llm_cache_hits": self.cache_hits,
            "llm_requests": self.requests,
            "llm_repairs": self.repairs,
            "llm_prompt_tokens": self.prompt_tokens,
            "llm_completion_tokens": self.completion_tokens,
            "llm_cost_usd": self.cost_usd,
            "llm_output_mode": self.output_mode,
            "llm_truncated_conversations": self.truncated,
            "llm_redactions": dict(sorted(self.redactions.items())),
            "llm_failures": dict(sorted(self.failures.items())),
        }


@dataclass
class _Outcome:
    body: VerdictBody | None = None
    error: JudgeError | None = None
    mode: str | None = None
    requests: int = 0
    repaired: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0


def _rejects_format(error: openai.APIStatusError) -> bool:
    """Does this error say the server does not take this `response_format`?"""
    if error.status_code in (415, 501):
        return True
    text = f"{error.message} {error.body}".lower()
    return error.status_code in (400, 422, 500) and any(w in text for w in _FORMAT_WORDS)


class LLMJudge:
    """A judge backed by an OpenAI-compatible chat-completions endpoint."""

    kind = "llm"
    name = "cx-llm"

    def __init__(self, config: LLMJudgeConfig, taxonomy: Taxonomy | None = None) -> None:
        self.config = config
        self.taxonomy = taxonomy if taxonomy is not None else Taxonomy.load()
        self.prompt = PromptTemplate(self.taxonomy, config.prompt_id)
        self.model: str | None = config.model
        self.version = (
            f"{self.prompt.version}+{RUBRIC_VERSION}+tax-{self.taxonomy.version}@{config.model}"
        )
        self.estimate = TokenEstimator(config.bytes_per_token)
        self.mode: OutputMode | None = None  # settled on the first call of a run, then kept
        self.last_stats = RunStats()

    def __repr__(self) -> str:
        return f"LLMJudge({_public_url(self.config.base_url)!r}, version={self.version!r})"

    # -- the Judge protocol -------------------------------------------------------------------

    def judge(self, conversation: Conversation) -> Verdict:
        (result,) = self.judge_many([conversation])
        if isinstance(result, JudgeError):
            raise result
        return result

    def judge_many(self, conversations: Sequence[Conversation]) -> list[Verdict | JudgeError]:
        coroutine = self.ajudge_many(conversations)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coroutine)
        with ThreadPoolExecutor(1) as pool:  # called from inside an event loop: use a thread
            return pool.submit(asyncio.run, coroutine).result()

    def run_metadata(self) -> dict[str, Any]:
        """Token, cost, cache and failure figures of the last `judge_many` (Dagster metadata)."""
        return self.last_stats.metadata()

    # -- the run ------------------------------------------------------------------------------

    def build_prompt(self, conversation: Conversation) -> BuiltPrompt:
        redactor = Redactor(self.config.phone_region) if self.config.redact_pii else None
        return self.prompt.build(
            conversation,
            max_input_tokens=self.config.max_input_tokens,
            estimate=self.estimate,
            redactor=redactor,
        )

    async def ajudge_many(
        self, conversations: Sequence[Conversation]
    ) -> list[Verdict | JudgeError]:
        stats = RunStats(conversations=len(conversations))
        self.last_stats = stats
        prompts = [self.build_prompt(c) for c in conversations]
        keys = [cache_key(self.version, self.config.model, p.user) for p in prompts]
        for p in prompts:
            stats.redactions.update(p.redactions)
            stats.truncated += p.truncated
        cache_path = self.config.cache_path
        cached = read_cache(cache_path, list(set(keys))) if cache_path is not None else {}
        results: list[Verdict | JudgeError | None] = [None] * len(conversations)
        pending: list[int] = []
        first_with_key: dict[str, int] = {}
        for index, key in enumerate(keys):
            entry = cached.get(key)
            if entry is not None:
                stats.cache_hits += 1
                results[index] = self._from_cache(entry)
            elif first_with_key.setdefault(key, index) == index:
                pending.append(index)  # the same transcript twice in a run is asked once
        if pending:
            writer = CacheWriter(cache_path) if cache_path is not None else None
            try:
                await self._run(conversations, prompts, keys, pending, results, stats, writer)
            finally:
                if writer is not None:
                    writer.flush()  # what was paid for stays paid for, even when the run fails
        for index, key in enumerate(keys):
            if results[index] is None:
                results[index] = results[first_with_key[key]]
        self._cost(stats)
        log.info(
            "LLM judge: %d conversations, %d from cache, %d sent, %d requests, "
            "%d prompt + %d completion tokens, mode %s",
            stats.conversations,
            stats.cache_hits,
            stats.judged,
            stats.requests,
            stats.prompt_tokens,
            stats.completion_tokens,
            stats.output_mode,
        )
        if any(r is None for r in results):  # pragma: no cover - a bug, never a lost row
            raise RuntimeError("the LLM judge lost track of a conversation")
        return results  # type: ignore[return-value]

    def _cost(self, stats: RunStats) -> None:
        price_in, price_out = self.config.price_input_per_mtok, self.config.price_output_per_mtok
        if price_in is None and price_out is None:
            return
        stats.cost_usd = round(
            (stats.prompt_tokens * (price_in or 0) + stats.completion_tokens * (price_out or 0))
            / 1_000_000,
            6,
        )

    def _from_cache(self, entry: CacheEntry) -> Verdict | JudgeError:
        if entry.outcome == "verdict" and entry.body_json:
            return apply_rubric(VerdictBody.model_validate_json(entry.body_json))
        return JudgeError(
            entry.detail or "invalid reply (cached)",
            reason=entry.reason or "judge_invalid_output",
            raw_output=entry.raw_output,
        )

    def _client(self, stats: RunStats) -> AsyncOpenAI:
        async def count_request(_request: Any) -> None:  # every HTTP request, retries included
            stats.requests += 1

        return AsyncOpenAI(
            base_url=self.config.base_url,
            api_key=api_key_from_env(),
            timeout=self.config.timeout_s,
            max_retries=self.config.max_retries,
            http_client=openai.DefaultAsyncHttpxClient(event_hooks={"request": [count_request]}),
        )

    async def _preflight(self, client: AsyncOpenAI) -> None:
        """Fail the run fast when the endpoint cannot be used at all."""
        where = _public_url(self.config.base_url)
        try:
            await client.with_options(
                max_retries=1, timeout=min(self.config.timeout_s, 10)
            ).models.list()
        except (openai.AuthenticationError, openai.PermissionDeniedError) as error:
            raise JudgeEndpointError(
                f"LLM judge endpoint {where} refused the API key (HTTP {error.status_code}); "
                "check CX_JUDGE_API_KEY / OPENAI_API_KEY. Nothing was written."
            ) from None
        except openai.APIStatusError:
            return  # it answers; not every server lists its models
        except openai.APIConnectionError as error:
            raise JudgeEndpointError(
                f"LLM judge endpoint {where} is unreachable ({type(error).__name__}: "
                f"{error.__cause__ or error}); check CX_JUDGE_BASE_URL or start the server. "
                "Nothing was written."
            ) from None

    async def _run(
        self,
        conversations: Sequence[Conversation],
        prompts: list[BuiltPrompt],
        keys: list[str],
        pending: list[int],
        results: list[Verdict | JudgeError | None],
        stats: RunStats,
        writer: CacheWriter | None,
    ) -> None:
        async with self._client(stats) as client:
            await self._preflight(client)
            semaphore = asyncio.Semaphore(self.config.concurrency)

            async def one(index: int) -> None:
                async with semaphore:
                    outcome = await self._judge_one(client, prompts[index])
                self._record(index, outcome, conversations, prompts, keys, results, stats, writer)

            queue = list(pending)
            while queue and self.mode is None:  # settle the output mode on one conversation
                await one(queue.pop(0))
            try:
                async with asyncio.TaskGroup() as group:
                    for index in queue:
                        group.create_task(one(index))
            except* JudgeEndpointError as failed:  # the first one says it; the rest were cancelled
                raise failed.exceptions[0] from None
        stats.output_mode = self.mode

    def _record(
        self,
        index: int,
        outcome: _Outcome,
        conversations: Sequence[Conversation],
        prompts: list[BuiltPrompt],
        keys: list[str],
        results: list[Verdict | JudgeError | None],
        stats: RunStats,
        writer: CacheWriter | None,
    ) -> None:
        stats.judged += 1
        stats.repairs += outcome.repaired
        stats.prompt_tokens += outcome.prompt_tokens
        stats.completion_tokens += outcome.completion_tokens
        prompt = prompts[index]
        if outcome.body is not None:
            results[index] = apply_rubric(outcome.body)
        else:
            assert outcome.error is not None
            results[index] = outcome.error
            stats.failures[outcome.error.reason] += 1
        cacheable = outcome.body is not None or (
            outcome.error is not None and outcome.error.reason == "judge_invalid_output"
        )
        if writer is None or not cacheable:
            return
        error = outcome.error
        writer.add(
            CacheEntry(
                cache_key=keys[index],
                judge_version=self.version,
                judge_model=self.config.model,
                conversation_id=conversations[index].conversation_id,
                outcome="verdict" if outcome.body is not None else "invalid_output",
                body_json=outcome.body.model_dump_json() if outcome.body is not None else None,
                reason=error.reason if error else None,
                detail=str(error) if error else None,
                raw_output=error.raw_output if error else None,
                output_mode=outcome.mode,
                requests=outcome.requests,
                prompt_tokens=outcome.prompt_tokens,
                completion_tokens=outcome.completion_tokens,
                truncated=prompt.truncated,
                messages_omitted=prompt.messages_omitted,
                redactions_json=json.dumps(prompt.redactions, sort_keys=True),
            )
        )

    # -- one conversation ---------------------------------------------------------------------

    async def _create(
        self,
        client: AsyncOpenAI,
        messages: list[dict[str, str]],
        mode: OutputMode,
        outcome: _Outcome,
    ) -> str:
        if mode == "text":
            messages = [
                {"role": "system", "content": self.prompt.system_for(plain_text=True)},
                *messages[1:],
            ]
        extra: dict[str, Any] = {}
        fmt = response_format(mode, self.prompt.schema)
        if fmt is not None:
            extra["response_format"] = fmt
        raw = await client.chat.completions.with_raw_response.create(
            model=self.config.model,
            messages=messages,  # type: ignore[arg-type]
            temperature=self.config.temperature,
            max_tokens=self.config.max_output_tokens,
            **extra,
        )
        outcome.requests += 1 + raw.retries_taken
        completion = raw.parse()
        if completion.usage is not None:
            outcome.prompt_tokens += completion.usage.prompt_tokens or 0
            outcome.completion_tokens += completion.usage.completion_tokens or 0
        outcome.mode = mode
        choice = completion.choices[0] if completion.choices else None
        return (choice.message.content if choice is not None else None) or ""

    async def _complete(
        self, client: AsyncOpenAI, messages: list[dict[str, str]], outcome: _Outcome
    ) -> str:
        if self.mode is not None:
            return await self._create(client, messages, self.mode, outcome)
        for mode in MODES[:-1]:  # settle the mode: one request each, no retries yet
            try:
                reply = await self._create(
                    client.with_options(max_retries=0), messages, mode, outcome
                )
            except openai.APIStatusError as error:
                if _rejects_format(error):
                    log.info(
                        "endpoint refused response_format %r (HTTP %s); trying the next way",
                        mode,
                        error.status_code,
                    )
                    continue
                reply = await self._create(client, messages, mode, outcome)
            except openai.APITimeoutError:
                reply = await self._create(client, messages, mode, outcome)
            self.mode = mode
            return reply
        reply = await self._create(client, messages, "text", outcome)
        self.mode = "text"
        return reply

    async def _judge_one(self, client: AsyncOpenAI, prompt: BuiltPrompt) -> _Outcome:
        outcome = _Outcome()
        messages = prompt.messages
        topic_ids = self.taxonomy.ids
        try:
            reply = await self._complete(client, messages, outcome)
            try:
                outcome.body = parse_verdict(reply, topic_ids)
                return outcome
            except InvalidOutput as first:
                repair = [
                    *messages,
                    {"role": "assistant", "content": reply[: RAW_OUTPUT_LIMIT * 2]},
                    {"role": "user", "content": self.prompt.repair_message(str(first))},
                ]
                outcome.repaired = True
            reply = await self._complete(client, repair, outcome)
            try:
                outcome.body = parse_verdict(reply, topic_ids)
            except InvalidOutput as second:
                outcome.error = JudgeError(
                    f"the reply is not a valid verdict after one repair: {second}",
                    reason="judge_invalid_output",
                    raw_output=reply[:RAW_OUTPUT_LIMIT],
                )
            return outcome
        except openai.APITimeoutError:
            reason, detail = (
                "judge_timeout",
                (
                    f"no reply within {self.config.timeout_s:g} s, "
                    f"{self.config.max_retries + 1} attempts"
                ),
            )
        except openai.RateLimitError as error:
            reason, detail = "judge_rate_limited", self._status_detail(error)
        except (openai.AuthenticationError, openai.PermissionDeniedError) as error:
            raise JudgeEndpointError(
                f"LLM judge endpoint {_public_url(self.config.base_url)} refused the API key "
                f"(HTTP {error.status_code}) mid-run"
            ) from None
        except openai.APIStatusError as error:
            reason = "judge_server_error" if error.status_code >= 500 else "judge_request_rejected"
            detail = self._status_detail(error)
        except openai.APIConnectionError as error:
            raise JudgeEndpointError(
                f"LLM judge endpoint {_public_url(self.config.base_url)} became unreachable "
                f"({error.__cause__ or error}); verdicts so far are cached, rerun to resume"
            ) from None
        outcome.error = JudgeError(detail, reason=reason)
        return outcome

    def _status_detail(self, error: openai.APIStatusError) -> str:
        return (
            f"HTTP {error.status_code} after {self.config.max_retries} retries: "
            f"{str(error.message)[:300]}"
        )
