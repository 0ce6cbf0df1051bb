"""A partition's tables as Parquet files in one folder, read a batch at a time.

The Python stages hand each other whole days. Holding a day as Arrow tables costs its size in
memory at every step (a 1M-conversation day is gigabytes of message text), so a stage writes
its tables here batch by batch (`PartitionWriter`) and the next stage reads them back lazily
(`LakePartition`): by row groups (`batches`), by column (`read(..., columns=)`), or straight
from DuckDB (`scan`), which streams Parquet itself. A `dict[str, pa.Table]` is accepted wherever
a `LakePartition` is (`Tables`), for small days and tests.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["LakePartition", "PartitionWriter", "Tables", "batches", "num_rows", "scan"]

#: A partition's tables: in a lake folder, or in memory.
Tables = Mapping[str, pa.Table]

#: Rows per Parquet row group: the unit a reader streams.
ROW_GROUP_ROWS = 64 * 1024


class LakePartition(Mapping[str, pa.Table]):
    """The tables of one partition: `<folder>/<table>.parquet`. Indexing reads a whole table;
    `batches`, `read(columns=)` and `scan` read only what they are asked for."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def __repr__(self) -> str:
        return f"LakePartition({str(self.folder)!r})"

    def path(self, name: str) -> Path:
        path = self.folder / f"{name}.parquet"
        if not path.is_file():
            raise KeyError(f"no table {name!r} in {self.folder}")
        return path

    def __getitem__(self, name: str) -> pa.Table:
        return self.read(name)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(p.stem for p in self.folder.glob("*.parquet")))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def read(self, name: str, columns: list[str] | None = None) -> pa.Table:
        return pq.read_table(self.path(name), columns=columns)

    def num_rows(self, name: str) -> int:
        return pq.ParquetFile(self.path(name)).metadata.num_rows

    def in_memory(self) -> dict[str, pa.Table]:
        """Every table read whole, one contiguous chunk each (small partitions and tests)."""
        return {name: self.read(name).combine_chunks() for name in self}

    def batches(
        self, name: str, columns: list[str] | None = None, batch_rows: int = ROW_GROUP_ROWS
    ) -> Iterator[pa.RecordBatch]:
        with pq.ParquetFile(self.path(name)) as handle:
            yield from handle.iter_batches(batch_size=batch_rows, columns=columns)


def num_rows(tables: Tables, name: str) -> int:
    """Rows of one table, from the Parquet footer when the table is in the lake."""
    if isinstance(tables, LakePartition):
        return tables.num_rows(name)
    return tables[name].num_rows


def batches(
    tables: Tables, name: str, columns: list[str] | None = None, batch_rows: int = ROW_GROUP_ROWS
) -> Iterator[pa.RecordBatch]:
    """One table's rows in order, `batch_rows` at a time (or fewer)."""
    if isinstance(tables, LakePartition):
        yield from tables.batches(name, columns, batch_rows)
        return
    table = tables[name]
    yield from (table.select(columns) if columns else table).to_batches(max_chunksize=batch_rows)


def scan(con: duckdb.DuckDBPyConnection, tables: Tables, name: str) -> duckdb.DuckDBPyRelation:
    """One table as a DuckDB relation: `read_parquet` of the lake file (streamed by DuckDB), or
    the in-memory Arrow table."""
    if isinstance(tables, LakePartition):
        return con.read_parquet(str(tables.path(name)))
    return con.from_arrow(tables[name])


class PartitionWriter:
    """Writes a partition's tables into `folder`, each cast to its schema, batch by batch.

    `append(name, rows)` adds a table or record batch to `<name>.parquet` (opened on first use);
    `write(name, source)` streams a whole `RecordBatchReader` or table; `close()` finishes every
    file and returns the `LakePartition`. A table named in `schemas` but never written is written
    empty, so every declared table exists."""

    def __init__(self, folder: Path, schemas: Mapping[str, pa.Schema]) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.schemas = dict(schemas)
        self._writers: dict[str, pq.ParquetWriter] = {}
        self._adopted: set[str] = set()
        self._closed = False

    def _writer(self, name: str) -> pq.ParquetWriter:
        self._check_open()
        if name not in self._writers:
            self._writers[name] = pq.ParquetWriter(
                self.folder / f"{name}.parquet", self.schemas[name], compression="zstd"
            )
        return self._writers[name]

    def append(self, name: str, rows: pa.Table | pa.RecordBatch) -> None:
        schema = self.schemas[name]
        if isinstance(rows, pa.RecordBatch):
            rows = pa.Table.from_batches([rows])
        rows = rows.select(schema.names).cast(schema)
        self._writer(name).write_table(rows, row_group_size=ROW_GROUP_ROWS)

    def write(self, name: str, source: pa.RecordBatchReader | pa.Table) -> None:
        reader = source.to_reader() if isinstance(source, pa.Table) else source
        for batch in reader:
            self.append(name, batch)
        self._writer(name)

    def adopt(self, name: str, path: Path) -> None:
        """Take a finished Parquet file as the table `name` (renamed into the folder, no copy);
        its schema must be the table's."""
        self._check_open()
        if name in self._writers or name in self._adopted:
            raise ValueError(f"table {name!r} is already written")
        if not pq.read_schema(path).equals(self.schemas[name]):
            raise ValueError(f"{path} does not have the schema of table {name!r}")
        Path(path).replace(self.folder / f"{name}.parquet")
        self._adopted.add(name)

    def close(self) -> LakePartition:
        """Finish every file (a declared table never written is written empty) and return the
        partition. Once closed (also by the `with` block) it only returns the partition again:
        no table is rewritten."""
        if not self._closed:
            for name in self.schemas:
                if name not in self._adopted:
                    self._writer(name)
            self._finish()
        return LakePartition(self.folder)

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"the partition writer of {self.folder} is closed")

    def _finish(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
        self._closed = True

    def __enter__(self) -> PartitionWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._finish()
