{#-
    `column` cut to at most `max_chars` characters: longer texts keep their first
    max_chars - 3 characters and end in '...'. Null stays null. Portable: length, substring and
    concatenation through dbt's cross-database macros.
-#}
{% macro text_excerpt(column, max_chars=300) -%}
    case
        when {{ dbt.length(column) }} > {{ max_chars }}
            then {{ dbt.concat(['substring(' ~ column ~ ', 1, ' ~ (max_chars - 3) ~ ')', "'...'"]) }}
        else {{ column }}
    end
{%- endmacro %}


{#-
    A string literal holding one line feed, for separators (e.g. the listagg delimiter, which
    Snowflake and BigQuery want as a constant). A quoted literal with a real line break works
    on DuckDB, PostgreSQL and Snowflake; BigQuery rejects a line break inside '...' and reads
    the escape instead.
-#}
{% macro newline_literal() -%}
    {{ return(adapter.dispatch('newline_literal')()) }}
{%- endmacro %}

{% macro default__newline_literal() -%}
    {{ return("'\n'") }}
{%- endmacro %}

{% macro bigquery__newline_literal() -%}
    {{ return("'\\n'") }}
{%- endmacro %}
