"""A test module's own landing zone, lake and warehouse, and the Dagster instance that runs
`daily_cx_job` over them in process (real materialisations, real DuckDB file)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pytest
from dagster import AssetKey, DagsterInstance

from tests.conftest import jsonl


@dataclass
class DagsterEnv:
    landing: Path
    warehouse: Path
    instance: DagsterInstance

    def write(self, day: date, files: dict[str, list]) -> None:
        """The day's landing files, replacing any the day had."""
        folder = self.landing / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.jsonl"):
            old.unlink()
        for name, records in files.items():
            (folder / name).write_bytes(jsonl(records))

    def run(self, day: date, asset_selection: Sequence[AssetKey] | None = None):
        """The daily job for one day: every asset and check, or only `asset_selection`."""
        from orchestration.definitions import build_defs

        job = build_defs().resolve_job_def("daily_cx_job")
        return job.execute_in_process(
            partition_key=day.isoformat(), instance=self.instance, asset_selection=asset_selection
        )

    def query(self, sql: str) -> list[tuple]:
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.execute(sql).fetchall()


@contextmanager
def dagster_env(
    root: Path, settings: dict[str, str] | None = None, unset: Iterable[str] = ()
) -> Iterator[DagsterEnv]:
    """A `DagsterEnv` under `root`, with the offline judge and the given settings (and the
    settings in `unset` at their defaults) for as long as the context lasts."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CX_LANDING_DIR", str(root / "landing"))
        mp.setenv("CX_LAKE_DIR", str(root / "lake"))
        mp.setenv("CX_WAREHOUSE_PATH", str(root / "warehouse.duckdb"))
        for name, value in (settings or {}).items():
            mp.setenv(name, value)
        for name in ("CX_JUDGE_BASE_URL", *unset):
            mp.delenv(name, raising=False)
        with DagsterInstance.ephemeral() as instance:
            yield DagsterEnv(root / "landing", root / "warehouse.duckdb", instance)
