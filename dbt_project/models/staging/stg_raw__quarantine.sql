with

source as (

    select * from {{ source('raw', 'quarantine') }}

),

renamed as (

    select
        ----------  ids
        conversation_id,
        partition_date,

        ---------- text
        stage as quarantine_stage,
        reason as quarantine_reason,
        field as quarantine_field,
        detail as quarantine_detail,
        raw_line,
        source_file,

        ---------- numerics
        source_line

    from source

)

select * from renamed
