"""One big synthetic landing day, for benchmarks: the demo conversations replayed with fresh ids.

`synthesize_day` maps the public conversations onto the contract exactly as the demo replay does
(`orchestration.demo.replay`, all on the one `day`), then writes `n` conversations round-robin
over them: copy `k` of a conversation gets the id `<original_id>~<k>` and the extra tag
`synthetic_volume`; times, team, handler and the simulated CSAT stay those of the original
(every copy of one conversation carries the same times). Output is streamed in batches to a few
`synthetic-NNN.jsonl` files in the day folder, so memory stays flat whatever `n` is: each source
record is serialised once into a (head, tail) template around its id and every copy is a string
concatenation of UTF-8 bytes.

No Dagster here: the benchmarks call it.
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

from orchestration.demo.replay import demo_records

__all__ = ["TAG", "synthesize_day"]

#: Tag on every synthetic copy.
TAG = "synthetic_volume"
_PREFIX = "synthetic-"


def _templates(data_dir: Path, day: date) -> list[tuple[bytes, bytes]]:
    """(head, tail) per demo record: `head + b"k" + tail` is copy k as one UTF-8 JSON line."""
    out: list[tuple[bytes, bytes]] = []
    records = sorted(
        (record for _, _, record in demo_records(data_dir, end_date=day, days=1)),
        key=lambda r: (r["started_at"], r["conversation_id"]),
    )
    for record in records:
        record["tags"] = [*record["tags"], TAG]
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        opening = '{"conversation_id":' + json.dumps(record["conversation_id"], ensure_ascii=False)
        if not line.startswith(opening):  # the id is the first key: a bug if not
            raise AssertionError(f"unexpected serialisation of {record['conversation_id']!r}")
        head, tail = opening[:-1] + "~", line[len(opening) - 1 :] + "\n"
        out.append((head.encode("utf-8"), tail.encode("utf-8")))
    return out


def synthesize_day(
    data_dir: Path,
    landing_dir: Path,
    day: date,
    n: int,
    batch_size: int = 20_000,
    files: int = 4,
) -> Path:
    """Write `n` synthetic conversations into `<landing_dir>/<day>/synthetic-NNN.jsonl`.

    Replaces the `synthetic-*.jsonl` files of that day (no other file is touched) and returns
    the day folder. Conversation ids are unique within the day; the output is deterministic.
    """
    if n < 0:
        raise ValueError(f"n must not be negative, got {n}")
    if batch_size < 1 or files < 1:
        raise ValueError("batch_size and files must be at least 1")
    templates = _templates(Path(data_dir), day)
    count = len(templates)
    folder = Path(landing_dir) / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(f"{_PREFIX}*.jsonl"):
        if stale.is_file():
            stale.unlink()
    files = max(1, min(files, n))
    per_file = -(-n // files)
    for index in range(files):
        low, high = index * per_file, min(n, (index + 1) * per_file)
        target = folder / f"{_PREFIX}{index:03d}.jsonl"
        partial = folder / f".{target.name}.partial"
        with partial.open("wb") as handle:
            for start in range(low, high, batch_size):
                batch: list[bytes] = []
                for i in range(start, min(high, start + batch_size)):
                    k, j = divmod(i, count)
                    head, tail = templates[j]
                    batch += (head, b"%d" % k, tail)
                handle.write(b"".join(batch))
        os.replace(partial, target)
    return folder
