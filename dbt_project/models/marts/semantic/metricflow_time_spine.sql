{#-
    The day-grain time spine the dbt Semantic Layer (MetricFlow) joins metrics to: one row per
    day from var time_spine_start up to, not including, time_spine_end. dbt.date_spine builds
    it portably (a cross join of powers of two); a few thousand rows, rebuilt as a table on
    every run.
-#}

with

days as (

    {{ dbt.date_spine('day', date_var('time_spine_start'), date_var('time_spine_end')) }}

),

final as (

    select cast(date_day as date) as date_day
    from days

)

select * from final
