"""Stage outputs as Parquet: `<CX_LAKE_DIR>/<asset>/<partition>/<table>.parquet`.

A Python stage writes its tables into a staging folder (`staging`, under the lake) and
returns them as a `LakePartition`; this IO manager moves that folder into place, replacing the
partition's folder whole, and hands the next stage a `LakePartition` of the stored folder, read
lazily (no stage ever holds a whole day in memory because of the hand-off). A plain
`dict[str, pyarrow.Table]` is written table by table. Built on Dagster's `UPathIOManager`: on an
S3/GCS path (fsspec) the folder is uploaded, and downloaded to a local temp folder to read
(removed when the partition object is released; tested against fsspec's memory file system).
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow.parquet as pq
from dagster import (
    ConfigurableIOManagerFactory,
    InputContext,
    OutputContext,
    UPathIOManager,
)
from upath import UPath

from orchestration.lake.partition import LakePartition, Tables

__all__ = [
    "LakeIOManager",
    "ParquetTablesIOManager",
    "read_tables",
    "staging",
    "staging_folder",
    "write_tables",
]


def _local(path: UPath) -> bool:
    return path.protocol in ("", "file")


def staging_folder(lake_dir: Path, asset: str) -> Path:
    """A fresh folder under the lake for a stage to write its partition into: on the same file
    system as the stored partitions, so putting it in place is a rename."""
    folder = Path(lake_dir) / "_staging" / f"{asset}-{uuid.uuid4().hex}"
    folder.mkdir(parents=True)
    return folder


@contextmanager
def staging(lake_dir: Path, asset: str) -> Iterator[Path]:
    """`staging_folder` for the length of a stage; removed again when the stage fails, so a
    failed run leaves no half-written partition behind (a finished one is moved into place by
    the IO manager)."""
    folder = staging_folder(lake_dir, asset)
    try:
        yield folder
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def write_tables(path: UPath, obj: Tables) -> None:
    """Replace the folder at `path` with the partition: a `LakePartition`'s folder is moved
    into place (uploaded when `path` is remote); a dict is written one zstd Parquet per table."""
    if path.exists():
        shutil.rmtree(path) if _local(path) else path.fs.rm(str(path), True)
    if isinstance(obj, LakePartition):
        if _local(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(obj.folder, str(path))
        else:
            path.fs.put(f"{obj.folder}/", str(path), recursive=True)
            shutil.rmtree(obj.folder)
        return
    path.mkdir(parents=True, exist_ok=True)
    for name, table in obj.items():
        with (path / f"{name}.parquet").open("wb") as handle:  # through fsspec when remote
            pq.write_table(table, handle, compression="zstd")


def read_tables(path: UPath) -> LakePartition:
    """The partition at `path`, read lazily. A remote one is downloaded to a temp folder, which
    is removed once the returned partition is no longer referenced (or at exit)."""
    if _local(path):
        return LakePartition(Path(str(path)))
    local = Path(tempfile.mkdtemp(prefix="cx-lake-"))
    try:
        path.fs.get(f"{path}/", f"{local}/", recursive=True)
    except BaseException:
        shutil.rmtree(local, ignore_errors=True)
        raise
    partition = LakePartition(local)
    weakref.finalize(partition, shutil.rmtree, local, True)
    return partition


class ParquetTablesIOManager(UPathIOManager):
    extension: str = ""  # a partition is a folder of tables

    def dump_to_path(self, context: OutputContext, obj: Tables, path: UPath) -> None:
        write_tables(path, obj)

    def load_from_path(self, context: InputContext, path: UPath) -> LakePartition:
        return read_tables(path)


class LakeIOManager(ConfigurableIOManagerFactory):
    """Parquet tables under `base_dir`, one folder per asset partition."""

    base_dir: str

    def create_io_manager(self, context) -> ParquetTablesIOManager:
        return ParquetTablesIOManager(base_path=UPath(self.base_dir))
