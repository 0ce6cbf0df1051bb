"""The dbt project as Dagster sees it. Import-light: `@dbt_assets` needs its manifest at import.

Under `dagster dev` the manifest is re-parsed on start (`prepare_if_dev`). Anywhere else (the
CLI, pytest, the demo) a missing manifest is built here with `dbt parse`, once, and said so.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from orchestration.settings import REPO_ROOT, get_settings

__all__ = [
    "DBT_PROJECT_DIR",
    "cx_dbt_project",
    "dbt_resource",
    "ensure_manifest",
    "parse_manifest",
]

DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"

get_settings()  # exports CX_WAREHOUSE_PATH (absolute) for the dbt profile

cx_dbt_project = DbtProject(
    project_dir=DBT_PROJECT_DIR,
    profiles_dir=DBT_PROJECT_DIR,
    target=os.environ.get("DBT_TARGET", "duckdb"),
)
cx_dbt_project.prepare_if_dev()


def dbt_resource() -> DbtCliResource:
    # The venv's own dbt, so it works when the venv is not on PATH (`.venv/bin/python -m ...`).
    return DbtCliResource(
        project_dir=cx_dbt_project,
        target=cx_dbt_project.target,
        dbt_executable=str(Path(sys.executable).with_name("dbt")),
    )


def parse_manifest() -> None:
    """`dbt parse` into the project's own target folder, where `@dbt_assets` reads it.

    (A bare `DbtCliResource.cli` writes to a fresh per-invocation folder instead.)"""
    dbt_resource().cli(
        ["parse", "--quiet"], manifest={}, target_path=cx_dbt_project.manifest_path.parent
    ).wait()


def ensure_manifest() -> None:
    """Parse the dbt project when its manifest is missing (a fresh checkout)."""
    if cx_dbt_project.manifest_path.exists():
        return
    logging.getLogger(__name__).warning(
        "dbt manifest missing at %s: running `dbt parse` once", cx_dbt_project.manifest_path
    )
    parse_manifest()
