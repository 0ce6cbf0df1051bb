"""great-expectations suites over the scored data, run by asset checks (see `orchestration.checks`).

No Dagster here. great-expectations takes seconds to import, so nothing imports it until a suite
is validated.
"""

from orchestration.quality.suites import (
    MIN_ROWS_FOR_DISTRIBUTION,
    SUITES,
    ExpectationOutcome,
    SuiteReport,
    suite_columns,
    validate,
)

__all__ = [
    "MIN_ROWS_FOR_DISTRIBUTION",
    "SUITES",
    "ExpectationOutcome",
    "SuiteReport",
    "suite_columns",
    "validate",
]
