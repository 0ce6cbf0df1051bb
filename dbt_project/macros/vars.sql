{#-
    A project var that is spliced into SQL, validated first: a number (an integer when
    `integer`), at least `min_value` when given. A bad --vars value fails the compile with the
    var's name instead of producing odd SQL.
-#}
{% macro numeric_var(name, integer=false, min_value=none) -%}
    {%- set raw = var(name) -%}
    {%- set text = raw | string | trim -%}
    {%- set pattern = '^-?[0-9]+$' if integer else '^-?([0-9]+([.][0-9]*)?|[.][0-9]+)$' -%}
    {%- if not modules.re.match(pattern, text) -%}
        {{ exceptions.raise_compiler_error(
            "var " ~ name ~ " must be " ~ ("an integer" if integer else "a number") ~ ", got " ~ text
        ) }}
    {%- endif -%}
    {%- set value = (text | int) if integer else (text | float) -%}
    {%- if min_value is not none and value < min_value -%}
        {{ exceptions.raise_compiler_error(
            "var " ~ name ~ " must be at least " ~ min_value ~ ", got " ~ text
        ) }}
    {%- endif -%}
    {{ return(value) }}
{%- endmacro %}


{#- A project var holding an ISO date (YYYY-MM-DD), as a SQL date literal. -#}
{% macro date_var(name) -%}
    {%- set text = var(name) | string | trim -%}
    {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', text) -%}
        {{ exceptions.raise_compiler_error("var " ~ name ~ " must be an ISO date, got " ~ text) }}
    {%- endif -%}
    {{ return("cast('" ~ modules.datetime.date.fromisoformat(text).isoformat() ~ "' as date)") }}
{%- endmacro %}
