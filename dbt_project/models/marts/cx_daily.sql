{#-
    The KPI grain: conversation_date x team x channel x topic x handler.

    Materialized as a plain table, rebuilt in full on every run: it is a small aggregate of
    fct_conversation_scores (at most a few hundred rows a day), a full rebuild costs one scan of
    the fact table, and it can never drift from the fact, e.g. when a rerun empties a day or a
    slice of a day. Make it incremental by conversation_date only if that scan ever shows up.
-#}

with

conversation_scores as (

    select * from {{ ref('fct_conversation_scores') }}

),

daily as (

    select
        conversation_date,
        team,
        channel,
        topic,
        handler,

        count(*) as conversations,
        count(case when is_positive then 1 end) as positive_conversations,
        avg(cast(score as {{ type_double() }})) as mean_score,
        count(case when is_surveyed then 1 end) as surveyed_conversations,
        count(csat_score) as csat_responses,
        count(case when csat_is_positive then 1 end) as csat_positive_responses,
        avg(cast(csat_score as {{ type_double() }})) as mean_csat

    from conversation_scores

    group by conversation_date, team, channel, topic, handler

),

final as (

    select
        conversation_date,
        team,
        channel,
        topic,
        handler,
        conversations,
        positive_conversations,
        cast(positive_conversations as {{ type_double() }})
        / conversations as cx_score,
        mean_score,
        surveyed_conversations,
        csat_responses,
        csat_positive_responses,
        case
            when csat_responses > 0
                then cast(csat_positive_responses as {{ type_double() }}) / csat_responses
        end as csat_positive_share,
        mean_csat

    from daily

)

select * from final
