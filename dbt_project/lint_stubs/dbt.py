"""Lint-only stand-ins for dbt's cross-database macros (`{{ dbt.datediff(...) }}` etc.).

sqlfluff's jinja templater renders models without dbt; `.sqlfluff` puts this module in the
template context as `dbt`. dbt itself never reads this folder.
"""


def datediff(first_date: str, second_date: str, datepart: str) -> str:
    return f"date_diff('{datepart}', {first_date}, {second_date})"


def type_bigint() -> str:
    return "bigint"


def type_string() -> str:
    return "varchar"
