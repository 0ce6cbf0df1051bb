{#-
    One row per scored conversation, partition-replaced by landing day.

    Incremental with `delete+insert` on `conversation_date`: a run for a window (the vars
    min_date/max_date that Dagster passes) rebuilds exactly those days, replacing all of each
    day's rows, so a conversation that was withdrawn or quarantined on a rerun disappears too.
    The pre-hook deletes the whole window first, which also clears a day left with no rows at
    all. The first build and --full-refresh build every day, whatever the vars.

    One row per conversation, from its latest landing: a conversation that lands again on a
    later day (reopened, exported again) is rated there, and its earlier landing leaves the
    fact (the second pre-hook deletes it when the later day is built; a rebuild of the earlier
    day skips it). raw.* keeps every landing. Should the later landing be withdrawn on a rerun,
    the earlier one returns when its own day is rebuilt (or on --full-refresh).
-#}

{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='conversation_date',
        on_schema_change='append_new_columns',
        pre_hook=[
            "{{ delete_partition_window('conversation_date') }}",
            "{{ delete_earlier_landings('conversation_date', ref('stg_raw__conversations')) }}",
        ],
    )
}}

with

landings as (

    select * from {{ ref('stg_raw__conversations') }}

),

conversations as (

    select landed.*
    from landings as landed
    where
        {% if is_incremental() %}
            {{ partition_window('landed.partition_date') }} and
        {% endif %}
        not exists (
            select 1
            from landings as later
            where
                later.conversation_id = landed.conversation_id
                and later.partition_date > landed.partition_date
        )

),

conversation_scores as (

    select * from {{ ref('int_conversation_scores_current_judge') }}
    {% if is_incremental() %}
        where {{ partition_window('partition_date') }}
    {% endif %}

),

conversations_handled as (

    select * from {{ ref('int_conversations_handled') }}
    {% if is_incremental() %}
        where {{ partition_window('partition_date') }}
    {% endif %}

),

scored_conversations as (

    select
        conversations.conversation_id,
        conversations.partition_date as conversation_date,
        conversations.started_at,
        conversations.ended_at,
        conversations.team,
        conversations.channel,
        conversation_scores.topic,
        coalesce(conversations_handled.handler, 'other') as handler,
        conversations.message_count,

        conversation_scores.score,
        conversation_scores.resolution_score,
        conversation_scores.sentiment_score,
        conversation_scores.service_score,
        conversation_scores.efficiency_score,
        conversation_scores.score >= 4 as is_positive,

        conversation_scores.issues_total,
        conversation_scores.issues_resolved,
        conversation_scores.issues_partly,
        conversation_scores.issues_unresolved,

        conversation_scores.sentiment_start,
        conversation_scores.sentiment_end,
        conversation_scores.sentiment_trajectory,

        conversation_scores.tone_score,
        conversation_scores.knowledge_score,
        conversation_scores.timeliness_score,

        conversation_scores.loop_count,
        conversation_scores.needless_clarification_count,
        conversation_scores.broken_handoff_count,
        conversation_scores.rationale,

        conversations.is_surveyed,
        conversations.csat_score,
        case
            when conversations.csat_score is not null then conversations.csat_score >= 4
        end as csat_is_positive,

        conversation_scores.judge_kind,
        conversation_scores.judge_name,
        conversation_scores.judge_version,
        conversation_scores.judge_model

    from conversations

    inner join conversation_scores
        on
            conversations.partition_date = conversation_scores.partition_date
            and conversations.conversation_id = conversation_scores.conversation_id

    left join conversations_handled
        on
            conversations.partition_date = conversations_handled.partition_date
            and conversations.conversation_id = conversations_handled.conversation_id

),

final as (

    select * from scored_conversations

)

select * from final
