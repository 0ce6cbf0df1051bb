{#-
    AI only, human only and AI-then-human side by side, per week: every week has a row for
    each handler (0 conversations where a handler had none), so the handlers line up in a chart
    or a pivot, plus each handler's gap to human_only that week. `other` (no agent reply, a human
    before the AI, interleaved turns) is kept so the week's rows add up to all conversations.

    Rebuilt as a table from fct_conversation_scores on every run (one scan, cheap at this scale).
-#}

with

conversation_scores as (

    select * from {{ ref('fct_conversation_scores') }}

),

conversations_with_week as (

    select
        {{ week_start('conversation_date') }} as week_start,
        *

    from conversation_scores

),

handlers as (

    select 'ai_only' as handler, 1 as handler_order
    union all
    select 'human_only' as handler, 2 as handler_order
    union all
    select 'ai_then_human' as handler, 3 as handler_order
    union all
    select 'other' as handler, 4 as handler_order

),

weeks as (

    select distinct week_start
    from conversations_with_week

),

weekly as (

    select
        week_start,
        handler,

        count(*) as conversations,
        count(case when is_positive then 1 end) as positive_conversations,
        avg(cast(score as {{ type_double() }})) as mean_score,
        avg(cast(resolution_score as {{ type_double() }})) as mean_resolution_score,
        avg(cast(sentiment_score as {{ type_double() }})) as mean_sentiment_score,
        avg(cast(service_score as {{ type_double() }})) as mean_service_score,
        avg(cast(efficiency_score as {{ type_double() }})) as mean_efficiency_score

    from conversations_with_week

    group by week_start, handler

),

weekly_dense as (

    select
        weeks.week_start,
        handlers.handler,
        handlers.handler_order,
        cast(coalesce(weekly.conversations, 0) as {{ dbt.type_bigint() }}) as conversations,
        cast(coalesce(weekly.positive_conversations, 0) as {{ dbt.type_bigint() }})
            as positive_conversations,
        case
            when weekly.conversations > 0
                then
                    cast(weekly.positive_conversations as {{ type_double() }})
                    / weekly.conversations
        end as cx_score,
        weekly.mean_score,
        weekly.mean_resolution_score,
        weekly.mean_sentiment_score,
        weekly.mean_service_score,
        weekly.mean_efficiency_score

    from weeks

    cross join handlers

    left join weekly
        on
            weeks.week_start = weekly.week_start
            and handlers.handler = weekly.handler

),

weekly_with_baseline as (

    select
        *,
        cast(sum(conversations) over (partition by week_start) as {{ dbt.type_bigint() }})
            as week_conversations,
        max(case when handler = 'human_only' then cx_score end) over (
            partition by week_start
        ) as human_only_cx_score,
        max(case when handler = 'human_only' then mean_score end) over (
            partition by week_start
        ) as human_only_mean_score

    from weekly_dense

),

final as (

    select
        week_start,
        handler,
        cast(handler_order as {{ dbt.type_int() }}) as handler_order,
        conversations,
        cast(conversations as {{ type_double() }}) / week_conversations as share_of_conversations,
        positive_conversations,
        cx_score,
        mean_score,
        mean_resolution_score,
        mean_sentiment_score,
        mean_service_score,
        mean_efficiency_score,
        cx_score - human_only_cx_score as cx_score_vs_human_only,
        mean_score - human_only_mean_score as mean_score_vs_human_only

    from weekly_with_baseline

)

select * from final
