"""The Parquet hand-off between stages: written batch by batch, read lazily, moved into place."""

from __future__ import annotations

import gc
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest
from upath import UPath

from orchestration.extract.landing import extract_day
from orchestration.judge.offline import OfflineJudge
from orchestration.lake.io_manager import read_tables, staging, staging_folder, write_tables
from orchestration.lake.partition import LakePartition, PartitionWriter, batches, num_rows
from orchestration.scoring.frame import conversation_batches, score_day
from tests.conftest import WriteDay, conversation

DAY = date(2026, 3, 2)
SCHEMAS = {"t": pa.schema([("n", pa.int64()), ("s", pa.string())]), "empty": pa.schema([])}


def test_a_partition_is_written_in_batches_and_read_lazily(tmp_path: Path) -> None:
    with PartitionWriter(tmp_path / "p", SCHEMAS) as writer:
        for start in range(0, 10, 3):
            rows = list(range(start, min(start + 3, 10)))
            writer.append("t", pa.table({"s": [str(n) for n in rows], "n": rows}))  # any order
        partition = writer.close()
    assert sorted(partition) == ["empty", "t"]  # a declared table is written even when empty
    assert partition.num_rows("t") == 10 and num_rows(partition, "empty") == 0
    assert partition.read("t", ["n"]).column("n").to_pylist() == list(range(10))
    assert [b.num_rows for b in batches(partition, "t", batch_rows=4)] == [4, 4, 2]
    assert partition["t"].schema == SCHEMAS["t"]
    with pytest.raises(KeyError, match="no table 'missing'"):
        partition.path("missing")
    assert writer.close().num_rows("t") == 10  # closing again rewrites nothing
    with pytest.raises(ValueError, match="is closed"):
        writer.append("t", pa.table({"n": [1], "s": ["x"]}))


def test_the_io_manager_moves_a_staged_partition_over_the_old_one(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    stored = UPath(str(lake / "asset" / "2026-03-02"))
    write_tables(stored, {"t": pa.table({"n": [1, 2, 3], "s": ["a", "b", "c"]})})
    staged = staging_folder(lake, "asset")
    with PartitionWriter(staged, {"t": SCHEMAS["t"]}) as writer:
        writer.append("t", pa.table({"n": [9], "s": ["z"]}))
        new = writer.close()
    write_tables(stored, new)
    assert not staged.exists()  # renamed, not copied
    back = read_tables(stored)
    assert isinstance(back, LakePartition)
    assert back["t"].to_pylist() == [{"n": 9, "s": "z"}]


def test_a_remote_lake_uploads_replaces_and_downloads_a_partition(tmp_path: Path) -> None:
    """fsspec's in-memory file system stands in for S3/GCS (the same fsspec calls)."""
    stored = UPath(f"memory:///cx-test-{tmp_path.name}/asset/2026-03-02")
    write_tables(stored, {"t": pa.table({"n": [1, 2], "s": ["a", "b"]})})
    staged = staging_folder(tmp_path / "lake", "asset")
    with PartitionWriter(staged, {"t": SCHEMAS["t"]}) as writer:
        writer.append("t", pa.table({"n": [9], "s": ["z"]}))
        new = writer.close()
    write_tables(stored, new)  # uploaded over the old partition
    assert not staged.exists()
    assert sorted(p.name for p in stored.iterdir()) == ["t.parquet"]
    back = read_tables(stored)
    local = back.folder
    assert back["t"].to_pylist() == [{"n": 9, "s": "z"}]
    del back
    gc.collect()
    assert not local.exists()  # the download goes with the partition
    stored.fs.rm(str(stored.parent.parent), recursive=True)


def test_a_failed_stage_leaves_no_staging_folder(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="judge crashed"), staging(tmp_path, "asset") as folder:
        (folder / "scores.parquet").write_bytes(b"half a file")
        raise RuntimeError("judge crashed")
    assert not folder.exists()
    with staging(tmp_path, "asset") as kept:
        (kept / "t.parquet").write_bytes(b"done")
    assert kept.exists()  # a finished stage's folder waits for the IO manager


def test_conversations_are_rebuilt_from_the_lake_in_batches(
    tmp_path: Path, write_day: WriteDay
) -> None:
    records = [
        conversation(f"c{i}", *[("customer", f"q{i}.{k}") for k in range(i % 4 + 1)])
        for i in range(25)
    ]
    landing = write_day(DAY, {"a.jsonl": records})
    partition = extract_day(landing, DAY, out_dir=tmp_path / "raw").partition
    seen = [
        (c.conversation_id, [m.text for m in c.messages])
        for batch in conversation_batches(partition, batch_size=7)
        for c, _ in batch
    ]
    assert seen == [(f"c{i}", [f"q{i}.{k}" for k in range(i % 4 + 1)]) for i in range(25)]
    # The streamed scores equal scoring the whole day in memory, batch size notwithstanding.
    judge = OfflineJudge()
    streamed = score_day(DAY, partition, judge, batch_size=4, out_dir=tmp_path / "scored")
    whole = score_day(DAY, extract_day(landing, DAY).tables(), judge, batch_size=1000)
    assert streamed["scores"].equals(whole["scores"])
    assert streamed.num_rows("scores") == 25


def test_messages_out_of_the_conversations_order_are_refused_by_name(
    write_day: WriteDay,
) -> None:
    landing = write_day(
        DAY,
        {
            "a.jsonl": [
                conversation("first", ("customer", "a"), ("customer", "b")),
                conversation("second", ("customer", "c")),
            ]
        },
    )
    tables = extract_day(landing, DAY).tables()
    swapped = dict(tables, messages=tables["messages"].take([2, 0, 1]))
    with pytest.raises(ValueError, match="conversation_id 'first'"):
        next(conversation_batches(swapped))
    reversed_within = dict(tables, messages=tables["messages"].take([1, 0, 2]))
    with pytest.raises(ValueError, match="message_index 0, 1"):
        next(conversation_batches(reversed_within))
    extra = dict(tables, messages=pa.concat_tables([tables["messages"]] * 2))
    with pytest.raises(ValueError, match="more message rows"):
        list(conversation_batches(extra))


def test_worker_processes_score_the_same_rows_in_the_same_order(
    tmp_path: Path, write_day: WriteDay
) -> None:
    records = [
        conversation(f"c{i}", ("customer", "my card was charged twice"), ("human", "refunded"))
        for i in range(30)
    ]
    landing = write_day(DAY, {"a.jsonl": records})
    partition = extract_day(landing, DAY, out_dir=tmp_path / "raw").partition
    judge = OfflineJudge()
    here = score_day(DAY, partition, judge, batch_size=7)
    workers = score_day(DAY, partition, judge, batch_size=7, processes=2)
    assert workers["scores"].equals(here["scores"])
    assert workers["scores"].column("conversation_id").to_pylist() == [f"c{i}" for i in range(30)]
