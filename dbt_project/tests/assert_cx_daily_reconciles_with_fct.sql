{#-
    cx_daily is an aggregate of fct_conversation_scores: per day, its conversation, positive
    and CSAT counts must add up to the fact's. Returns the days where they do not.
    meta.dagster.ref makes it a Dagster asset check on cx_daily.
-#}

{{ config(meta={'dagster': {'ref': {'name': 'cx_daily'}}}) }}

with

fct_by_day as (

    select
        conversation_date,
        count(*) as conversations,
        count(case when is_positive then 1 end) as positive_conversations,
        count(csat_score) as csat_responses

    from {{ ref('fct_conversation_scores') }}

    group by conversation_date

),

cx_daily_by_day as (

    select
        conversation_date,
        sum(conversations) as conversations,
        sum(positive_conversations) as positive_conversations,
        sum(csat_responses) as csat_responses

    from {{ ref('cx_daily') }}

    group by conversation_date

),

final as (

    select
        coalesce(fct_by_day.conversation_date, cx_daily_by_day.conversation_date)
            as conversation_date,
        fct_by_day.conversations as fct_conversations,
        cx_daily_by_day.conversations as cx_daily_conversations

    from fct_by_day

    full outer join cx_daily_by_day
        on fct_by_day.conversation_date = cx_daily_by_day.conversation_date

    where
        fct_by_day.conversation_date is null
        or cx_daily_by_day.conversation_date is null
        or fct_by_day.conversations != cx_daily_by_day.conversations
        or fct_by_day.positive_conversations != cx_daily_by_day.positive_conversations
        or fct_by_day.csat_responses != cx_daily_by_day.csat_responses

)

select * from final
