"""The LLM judge's throughput and overheads against a real OpenAI-compatible server.

    python -m benchmarks.llm_judge                      # 48 conversations, concurrency 8
    python -m benchmarks.llm_judge --n 96 --concurrency 16

The server is llama-cpp-python's, started here on loopback with the tiny random-weight model
the test suite writes (`tests.llm_server`): real HTTP, chat template and grammar-constrained
JSON, but the model's quality is a stand-in and its speed is that of a 2-layer, 64-wide model,
so the figures measure the judge's own overhead and its use of the server, not a real model.
Prints, on the same conversations:

- the judge (`LLMJudge.judge_many`, concurrency C, no cache): conversations/s and requests/s;
- a naive sequential loop: one plain chat-completions call per conversation, one at a time;
- the server's direct capacity: the same prompts sent as C parallel requests without the
  pipeline (no redaction, validation, repair or cache);
- the fixed prompt overhead: prompt tokens of a one-word conversation (this server's byte-level
  vocabulary counts a token per byte; the UTF-8 size / 4 estimates an OpenAI-style tokenizer);
- a rerun's call count with the warehouse cache (must be 0).

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import openai

from orchestration.contract.models import Conversation
from orchestration.judge.base import JudgeError
from orchestration.judge.llm import LLMJudge, LLMJudgeConfig
from orchestration.judge.llm.output import response_format
from tests.llm_server import llama_server, write_tiny_llama

__all__ = ["main"]

_TURNS = [
    ("customer", "Hi, I was charged twice for my March invoice, order {i}."),
    ("agent", "Sorry about that! Let me check the payments on your account."),
    ("customer", "Thanks. It shows two charges of $12.99 on the 3rd."),
    ("agent", "I see them. I've refunded the duplicate; it takes 3-5 working days."),
    ("customer", "Great, thank you for the quick help!"),
]


def _conversations(n: int) -> list[Conversation]:
    out = []
    for i in range(n):
        messages = []
        for role, text in _TURNS:
            message = {"role": role, "text": text.format(i=i)}
            if role == "agent":
                message["author_kind"] = "ai" if i % 2 else "human"
            messages.append(message)
        out.append(
            Conversation.model_validate(
                {
                    "conversation_id": f"bench-{i}",
                    "channel": "chat",
                    "started_at": "2026-03-02T09:00:00Z",
                    "messages": messages,
                }
            )
        )
    return out


def _config(url: str, concurrency: int, cache: Path | None) -> LLMJudgeConfig:
    return LLMJudgeConfig(
        base_url=url,
        model="cx-tiny-random",
        cache_path=cache,
        concurrency=concurrency,
        timeout_s=120,
        max_retries=2,
        max_input_tokens=6000,
        max_output_tokens=768,
        bytes_per_token=1.0,  # the tiny model's vocabulary is byte-level
    )


def _judge_run(url: str, conversations: list[Conversation], concurrency: int) -> dict:
    judge = LLMJudge(_config(url, concurrency, None))
    judge.mode = "json_object"  # settled already: measure steady state, not the probe
    started = time.perf_counter()
    results = judge.judge_many(conversations)
    seconds = time.perf_counter() - started
    stats = judge.last_stats
    return {
        "seconds": seconds,
        "requests": stats.requests,
        "valid": sum(not isinstance(r, JudgeError) for r in results),
        "prompt_tokens": stats.prompt_tokens,
        "completion_tokens": stats.completion_tokens,
    }


def _naive_loop(url: str, judge: LLMJudge, conversations: list[Conversation]) -> float:
    client = openai.OpenAI(base_url=url, api_key="none", timeout=120)
    started = time.perf_counter()
    for conversation in conversations:
        client.chat.completions.create(
            model="cx-tiny-random",
            messages=judge.build_prompt(conversation).messages,  # type: ignore[arg-type]
            max_tokens=768,
            temperature=0,
            response_format=response_format("json_object", judge.prompt.schema),  # type: ignore[arg-type]
        )
    client.close()
    return time.perf_counter() - started


async def _direct(url: str, payloads: list[list[dict]], schema: dict, concurrency: int) -> float:
    semaphore = asyncio.Semaphore(concurrency)
    async with openai.AsyncOpenAI(base_url=url, api_key="none", timeout=120) as client:

        async def one(messages: list[dict]) -> None:
            async with semaphore:
                await client.chat.completions.create(
                    model="cx-tiny-random",
                    messages=messages,  # type: ignore[arg-type]
                    max_tokens=768,
                    temperature=0,
                    response_format=response_format("json_object", schema),  # type: ignore[arg-type]
                )

        started = time.perf_counter()
        await asyncio.gather(*(one(m) for m in payloads))
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=48, help="conversations")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    conversations = _conversations(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = write_tiny_llama(work / "tiny.gguf")
        with llama_server(model, log=work / "server.log") as url:
            probe = LLMJudge(_config(url, 1, None))
            probe.judge_many(conversations[:1])  # warm up; settles the output mode
            print(f"server: llama-cpp-python, {model.stat().st_size / 1e6:.2f} MB random model")
            print(f"output mode settled: {probe.mode}")

            judged = _judge_run(url, conversations, args.concurrency)
            naive_s = _naive_loop(url, probe, conversations)
            payloads = [probe.build_prompt(c).messages for c in conversations]
            direct_s = asyncio.run(_direct(url, payloads, probe.prompt.schema, args.concurrency))
            n = len(conversations)
            print(f"\n{n} conversations, concurrency {args.concurrency}")
            print(
                f"  judge        {n / judged['seconds']:7.1f} conversations/s "
                f"({judged['requests'] / judged['seconds']:.1f} requests/s, "
                f"{judged['requests']} requests incl. repairs; {judged['valid']} valid verdicts)"
            )
            print(f"  naive loop   {n / naive_s:7.1f} conversations/s (1 request each, sequential)")
            print(
                f"  direct       {n / direct_s:7.1f} requests/s "
                f"({args.concurrency} parallel, no pipeline)"
            )
            print(
                f"  judge / direct, per request: "
                f"{(judged['requests'] / judged['seconds']) / (n / direct_s):.2f}"
            )

            tiny = Conversation.model_validate(
                {
                    "conversation_id": "overhead",
                    "channel": "chat",
                    "started_at": "2026-03-02T09:00:00Z",
                    "messages": [{"role": "customer", "text": "hi"}],
                }
            )
            client = openai.OpenAI(base_url=url, api_key="none", timeout=120)
            built = probe.build_prompt(tiny)
            usage = client.chat.completions.create(
                model="cx-tiny-random",
                messages=built.messages,  # type: ignore[arg-type]
                max_tokens=1,
            ).usage
            client.close()
            size = len((built.system + built.user).encode())
            overhead = usage.prompt_tokens if usage else "?"
            print(
                f"\nfixed prompt overhead per conversation: {overhead} "
                f"tokens on this byte-level server; {size:,} bytes, ~{size // 4:,} tokens "
                "with an OpenAI-style tokenizer (4 bytes/token)"
            )
            mean_prompt = judged["prompt_tokens"] / max(1, judged["requests"])
            print(f"mean prompt tokens per request in the run: {mean_prompt:.0f}")

            cache = work / "warehouse.duckdb"
            first = LLMJudge(_config(url, args.concurrency, cache))
            first.judge_many(conversations)
            rerun = LLMJudge(_config(url, args.concurrency, cache))
            rerun.judge_many(conversations)
            print(
                f"\ncache: first run {first.last_stats.requests} requests; rerun "
                f"{rerun.last_stats.requests} requests, {rerun.last_stats.cache_hits} cache hits"
            )


if __name__ == "__main__":
    main()
