{#-
    dbt's own get_where_subquery (what a generic test selects from when it has a `where`
    config), plus one placeholder: `__window(column)__` becomes the run's partition window on
    that column (partition_window(), from the vars min_date/max_date; `1 = 1` without them).

    The tests of the staging and intermediate views carry it (dbt_project.yml): those views
    read every day ever loaded, so a test of them on the daily run would re-scan (and, for the
    message views, re-aggregate) the whole history for every test, a cost that grows with
    every day kept. A run for a window checks the window's rows; other days were checked when
    they were built, and a run without vars (or --full-refresh with none) checks everything.
    dbt allows no custom macro in a `where` config itself; overriding this macro is its
    documented way round that.
-#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where -%}
        {%- set ns = namespace(where=where) -%}
        {%- for column in modules.re.findall('__window\\((\\w+)\\)__', where) -%}
            {%- set ns.where = ns.where | replace(
                '__window(' ~ column ~ ')__', partition_window(column) | trim
            ) -%}
        {%- endfor -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ ns.where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
