"""`python -m orchestration.dbt.prepare`: parse the dbt project so `@dbt_assets` can load."""

from orchestration.dbt.project import cx_dbt_project, parse_manifest

if __name__ == "__main__":
    parse_manifest()
    if not cx_dbt_project.manifest_path.exists():
        raise SystemExit(f"dbt parse wrote no manifest at {cx_dbt_project.manifest_path}")
    print(f"dbt manifest ready: {cx_dbt_project.manifest_path}")
