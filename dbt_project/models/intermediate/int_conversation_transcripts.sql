{#-
    Each conversation's transcript, from raw messages: every message in order with a role label,
    plus the first customer message and the last agent message on their own (the excerpt the
    spotlight marts show). Portable SQL: one unordered window per conversation (the index of its
    first customer and last agent message), aggregates over case expressions, and
    ordered_lines() for the transcript (dbt.listagg per adapter; a spillable list sort on
    DuckDB, where an ordered string_agg of a 1M-conversation day does not fit in 2 GB).
-#}

with

messages as (

    select * from {{ ref('stg_raw__messages') }}

),

messages_ranked as (

    select
        partition_date,
        conversation_id,
        message_index,
        message_text,
        is_customer_message,
        is_agent_message,
        case
            when is_ai_message then 'agent (ai)'
            when is_human_message then 'agent (human)'
            else role
        end as speaker_label,
        min(
            case when is_customer_message then message_index end
        ) over (partition by partition_date, conversation_id) as first_customer_message_index,
        max(
            case when is_agent_message then message_index end
        ) over (partition by partition_date, conversation_id) as last_agent_message_index

    from messages

),

transcripts as (

    select
        partition_date,
        conversation_id,

        count(*) as transcript_message_count,
        max(
            case
                when is_customer_message and message_index = first_customer_message_index
                    then message_text
            end
        ) as first_customer_message,
        max(
            case
                when is_agent_message and message_index = last_agent_message_index
                    then message_text
            end
        ) as last_agent_message,
        max(
            case
                when is_agent_message and message_index = last_agent_message_index
                    then speaker_label
            end
        ) as last_agent_speaker,
        {{ ordered_lines(
            line=dbt.concat(['speaker_label', "': '", "coalesce(message_text, '')"]),
            order_by='message_index',
        ) }} as transcript

    from messages_ranked

    group by partition_date, conversation_id

),

final as (

    select * from transcripts

)

select * from final
