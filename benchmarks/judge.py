"""Conversations per second of the offline judges over the demo sets.

    python -m benchmarks.judge [--repeat 3] [--limit N]

Reads every public file in `CX_DATA_DIR` through the demo replay's mapping (the records the
pipeline scores), then times `judge_many` of the rule judge and of the trained judge
(`load_trained_judge()`, trained first if its artifact is missing; that time is not counted).
One process first (the best of `--repeat` runs, per wall second and per CPU second), then both
judges over the same conversations split across `--processes` workers (default 2, the cores of
the reference machine), each worker having built its judges before the clock starts. Prints
figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import time
from datetime import date

from orchestration.contract.models import Conversation
from orchestration.demo.replay import demo_records
from orchestration.judge.base import Judge
from orchestration.judge.offline import OfflineJudge
from orchestration.judge.trained import load_trained_judge
from orchestration.settings import get_settings

__all__ = ["main"]


def _rate(judge: Judge, conversations: list[Conversation], repeat: int) -> tuple[float, float]:
    """(best wall seconds, best CPU seconds of this process) over `repeat` runs."""
    wall = cpu = float("inf")
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        judge.judge_many(conversations)
        wall = min(wall, time.perf_counter() - started)
        cpu = min(cpu, time.process_time() - started_cpu)
    return wall, cpu


_WORKER: dict[str, object] = {}


def _demo_conversations(limit: int | None) -> list[Conversation]:
    settings = get_settings()
    return [
        Conversation.model_validate(record)
        for _, _, record in demo_records(settings.data_dir, end_date=date(2026, 3, 28))
    ][:limit]


def _init_worker(limit: int | None, processes: int) -> None:
    """Each worker reads the demo and builds both judges before the clock starts."""
    _WORKER["conversations"] = _demo_conversations(limit)
    _WORKER["judges"] = {"rule judge": OfflineJudge(), "trained judge": load_trained_judge()}
    _WORKER["processes"] = processes


def _judge_share(task: tuple[str, int]) -> int:
    label, index = task
    conversations = _WORKER["conversations"]
    share = conversations[index :: _WORKER["processes"]]  # type: ignore[index]
    _WORKER["judges"][label].judge_many(share)  # type: ignore[index]
    return len(share)


def _parallel(limit: int | None, processes: int) -> None:
    """Both judges over the demo split across `processes` worker processes (wall clock)."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    with context.Pool(processes, _init_worker, (limit, processes)) as pool:
        pool.map(_judge_share, [("rule judge", i) for i in range(processes)])  # warm up
        for label in ("rule judge", "trained judge"):
            started = time.perf_counter()
            n = sum(pool.map(_judge_share, [(label, i) for i in range(processes)]))
            wall = time.perf_counter() - started
            print(f"  {label:<14} {wall:7.2f} s  {n / wall:8,.0f} conversations/s wall "
                  f"({processes} processes)")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.judge")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="only the first N conversations")
    parser.add_argument(
        "--processes", type=int, default=2, help="also time N worker processes (0: skip)"
    )
    args = parser.parse_args(argv)
    settings = get_settings()
    conversations = _demo_conversations(args.limit)
    print(f"{len(conversations):,} demo conversations from {settings.data_dir}")
    started = time.perf_counter()
    trained = load_trained_judge()
    print(f"trained judge {trained.version} ready in {time.perf_counter() - started:.1f} s")
    n = len(conversations)
    for label, judge in (("rule judge", OfflineJudge()), ("trained judge", trained)):
        wall, cpu = _rate(judge, conversations, args.repeat)
        print(
            f"  {label:<14} {wall:7.2f} s  {n / wall:8,.0f} conversations/s wall, "
            f"{n / cpu:8,.0f} per CPU second (one process; on a busy machine the second is the "
            f"fairer figure)"
        )
    if args.processes > 1:
        _parallel(args.limit, args.processes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
