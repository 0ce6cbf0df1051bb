{#-
    A double-precision float type. `dbt.type_float()` renders `float`, which is a 4-byte REAL
    on DuckDB; ratios and means need 8 bytes everywhere.
-#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    {{ return('double precision') }}
{%- endmacro %}

{% macro bigquery__type_double() -%}
    {{ return('float64') }}
{%- endmacro %}
