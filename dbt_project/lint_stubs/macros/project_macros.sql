{#- Lint-only stand-ins for macros/ (which need dbt's `modules` and `adapter`). -#}
{% macro partition_window(column) -%}
    {{ column }} between cast('2026-01-01' as date) and cast('2026-01-31' as date)
{%- endmacro %}

{% macro delete_partition_window(column) -%}{%- endmacro %}

{% macro type_double() -%}double precision{%- endmacro %}
