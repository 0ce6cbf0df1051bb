"""The Parquet hand-off between pipeline stages (a Dagster IO manager over local or object storage)."""
