{#- Lint-only stand-ins for macros/ (which need dbt's `modules` and `adapter`). -#}
{% macro partition_window(column) -%}
    {{ column }} between cast('2026-01-01' as date) and cast('2026-01-31' as date)
{%- endmacro %}

{% macro delete_partition_window(column) -%}{%- endmacro %}

{% macro type_double() -%}double precision{%- endmacro %}

{% macro week_start(column) -%}cast(date_trunc('week', {{ column }}) as date){%- endmacro %}

{% macro weeks_between(first_week, week) -%}
    cast(date_diff('day', {{ first_week }}, {{ week }}) / 7 as integer)
{%- endmacro %}

{% macro text_excerpt(column, max_chars=300) -%}left({{ column }}, {{ max_chars }}){%- endmacro %}

{% macro newline_literal() -%}chr(10){%- endmacro %}

{#- The real macros return numbers and a date literal; a stub can only render text. -#}
{% macro numeric_var(name, integer=false, min_value=none) -%}4{%- endmacro %}

{% macro date_var(name) -%}cast('2026-01-01' as date){%- endmacro %}
