{#-
    The customer's CSAT answer next to the judge's CX verdict, by week x handler x team.

    Three populations per slice:
      answered     conversations with a CSAT answer (csat_score not null)
      unanswered   every other conversation: never surveyed, or surveyed without an answer
      surveyed     conversations that carried a survey, answered or not
    On the answered ones, the CSAT positive share (answers 4-5) is set against the CX positive
    share (judge scores 4-5). Response bias compares the answered with the unanswered on the
    judge's verdict: a positive bias means the customers who answer had better conversations
    than the rest, so CSAT flatters the service. Survey selection bias compares the surveyed
    with the not surveyed the same way: whether the surveys even reach a representative set.

    Rebuilt as a table from fct_conversation_scores on every run (one scan, cheap at this
    scale). Counts are additive: to roll up, sum them and recompute the shares.
-#}

with

conversation_scores as (

    select * from {{ ref('fct_conversation_scores') }}

),

conversations_with_week as (

    select
        {{ week_start('conversation_date') }} as week_start,
        handler,
        team,
        score,
        is_positive,
        coalesce(is_surveyed, false) as is_surveyed,
        csat_score,
        csat_is_positive,
        csat_score is not null as is_answered

    from conversation_scores

),

weekly as (

    select
        week_start,
        handler,
        team,

        count(*) as conversations,
        count(case when is_surveyed then 1 end) as surveyed_conversations,
        count(case when is_answered then 1 end) as answered_conversations,
        count(case when not is_answered then 1 end) as unanswered_conversations,

        count(case when csat_is_positive then 1 end) as csat_positive_conversations,
        count(case when is_answered and is_positive then 1 end)
            as answered_cx_positive_conversations,
        count(case when not is_answered and is_positive then 1 end)
            as unanswered_cx_positive_conversations,
        count(case when is_surveyed and is_positive then 1 end)
            as surveyed_cx_positive_conversations,
        count(case when not is_surveyed and is_positive then 1 end)
            as unsurveyed_cx_positive_conversations,

        avg(cast(csat_score as {{ type_double() }})) as mean_csat,
        avg(case when is_answered then cast(score as {{ type_double() }}) end)
            as answered_mean_score,
        avg(case when not is_answered then cast(score as {{ type_double() }}) end)
            as unanswered_mean_score

    from conversations_with_week

    group by week_start, handler, team

),

shares as (

    select
        *,
        cast(surveyed_conversations as {{ type_double() }}) / conversations as survey_coverage,
        case
            when surveyed_conversations > 0
                then
                    cast(answered_conversations as {{ type_double() }})
                    / surveyed_conversations
        end as response_rate,
        case
            when answered_conversations > 0
                then
                    cast(csat_positive_conversations as {{ type_double() }})
                    / answered_conversations
        end as csat_positive_share,
        case
            when answered_conversations > 0
                then
                    cast(answered_cx_positive_conversations as {{ type_double() }})
                    / answered_conversations
        end as answered_cx_positive_share,
        case
            when unanswered_conversations > 0
                then
                    cast(unanswered_cx_positive_conversations as {{ type_double() }})
                    / unanswered_conversations
        end as unanswered_cx_positive_share,
        case
            when surveyed_conversations > 0
                then
                    cast(surveyed_cx_positive_conversations as {{ type_double() }})
                    / surveyed_conversations
        end as surveyed_cx_positive_share,
        case
            when surveyed_conversations < conversations
                then
                    cast(unsurveyed_cx_positive_conversations as {{ type_double() }})
                    / (conversations - surveyed_conversations)
        end as unsurveyed_cx_positive_share

    from weekly

),

final as (

    select
        week_start,
        handler,
        team,
        conversations,
        surveyed_conversations,
        answered_conversations,
        unanswered_conversations,
        survey_coverage,
        response_rate,
        csat_positive_conversations,
        answered_cx_positive_conversations,
        csat_positive_share,
        answered_cx_positive_share,
        csat_positive_share - answered_cx_positive_share as csat_minus_cx_positive_share,
        mean_csat,
        answered_mean_score,
        unanswered_mean_score,
        unanswered_cx_positive_conversations,
        unanswered_cx_positive_share,
        answered_mean_score - unanswered_mean_score as response_bias_mean_score,
        answered_cx_positive_share - unanswered_cx_positive_share
            as response_bias_cx_positive_share,
        surveyed_cx_positive_conversations,
        surveyed_cx_positive_share,
        unsurveyed_cx_positive_share,
        surveyed_cx_positive_share - unsurveyed_cx_positive_share
            as survey_selection_bias_cx_positive_share

    from shares

)

select * from final
