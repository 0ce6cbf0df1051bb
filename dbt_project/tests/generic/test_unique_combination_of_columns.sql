{#-
    The grain test: fails with one row per combination of `combination_of_columns` that
    occurs more than once. Nulls count as values (grouped together), so a null in a key
    column cannot hide a duplicate.

        data_tests:
          - unique_combination_of_columns:
              arguments:
                combination_of_columns: [conversation_date, team]
-#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

    {%- set columns_csv = combination_of_columns | join(', ') %}

    select
        {{ columns_csv }},
        count(*) as occurrences

    from {{ model }}

    group by {{ columns_csv }}

    having count(*) > 1

{% endtest %}
