"""Every setting, read from the environment (`CX_` + UPPER_SNAKE), each with a default.

The README lists them. Secrets (the judge API key) are not read here: the LLM judge takes them
from the environment at the moment it builds its client, so they never sit in a settings dump.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["REPO_ROOT", "Settings", "get_settings"]

REPO_ROOT = Path(__file__).resolve().parent.parent


def _default_data_dir() -> Path:
    return (REPO_ROOT.parent / "shared" / "data").resolve()


class Settings(BaseSettings):
    """CX Score settings. Paths may be relative; they resolve against the repo root."""

    model_config = SettingsConfigDict(env_prefix="CX_", extra="ignore")

    landing_dir: Path = Field(REPO_ROOT / "data" / "landing", description="Landing zone root.")
    lake_dir: Path = Field(
        REPO_ROOT / "data" / "lake", description="Parquet hand-off between pipeline stages."
    )
    warehouse_path: Path = Field(
        REPO_ROOT / "data" / "warehouse.duckdb", description="The DuckDB warehouse file."
    )
    data_dir: Path = Field(default_factory=_default_data_dir, description="Public demo data.")
    duckdb_memory_limit: str = Field(
        "2GB",
        description="What DuckDB may hold in memory in the warehouse load and in dbt (it spills "
        "to disk past it).",
    )
    # `model_*` names are pydantic's own namespace, hence the alias for CX_MODEL_DIR.
    trained_model_dir: Path = Field(
        REPO_ROOT / "data" / "models",
        validation_alias="CX_MODEL_DIR",
        description="Where the trained offline judge's artifact and card live.",
    )
    offline_judge: Literal["trained", "rule"] = Field(
        "trained",
        description="The offline judge: `trained` (the rule judge's observations, a model's "
        "overall score) or `rule` (the rubric alone; see README on sources with no labels).",
    )
    judge_own_labels: Path | None = Field(
        None,
        description="A folder of your own labelled conversations (contract JSONL with "
        "human_score or an answered csat.score) the trained judge also learns from, one model "
        "per file.",
    )
    start_date: date = Field(date(2025, 1, 1), description="First daily partition.")
    schedule_hour: int = Field(1, ge=0, le=23, description="UTC hour the daily run starts.")
    max_quarantine_rate: float = Field(
        0.05, ge=0, le=1, description="Above this share of lines quarantined, a check warns."
    )
    max_judge_failure_rate: float = Field(
        0.02, ge=0, le=1, description="Above this share of conversations the judge fails on, warn."
    )
    max_score_shift_psi: float = Field(
        0.25, ge=0, description="Above this PSI of the day's scores vs the trailing 28 days, warn."
    )
    score_shift_min_history_days: int = Field(
        7, ge=1, description="Days of scores the shift check needs before it compares."
    )
    judge_base_url: str | None = Field(
        None, description="OpenAI-compatible endpoint; unset = offline judge."
    )
    # The LLM judge (used when judge_base_url is set). Its key comes from CX_JUDGE_API_KEY or
    # OPENAI_API_KEY, read by the judge when it builds its client, never stored here.
    judge_model: str | None = Field(None, description="Model name the endpoint serves.")
    judge_concurrency: int = Field(8, ge=1, le=256, description="Requests in flight at once.")
    judge_processes: int = Field(
        1,
        ge=1,
        le=256,
        description="Worker processes an offline judge scores a day in (its CPU-bound work "
        "spread over cores; each worker starts in ~2-3 s, so it pays on big days). The LLM "
        "judge ignores it: its parallelism is judge_concurrency.",
    )
    judge_timeout_s: float = Field(60.0, gt=0, description="Seconds per request before a retry.")
    judge_max_retries: int = Field(3, ge=0, le=10, description="Retries per request.")
    judge_max_input_tokens: int = Field(6000, ge=256, description="Input budget per request.")
    judge_max_output_tokens: int = Field(1024, ge=64, description="Reply budget per request.")
    judge_bytes_per_token: float = Field(
        3.0, gt=0, description="UTF-8 bytes per token, to estimate the input size."
    )
    judge_redact_pii: bool = Field(True, description="Redact emails, phones, cards before sending.")
    judge_phone_region: str = Field("US", description="Country of phone numbers without a +.")
    judge_price_input_per_mtok: float | None = Field(
        None, ge=0, description="Price per million prompt tokens; set it to get a cost."
    )
    judge_price_output_per_mtok: float | None = Field(
        None, ge=0, description="Price per million completion tokens."
    )

    def resolved(self, path: Path) -> Path:
        return path if path.is_absolute() else (REPO_ROOT / path).resolve()


def get_settings() -> Settings:
    """Read the settings now (cheap; tests change the environment between calls)."""
    settings = Settings()
    for name in ("landing_dir", "lake_dir", "warehouse_path", "data_dir", "trained_model_dir"):
        object.__setattr__(settings, name, settings.resolved(getattr(settings, name)))
    if settings.judge_own_labels is not None:
        object.__setattr__(
            settings, "judge_own_labels", settings.resolved(settings.judge_own_labels)
        )
    # dbt reads the warehouse path from the same variable; make it absolute for every process
    # Dagster starts, so Python and dbt can never disagree about which file is the warehouse.
    os.environ["CX_WAREHOUSE_PATH"] = str(settings.warehouse_path)
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    return settings
