"""Stage outputs as Parquet: `<CX_LAKE_DIR>/<asset>/<partition>/<table>.parquet`.

A Python stage returns a `dict[str, pyarrow.Table]`; this IO manager writes each table as one
Parquet file, replacing the partition's folder whole, and hands the tables to the next stage.
Built on Dagster's `UPathIOManager`, so the same code works on S3/GCS paths (via fsspec).
"""

from __future__ import annotations

import shutil

import pyarrow as pa
import pyarrow.parquet as pq
from dagster import (
    ConfigurableIOManagerFactory,
    InputContext,
    OutputContext,
    UPathIOManager,
)
from upath import UPath

__all__ = ["LakeIOManager", "ParquetTablesIOManager", "read_tables", "write_tables"]

Tables = dict[str, pa.Table]


def write_tables(path: UPath, obj: Tables) -> None:
    """Replace the folder at `path` with one zstd Parquet file per table."""
    if path.exists():
        shutil.rmtree(path) if path.protocol in ("", "file") else path.fs.rm(str(path), True)
    path.mkdir(parents=True, exist_ok=True)
    for name, table in obj.items():
        pq.write_table(table, str(path / f"{name}.parquet"), compression="zstd")


def read_tables(path: UPath) -> Tables:
    return {p.stem: pq.read_table(str(p)) for p in sorted(path.glob("*.parquet"))}


class ParquetTablesIOManager(UPathIOManager):
    extension: str = ""  # a partition is a folder of tables

    def dump_to_path(self, context: OutputContext, obj: Tables, path: UPath) -> None:
        write_tables(path, obj)

    def load_from_path(self, context: InputContext, path: UPath) -> Tables:
        return read_tables(path)


class LakeIOManager(ConfigurableIOManagerFactory):
    """Parquet tables under `base_dir`, one folder per asset partition."""

    base_dir: str

    def create_io_manager(self, context) -> ParquetTablesIOManager:
        return ParquetTablesIOManager(base_path=UPath(self.base_dir))
