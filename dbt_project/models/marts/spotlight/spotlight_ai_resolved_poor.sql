{#-
    AI-only conversations the judge says were resolved, yet scored 1-2: the AI fixed the
    problem and the experience was still poor (tone, friction, sentiment). Worth a human read.

    "Resolved" means the judge found at least one issue, left none of them not resolved, and
    marked at least one fully resolved (issues_total > 0, issues_unresolved = 0,
    issues_resolved > 0); the others, if any, are partly resolved (the agent did it or answered
    but the customer never confirmed). Requiring every issue fully resolved would make the
    mart empty by construction under the rubric (orchestration/judge/rubric.py): every issue
    resolved gives a resolution sub-score of 5, and 0.40 * 5 + 0.30 * 1 + 0.15 * 1 + 0.15 * 1
    = 2.6 already rounds to 3. resolution_score is shown alongside but not used: it is the
    judge's rating of the resolution, not its issue-by-issue verdict.

    A filter over conversation_review (one row per conversation, already joined to its
    transcript), rebuilt as a table on every run, so it can never drift from the fact and the
    transcripts are aggregated once per build, not once per mart. Newest first by
    spotlight_rank (tables carry no order); `nulls last` spelled out, since PostgreSQL puts
    nulls first in a descending order and DuckDB does not.
-#}

with

conversation_review as (

    select * from {{ ref('conversation_review') }}

),

ai_resolved_poor as (

    select *
    from conversation_review
    where
        handler = 'ai_only'
        and issues_total > 0
        and issues_unresolved = 0
        and issues_resolved > 0
        and score <= 2

),

final as (

    select
        row_number() over (
            order by
                conversation_date desc,
                started_at desc nulls last,
                conversation_id asc
        ) as spotlight_rank,
        conversation_id,
        conversation_date,
        started_at,
        team,
        channel,
        topic,
        score,
        resolution_score,
        sentiment_score,
        service_score,
        efficiency_score,
        issues_total,
        issues_resolved,
        issues_partly,
        sentiment_trajectory,
        loop_count,
        needless_clarification_count,
        broken_handoff_count,
        rationale,
        {{ text_excerpt('first_customer_message', 300) }} as first_customer_message_excerpt,
        {{ text_excerpt('last_agent_message', 300) }} as last_agent_message_excerpt,
        csat_score,
        judge_version

    from ai_resolved_poor

)

select * from final
