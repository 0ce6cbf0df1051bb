{#-
    Everything needed to review one conversation in one row: the judge's verdict with every
    sub-score and observation, its rationale and issues, the customer's CSAT answer, and the
    whole transcript (one line per message, "speaker: text", in message order), with the
    customer's first message and the last agent message on their own (the spotlight's excerpts
    come from these, so the transcripts are aggregated once per build).

    The transcript comes from raw messages through int_conversation_transcripts, and the issue
    list from the judge's verdict that counts (int_conversation_scores_current_judge).

    Incremental by landing day, like fct_conversation_scores: a run for a window (the vars
    min_date/max_date) aggregates only that window's messages and replaces exactly those days,
    instead of re-aggregating every transcript ever loaded (the largest rebuild of the project,
    every message of every day). The first build and --full-refresh build every day. Like the
    fact, one row per conversation from its latest landing.
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

-- depends_on: {{ ref('stg_raw__conversations') }} (the pre-hook's landings)

with

conversation_scores as (

    select * from {{ ref('fct_conversation_scores') }}
    {% if is_incremental() %}
        where {{ partition_window('conversation_date') }}
    {% endif %}

),

transcripts as (

    select * from {{ ref('int_conversation_transcripts') }}
    {% if is_incremental() %}
        where {{ partition_window('partition_date') }}
    {% endif %}

),

current_judge_scores as (

    select * from {{ ref('int_conversation_scores_current_judge') }}
    {% if is_incremental() %}
        where {{ partition_window('partition_date') }}
    {% endif %}

),

final as (

    select
        conversation_scores.conversation_id,
        conversation_scores.conversation_date,
        conversation_scores.started_at,
        conversation_scores.ended_at,
        conversation_scores.team,
        conversation_scores.channel,
        conversation_scores.topic,
        conversation_scores.handler,

        conversation_scores.score,
        conversation_scores.is_positive,
        conversation_scores.resolution_score,
        conversation_scores.sentiment_score,
        conversation_scores.service_score,
        conversation_scores.efficiency_score,
        conversation_scores.tone_score,
        conversation_scores.knowledge_score,
        conversation_scores.timeliness_score,

        conversation_scores.issues_total,
        conversation_scores.issues_resolved,
        conversation_scores.issues_partly,
        conversation_scores.issues_unresolved,
        current_judge_scores.issues_json,

        conversation_scores.sentiment_start,
        conversation_scores.sentiment_end,
        conversation_scores.sentiment_trajectory,
        conversation_scores.loop_count,
        conversation_scores.needless_clarification_count,
        conversation_scores.broken_handoff_count,
        conversation_scores.rationale,

        conversation_scores.is_surveyed,
        conversation_scores.csat_score,
        conversation_scores.csat_is_positive,

        conversation_scores.message_count,
        transcripts.transcript_message_count,
        transcripts.first_customer_message,
        transcripts.last_agent_message,
        transcripts.transcript,

        conversation_scores.judge_kind,
        conversation_scores.judge_version,
        conversation_scores.judge_model

    from conversation_scores

    left join transcripts
        on
            conversation_scores.conversation_date = transcripts.partition_date
            and conversation_scores.conversation_id = transcripts.conversation_id

    left join current_judge_scores
        on
            conversation_scores.conversation_date = current_judge_scores.partition_date
            and conversation_scores.conversation_id = current_judge_scores.conversation_id

)

select * from final
