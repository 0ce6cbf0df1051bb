{#-
    Who handled each conversation, from the order of its agent messages:
      ai_only        agent messages exist and all are by an AI
      human_only     agent messages exist and all are by a human
      ai_then_human  the AI answered first and handed over: every AI message comes before
                     the first human one (no AI after a human took over)
      other          no agent message at all, a human before the AI, or interleaved turns
    Portable SQL only (aggregates over case expressions, window functions): runs on DuckDB
    and Postgres alike.
-#}

with

messages as (

    select * from {{ ref('stg_raw__messages') }}

),

messages_with_first_customer_turn as (

    select
        *,
        min(case when is_customer_message then message_index end) over (
            partition by partition_date, conversation_id
        ) as first_customer_message_index

    from messages

),

conversation_turns as (

    select
        partition_date,
        conversation_id,

        count(*) as transcript_message_count,
        count(case when is_customer_message then 1 end) as customer_message_count,
        count(case when is_agent_message then 1 end) as agent_message_count,
        count(case when is_ai_message then 1 end) as ai_message_count,
        count(case when is_human_message then 1 end) as human_message_count,

        min(case when is_ai_message then message_index end) as first_ai_message_index,
        max(case when is_ai_message then message_index end) as last_ai_message_index,
        min(case when is_human_message then message_index end) as first_human_message_index,

        min(case when is_customer_message then sent_at end) as first_customer_message_at,
        min(
            case
                when is_agent_message and message_index > first_customer_message_index
                    then sent_at
            end
        ) as first_response_at

    from messages_with_first_customer_turn

    group by partition_date, conversation_id

),

final as (

    select
        partition_date,
        conversation_id,

        case
            when agent_message_count = 0 then 'other'
            when human_message_count = 0 then 'ai_only'
            when ai_message_count = 0 then 'human_only'
            when last_ai_message_index < first_human_message_index then 'ai_then_human'
            else 'other'
        end as handler,

        transcript_message_count,
        customer_message_count,
        agent_message_count,
        ai_message_count,
        human_message_count,
        first_ai_message_index,
        last_ai_message_index,
        first_human_message_index,
        first_customer_message_at,
        first_response_at,
        cast(
            {{ dbt.datediff('first_customer_message_at', 'first_response_at', 'second') }}
            as {{ dbt.type_bigint() }}
        ) as first_response_seconds

    from conversation_turns

)

select * from final
