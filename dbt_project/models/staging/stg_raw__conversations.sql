with

source as (

    select * from {{ source('raw', 'conversations') }}

),

renamed as (

    select
        ----------  ids
        conversation_id,
        partition_date,

        ---------- text
        channel,
        coalesce(nullif(trim(team), ''), 'unassigned') as team,
        tags as tags_json,
        source_file,

        ---------- numerics
        message_count,
        csat_score,
        source_line,

        ---------- booleans
        is_surveyed,

        ---------- timestamps
        started_at,
        ended_at,
        csat_sent_at,
        csat_answered_at

    from source

)

select * from renamed
