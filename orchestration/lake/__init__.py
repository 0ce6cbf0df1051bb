"""The Parquet hand-off between pipeline stages (a Dagster IO manager, local or object store)."""
