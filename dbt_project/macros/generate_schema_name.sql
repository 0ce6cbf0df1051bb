{#-
    Custom schemas are used verbatim: models land in `staging`, `intermediate` and `marts`
    (not `<target_schema>_staging`), next to the Python-owned `raw` and `scored` schemas.
    A model without a custom schema goes to the target's schema.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
