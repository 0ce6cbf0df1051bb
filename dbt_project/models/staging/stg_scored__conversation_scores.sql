with

source as (

    select * from {{ source('scored', 'conversation_scores') }}

),

renamed as (

    select
        ----------  ids
        conversation_id,
        partition_date,
        judge_version,

        ---------- text
        judge_kind,
        judge_name,
        judge_model,
        coalesce(nullif(trim(topic), ''), 'unknown') as topic,
        sentiment_trajectory,
        rationale,
        issues_json,

        ---------- scores (1-5)
        score,
        resolution_score,
        sentiment_score,
        service_score,
        efficiency_score,
        tone_score,
        knowledge_score,
        timeliness_score,

        ---------- numerics
        issues_total,
        issues_resolved,
        issues_partly,
        issues_unresolved,
        sentiment_start,
        sentiment_end,
        loop_count,
        needless_clarification_count,
        broken_handoff_count

    from source

)

select * from renamed
