"""`python -m orchestration.dbt.prepare`: parse the dbt project so `@dbt_assets` can load."""

from __future__ import annotations

from orchestration.dbt.project import cx_dbt_project, dbt_resource

if __name__ == "__main__":
    dbt_resource().cli(["parse", "--quiet"], manifest={}).wait()
    print(f"dbt manifest ready: {cx_dbt_project.manifest_path}")
