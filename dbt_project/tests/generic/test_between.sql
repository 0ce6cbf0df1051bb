{#-
    Fails for every row whose `column_name` lies outside [min_value, max_value] (bounds
    inclusive; either bound may be omitted). Nulls pass: pair with not_null where needed.

        data_tests:
          - between:
              arguments:
                min_value: 1
                max_value: 5
-#}
{% test between(model, column_name, min_value=none, max_value=none) %}

    {%- if min_value is none and max_value is none -%}
        {{ exceptions.raise_compiler_error("between: give min_value, max_value or both") }}
    {%- endif %}

    select {{ column_name }}

    from {{ model }}

    where
        {{ column_name }} is not null
        and (
            {% if min_value is not none -%}
                {{ column_name }} < {{ min_value }}
            {%- else -%}
                1 = 0
            {%- endif %}
            or {% if max_value is not none -%}
                {{ column_name }} > {{ max_value }}
            {%- else -%}
                1 = 0
            {%- endif %}
        )

{% endtest %}
