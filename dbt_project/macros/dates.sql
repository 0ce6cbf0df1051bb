{#-
    The Monday that starts the ISO week of `column` (a date), as a date. `dbt.date_trunc` gives
    a timestamp on DuckDB and a timestamp with time zone on Postgres; the cast makes it a date
    on both, so weekly marts join and compare like-for-like. Snowflake's 'week' starts on
    Monday with its default WEEK_START (0); BigQuery's WEEK starts on Sunday, so it truncates to
    ISOWEEK instead.
-#}
{% macro week_start(column) -%}
    {{ return(adapter.dispatch('week_start')(column)) }}
{%- endmacro %}

{% macro default__week_start(column) -%}
    cast({{ dbt.date_trunc('week', column) }} as date)
{%- endmacro %}

{% macro bigquery__week_start(column) -%}
    date_trunc(cast({{ column }} as date), isoweek)
{%- endmacro %}


{#-
    Whole weeks from `first_week` to `week` (both Mondays, so the day difference is an exact
    multiple of 7), as an integer: the x of the weekly trend regressions.
-#}
{% macro weeks_between(first_week, week) -%}
    cast({{ dbt.datediff(first_week, week, 'day') }} / 7 as {{ dbt.type_int() }})
{%- endmacro %}
