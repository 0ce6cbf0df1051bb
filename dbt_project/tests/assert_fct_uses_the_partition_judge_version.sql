{#-
    Every fact row must carry the judge version recorded for its day in raw.partition_loads
    (scores of other judge versions stay in scored.conversation_scores for comparison only).
    meta.dagster.ref makes it a Dagster asset check on fct_conversation_scores.
-#}

{{ config(meta={'dagster': {'ref': {'name': 'fct_conversation_scores'}}}) }}

with

conversation_scores as (

    select * from {{ ref('fct_conversation_scores') }}

),

partition_loads as (

    select * from {{ ref('stg_raw__partition_loads') }}

),

final as (

    select
        conversation_scores.conversation_id,
        conversation_scores.conversation_date,
        conversation_scores.judge_version,
        partition_loads.judge_version as partition_judge_version

    from conversation_scores

    left join partition_loads
        on conversation_scores.conversation_date = partition_loads.partition_date

    where
        partition_loads.judge_version is null
        or conversation_scores.judge_version != partition_loads.judge_version

)

select * from final
