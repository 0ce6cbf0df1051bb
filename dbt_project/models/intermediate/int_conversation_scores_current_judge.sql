{#-
    scored.conversation_scores keeps every judge version's verdicts side by side. The verdict
    that counts for a day is the one from the judge version recorded for that day in
    raw.partition_loads (exactly one row per partition_date), so this is an inner join on both.
-#}

with

conversation_scores as (

    select * from {{ ref('stg_scored__conversation_scores') }}

),

partition_loads as (

    select * from {{ ref('stg_raw__partition_loads') }}

),

current_judge_scores as (

    select conversation_scores.*
    from conversation_scores
    inner join partition_loads
        on
            conversation_scores.partition_date = partition_loads.partition_date
            and conversation_scores.judge_version = partition_loads.judge_version

),

final as (

    select * from current_judge_scores

)

select * from final
