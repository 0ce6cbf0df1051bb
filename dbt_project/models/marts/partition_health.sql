{#-
    One row per loaded landing day: what came in, what was loaded, scored and quarantined,
    and the most frequent quarantine reason. A full rebuild (one row per day) on every run.
-#}

with

partition_loads as (

    select * from {{ ref('stg_raw__partition_loads') }}

),

quarantine as (

    select * from {{ ref('stg_raw__quarantine') }}

),

quarantine_by_stage as (

    select
        partition_date,
        count(case when quarantine_stage = 'extract' then 1 end) as quarantined_at_extract,
        count(case when quarantine_stage = 'judge' then 1 end) as quarantined_at_judge

    from quarantine

    group by partition_date

),

quarantine_reasons as (

    select
        partition_date,
        quarantine_reason,
        count(*) as reason_count

    from quarantine

    group by partition_date, quarantine_reason

),

quarantine_reasons_ranked as (

    select
        *,
        row_number() over (
            partition by partition_date
            order by reason_count desc, quarantine_reason asc
        ) as reason_rank

    from quarantine_reasons

),

top_quarantine_reason as (

    select
        partition_date,
        quarantine_reason as top_quarantine_reason,
        reason_count as top_quarantine_reason_count

    from quarantine_reasons_ranked

    where reason_rank = 1

),

final as (

    select
        partition_loads.partition_date,
        partition_loads.lines_in,
        partition_loads.conversations_loaded,
        partition_loads.conversations_scored,
        partition_loads.conversations_quarantined,
        coalesce(quarantine_by_stage.quarantined_at_extract, 0) as quarantined_at_extract,
        coalesce(quarantine_by_stage.quarantined_at_judge, 0) as quarantined_at_judge,
        case
            when partition_loads.lines_in > 0
                then
                    cast(partition_loads.conversations_quarantined as {{ type_double() }})
                    / partition_loads.lines_in
        end as quarantine_rate,
        top_quarantine_reason.top_quarantine_reason,
        coalesce(top_quarantine_reason.top_quarantine_reason_count, 0)
            as top_quarantine_reason_count,
        partition_loads.judge_kind,
        partition_loads.judge_version,
        partition_loads.dagster_run_id,
        partition_loads.loaded_at

    from partition_loads

    left join quarantine_by_stage
        on partition_loads.partition_date = quarantine_by_stage.partition_date

    left join top_quarantine_reason
        on partition_loads.partition_date = top_quarantine_reason.partition_date

)

select * from final
