with

source as (

    select * from {{ source('raw', 'messages') }}

),

renamed as (

    select
        ----------  ids
        conversation_id,
        message_index,
        partition_date,
        author_id,

        ---------- text
        role,
        author_kind,
        text as message_text,

        ---------- booleans
        role = 'customer' as is_customer_message,
        role = 'agent' as is_agent_message,
        role = 'agent' and author_kind = 'ai' as is_ai_message,
        role = 'agent' and author_kind = 'human' as is_human_message,

        ---------- timestamps
        sent_at

    from source

)

select * from renamed
