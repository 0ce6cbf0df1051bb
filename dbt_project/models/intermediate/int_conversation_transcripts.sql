{#-
    Each conversation's transcript, from raw messages: every message in order with a role label,
    plus the first customer message and the last agent message on their own (the excerpt the
    spotlight marts show). Portable SQL: window functions, aggregates over case expressions and
    dbt.listagg (string_agg / listagg with an order by, per adapter; the line feed delimiter
    from newline_literal()).
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
        case
            when is_ai_message then 'agent (ai)'
            when is_human_message then 'agent (human)'
            else role
        end as speaker_label,
        case
            when is_customer_message
                then row_number() over (
                    partition by partition_date, conversation_id, is_customer_message
                    order by message_index asc
                )
        end as customer_message_number,
        case
            when is_agent_message
                then row_number() over (
                    partition by partition_date, conversation_id, is_agent_message
                    order by message_index desc
                )
        end as agent_message_number_from_last

    from messages

),

transcripts as (

    select
        partition_date,
        conversation_id,

        count(*) as transcript_message_count,
        max(
            case when customer_message_number = 1 then message_text end
        ) as first_customer_message,
        max(
            case when agent_message_number_from_last = 1 then message_text end
        ) as last_agent_message,
        max(
            case when agent_message_number_from_last = 1 then speaker_label end
        ) as last_agent_speaker,
        {{ dbt.listagg(
            measure=dbt.concat(['speaker_label', "': '", "coalesce(message_text, '')"]),
            delimiter_text=newline_literal(),
            order_by_clause='order by message_index',
        ) }} as transcript

    from messages_ranked

    group by partition_date, conversation_id

),

final as (

    select * from transcripts

)

select * from final
