{#-
    Every topic observed in fct_conversation_scores, with when it was first and last seen and
    how many conversations it had. Rebuilt as a table on every run (one scan of the fact, cheap
    at this scale), so a topic disappears once no scored conversation carries it.
-#}

with

conversation_scores as (

    select * from {{ ref('fct_conversation_scores') }}

),

topics as (

    select
        topic,
        min(conversation_date) as first_seen_date,
        max(conversation_date) as last_seen_date,
        count(distinct conversation_date) as active_days,
        count(*) as conversations,
        count(case when is_positive then 1 end) as positive_conversations

    from conversation_scores

    group by topic

),

final as (

    select * from topics

)

select * from final
