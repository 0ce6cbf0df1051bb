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


def type_int() -> str:
    return "integer"


def length(expression: str) -> str:
    return f"length({expression})"


def concat(fields: list[str]) -> str:
    return " || ".join(fields)


def listagg(
    measure: str,
    delimiter_text: str = "','",
    order_by_clause: str | None = None,
    limit_num: int | None = None,
) -> str:
    order_by = f" {order_by_clause}" if order_by_clause else ""
    return f"string_agg({measure}, {delimiter_text}{order_by})"


def date_trunc(datepart: str, date: str) -> str:
    return f"date_trunc('{datepart}', {date})"


def dateadd(datepart: str, interval: int | str, from_date_or_timestamp: str) -> str:
    return f"date_add({from_date_or_timestamp}, interval ({interval}) {datepart})"


def date_spine(datepart: str, start_date: str, end_date: str) -> str:
    return (
        f"select cast(range as date) as date_{datepart} "
        f"from range({start_date}, {end_date}, interval 1 {datepart})"
    )
