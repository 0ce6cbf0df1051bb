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


{#-
    The aggregate that joins a group's `line`s in `order_by` order, separated by line feeds (a
    conversation's transcript). Everywhere but DuckDB: dbt.listagg (string_agg / listagg
    with an order by). On DuckDB an ordered aggregate keeps every group's rows in memory
    (a 1M-conversation day needs ~8 GB and fails under the 2 GB limit); a plain list
    aggregate of (order, line) pairs spills to disk like any hash aggregate, and is sorted per
    group afterwards.
-#}
{% macro ordered_lines(line, order_by) -%}
    {{ return(adapter.dispatch('ordered_lines')(line, order_by)) }}
{%- endmacro %}

{% macro default__ordered_lines(line, order_by) -%}
    {{ return(dbt.listagg(
        measure=line,
        delimiter_text=newline_literal(),
        order_by_clause='order by ' ~ order_by,
    )) }}
{%- endmacro %}

{% macro duckdb__ordered_lines(line, order_by) -%}
    array_to_string(
        list_transform(
            list_sort(list(struct_pack(k := {{ order_by }}, v := {{ line }}))),
            lambda pair: pair.v
        ),
        {{ newline_literal() }}
    )
{%- endmacro %}
