"""Dagster resources. Every value comes from the environment (see `orchestration.settings`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dagster import ConfigurableResource
from dagster_duckdb import DuckDBResource

from orchestration.judge.base import Judge
from orchestration.judge.offline import OfflineJudge
from orchestration.settings import get_settings

__all__ = ["JudgeResource", "LakeResource", "LandingZoneResource", "build_resources"]


class LandingZoneResource(ConfigurableResource):
    """Where each day's JSON Lines files arrive: `<root>/<YYYY-MM-DD>/*.jsonl`."""

    root: str

    @property
    def path(self) -> Path:
        return Path(self.root)


class LakeResource(ConfigurableResource):
    """The lake the Parquet IO manager stores partitions in (the same `CX_LAKE_DIR`): a stage
    writes its partition into a staging folder here, then the IO manager renames it into place."""

    base_dir: str

    @contextmanager
    def staging(self, asset: str) -> Iterator[Path]:
        """A fresh staging folder for `asset`'s partition, removed if the stage fails."""
        from orchestration.lake.io_manager import staging

        with staging(Path(self.base_dir), asset) as folder:
            yield folder


class JudgeResource(ConfigurableResource):
    """Which judge scores conversations: the offline judge unless an endpoint is configured."""

    base_url: str | None = None
    #: Worker processes an offline judge scores a day in (`CX_JUDGE_PROCESSES`).
    processes: int = 1
    #: The offline judge (`CX_OFFLINE_JUDGE`): `trained`, or `rule` for the rubric alone.
    offline: str = "trained"

    def build(self) -> Judge:
        if self.base_url:
            # The LLM judge reads its other CX_JUDGE_* settings now, and its key only when it
            # builds its client: no secret is ever part of this resource's config.
            from orchestration.judge.llm import LLMJudge, LLMJudgeConfig

            return LLMJudge(LLMJudgeConfig.from_settings(get_settings(), base_url=self.base_url))
        if self.offline == "rule":
            return OfflineJudge()
        if self.offline != "trained":
            raise ValueError(f"offline judge {self.offline!r}: use 'trained' or 'rule'")
        # The trained offline judge (trained on first use when its artifact is missing); the
        # rule judge only when there is no labelled data to train it on.
        from orchestration.judge.trained import NoLabelledDataError, load_trained_judge

        try:
            return load_trained_judge()
        except NoLabelledDataError as error:
            logging.getLogger(__name__).warning("using the rule-based offline judge: %s", error)
            return OfflineJudge()


def build_resources() -> dict[str, object]:
    from orchestration.dbt.project import dbt_resource
    from orchestration.lake.io_manager import LakeIOManager

    settings = get_settings()
    return {
        "landing": LandingZoneResource(root=str(settings.landing_dir)),
        "judge": JudgeResource(
            base_url=settings.judge_base_url,
            processes=settings.judge_processes,
            offline=settings.offline_judge,
        ),
        "warehouse": DuckDBResource(
            database=str(settings.warehouse_path),
            connection_config={"memory_limit": settings.duckdb_memory_limit},
        ),
        "lake_io_manager": LakeIOManager(base_dir=str(settings.lake_dir)),
        "lake": LakeResource(base_dir=str(settings.lake_dir)),
        "dbt": dbt_resource(),
    }
