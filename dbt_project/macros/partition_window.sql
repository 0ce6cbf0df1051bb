{#-
    The run's partition window as a predicate on `column`, from the vars `min_date` and
    `max_date` (inclusive ISO dates; Dagster passes both). A var left null means "no bound",
    so with neither set the predicate is `1 = 1` (everything).
-#}
{% macro partition_window(column) -%}
    {%- set bounds = [] -%}
    {%- for name, op in [('min_date', '>='), ('max_date', '<=')] -%}
        {%- set day = partition_bound(name) -%}
        {%- if day is not none -%}
            {%- do bounds.append(column ~ ' ' ~ op ~ " cast('" ~ day.isoformat() ~ "' as date)") -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if bounds -%}
        {{ bounds | join(' and ') }}
    {%- else -%}
        1 = 1
    {%- endif -%}
{%- endmacro %}


{#- The var `name` (min_date or max_date) as a date, or none when it is unset or null. -#}
{% macro partition_bound(name) -%}
    {%- set value = var(name, none) -%}
    {%- if value is none or (value | string | trim) in ('', 'None', 'null') -%}
        {{ return(none) }}
    {%- endif -%}
    {#- Validate: the value is spliced into SQL, so it must be a real ISO date. -#}
    {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', value | string | trim) -%}
        {{ exceptions.raise_compiler_error(
            "var " ~ name ~ " must be an ISO date (YYYY-MM-DD) or null, got " ~ (value | string)
        ) }}
    {%- endif -%}
    {{ return(modules.datetime.date.fromisoformat(value | string | trim)) }}
{%- endmacro %}


{#-
    Pre-hook for partition-replaced incremental models: on an incremental run, delete every
    row of the window first. `delete+insert` on the date column then re-inserts the window's
    rows; this delete also clears a day that now has no rows at all (every conversation of it
    withdrawn or quarantined), which `delete+insert` alone would leave behind.
    Runs inside the model's transaction, so a failed build leaves the previous rows.
-#}
{% macro delete_partition_window(column) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ partition_window(column) }}
    {%- endif -%}
{%- endmacro %}


{#-
    Pre-hook, after delete_partition_window, for the marts that keep one row per conversation
    from its latest landing (a conversation reopened and exported again on a later day lands
    twice): on an incremental run, delete the rows of days before the window whose
    conversation landed again in the window. `landings` is the raw landings' relation
    (conversation_id, partition_date). Rows after the window are left alone (the model skips
    the window's landings that a later day superseded), and a window with no min_date has no
    earlier days left to clear: delete_partition_window emptied them.
-#}
{% macro delete_earlier_landings(column, landings) -%}
    {%- set start = partition_bound('min_date') -%}
    {%- if is_incremental() and start is not none -%}
        delete from {{ this }}
        where
            {{ column }} < cast('{{ start.isoformat() }}' as date)
            and conversation_id in (
                select conversation_id from {{ landings }}
                where {{ partition_window('partition_date') }}
            )
    {%- endif -%}
{%- endmacro %}
