{#-
    A conformed dimension read off fct_conversation_scores: every value of `column` observed,
    when it was first and last seen, on how many days, and its conversations (all and rated 4-5).
    Rebuilt as a table on every run (one scan of the fact, cheap at this scale), so a value
    disappears once no scored conversation carries it. dim_teams, dim_topics and dim_channels
    are this macro over one column each.
-#}
{% macro dimension_from_fact(column) %}

with

conversation_scores as (

    select * from {{ ref('fct_conversation_scores') }}

),

final as (

    select
        {{ column }},
        min(conversation_date) as first_seen_date,
        max(conversation_date) as last_seen_date,
        count(distinct conversation_date) as active_days,
        count(*) as conversations,
        count(case when is_positive then 1 end) as positive_conversations

    from conversation_scores

    group by {{ column }}

)

select * from final

{% endmacro %}
