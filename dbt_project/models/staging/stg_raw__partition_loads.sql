with

source as (

    select * from {{ source('raw', 'partition_loads') }}

),

renamed as (

    select
        ----------  ids
        partition_date,
        dagster_run_id,

        ---------- text
        judge_kind,
        judge_version,

        ---------- numerics
        lines_in,
        conversations_loaded,
        conversations_scored,
        conversations_quarantined,

        ---------- timestamps
        loaded_at

    from source

)

select * from renamed
