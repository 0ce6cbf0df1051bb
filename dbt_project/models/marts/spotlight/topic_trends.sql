{#-
    Weekly CX score per topic, and per team x topic, with a trailing least-squares slope and
    a flag for topics that are sliding. One model, two grains (the `grain` column): 'topic'
    rows (all teams together, team null) and 'team_topic' rows; each (grain, team, topic) is a
    series with a row for every week from its first week on, 0 conversations where it had none.

    A week of a series is *eligible* when it has at least trend_min_conversations
    conversations; smaller weeks are too noisy to count towards a flag. A series is sliding in
    a week when either
      - its cx_score fell week on week for trend_decline_weeks weeks in a row, every one of
        those weeks and the week before them eligible (default: 3 drops over 4 weeks), or
      - the least-squares slope of cx_score over the trailing trend_weeks weeks is at or below
        trend_slope_threshold (cx_score per week), with every week of that window eligible.

    The slope is computed from sums (n, sum x, sum y, sum xy, sum x^2 over a window frame) with
    x = week index and y = weekly cx_score, because regr_slope is not available everywhere.
    Weeks without conversations have no cx_score and drop out of the sums.

    Rolled up from cx_daily (the KPI grain: summing its counts is the documented way to roll
    up), rebuilt in full as a table on every run: cheap at this scale, and never out of step
    with the fact it derives from.
-#}

{%- set trend_weeks = numeric_var('trend_weeks', integer=true, min_value=2) | int -%}
{%- set slope_threshold = numeric_var('trend_slope_threshold') | float -%}
{%- set decline_weeks = numeric_var('trend_decline_weeks', integer=true, min_value=1) | int -%}
{%- set min_conversations = numeric_var('trend_min_conversations', integer=true, min_value=1) | int -%}

{%- set series -%}
    partition by grain, team, topic order by week_start
{%- endset -%}
{%- set trailing_window -%}
    partition by grain, team, topic
    order by week_start
    rows between {{ trend_weeks - 1 }} preceding and current row
{%- endset %}

with

cx_daily as (

    select * from {{ ref('cx_daily') }}

),

daily_with_week as (

    select
        {{ week_start('conversation_date') }} as week_start,
        conversation_date,
        team,
        topic,
        conversations,
        positive_conversations

    from cx_daily

),

data_bounds as (

    select
        min(conversation_date) as first_date,
        max(conversation_date) as last_date,
        min(week_start) as first_week_start

    from daily_with_week

),

weeks as (

    select distinct week_start
    from daily_with_week

),

weeks_indexed as (

    select
        weeks.week_start,
        {{ weeks_between('data_bounds.first_week_start', 'weeks.week_start') }} as week_index,
        coalesce(
            weeks.week_start >= data_bounds.first_date
            and {{ dbt.datediff('weeks.week_start', 'data_bounds.last_date', 'day') }} >= 6,
            false
        ) as is_complete_week

    from weeks

    cross join data_bounds

),

weekly_by_topic as (

    select
        'topic' as grain,
        cast(null as {{ dbt.type_string() }}) as team,
        topic,
        week_start,
        sum(conversations) as conversations,
        sum(positive_conversations) as positive_conversations

    from daily_with_week

    group by topic, week_start

),

weekly_by_team_topic as (

    select
        'team_topic' as grain,
        team,
        topic,
        week_start,
        sum(conversations) as conversations,
        sum(positive_conversations) as positive_conversations

    from daily_with_week

    group by team, topic, week_start

),

weekly as (

    select * from weekly_by_topic
    union all
    select * from weekly_by_team_topic

),

series_first_weeks as (

    select
        grain,
        team,
        topic,
        min(week_start) as first_week_start

    from weekly

    group by grain, team, topic

),

series_weeks as (

    select
        series_first_weeks.grain,
        series_first_weeks.team,
        series_first_weeks.topic,
        weeks_indexed.week_start,
        weeks_indexed.week_index,
        weeks_indexed.is_complete_week

    from series_first_weeks

    inner join weeks_indexed
        on weeks_indexed.week_start >= series_first_weeks.first_week_start

),

weekly_dense as (

    select
        series_weeks.grain,
        series_weeks.team,
        series_weeks.topic,
        series_weeks.week_start,
        series_weeks.week_index,
        series_weeks.is_complete_week,
        cast(coalesce(weekly.conversations, 0) as {{ dbt.type_bigint() }}) as conversations,
        cast(coalesce(weekly.positive_conversations, 0) as {{ dbt.type_bigint() }})
            as positive_conversations

    from series_weeks

    left join weekly
        on
            series_weeks.grain = weekly.grain
            and series_weeks.topic = weekly.topic
            and series_weeks.week_start = weekly.week_start
            and (
                series_weeks.team = weekly.team
                or (series_weeks.team is null and weekly.team is null)
            )

),

weekly_scored as (

    select
        *,
        case
            when conversations > 0
                then cast(positive_conversations as {{ type_double() }}) / conversations
        end as cx_score,
        conversations >= {{ min_conversations }} as is_trend_eligible

    from weekly_dense

),

weekly_with_previous as (

    select
        *,
        row_number() over ({{ series }}) as series_week_number,
        lag(cx_score) over ({{ series }}) as previous_cx_score,
        lag(is_trend_eligible) over ({{ series }}) as previous_is_trend_eligible

    from weekly_scored

),

weekly_with_declines as (

    select
        *,
        coalesce(
            is_trend_eligible
            and previous_is_trend_eligible
            and cx_score < previous_cx_score,
            false
        ) as is_decline

    from weekly_with_previous

),

weekly_with_window_sums as (

    select
        *,

        -- the first week of a series is never a decline, so the max is never null
        series_week_number - max(case when not is_decline then series_week_number end) over (
            {{ series }} rows between unbounded preceding and current row
        ) as consecutive_declines,

        count(cx_score) over ({{ trailing_window }}) as trend_weeks_with_data,
        count(case when is_trend_eligible then 1 end) over ({{ trailing_window }})
            as trend_eligible_weeks,
        sum(
            case when cx_score is not null then cast(week_index as {{ type_double() }}) end
        ) over ({{ trailing_window }}) as sum_x,
        sum(cx_score) over ({{ trailing_window }}) as sum_y,
        sum(
            case
                when cx_score is not null
                    then cast(week_index * week_index as {{ type_double() }})
            end
        ) over ({{ trailing_window }}) as sum_xx,
        sum(week_index * cx_score) over ({{ trailing_window }}) as sum_xy

    from weekly_with_declines

),

weekly_with_slope as (

    select
        *,
        case
            when trend_weeks_with_data >= 2
                then
                    (trend_weeks_with_data * sum_xy - sum_x * sum_y)
                    / (trend_weeks_with_data * sum_xx - sum_x * sum_x)
        end as trend_slope

    from weekly_with_window_sums

),

weekly_with_flags as (

    select
        *,
        consecutive_declines >= {{ decline_weeks }} as is_declining_streak,
        coalesce(
            trend_eligible_weeks = {{ trend_weeks }}
            and trend_slope <= {{ slope_threshold }},
            false
        ) as is_negative_trend

    from weekly_with_slope

),

final as (

    select
        grain,
        team,
        topic,
        week_start,
        week_index,
        is_complete_week,
        conversations,
        positive_conversations,
        cx_score,
        is_trend_eligible,
        cast(consecutive_declines as {{ dbt.type_bigint() }}) as consecutive_declines,
        cast(trend_weeks_with_data as {{ dbt.type_bigint() }}) as trend_weeks_with_data,
        cast(trend_eligible_weeks as {{ dbt.type_bigint() }}) as trend_eligible_weeks,
        trend_slope,
        is_declining_streak,
        is_negative_trend,
        is_declining_streak or is_negative_trend as is_sliding

    from weekly_with_flags

)

select * from final
