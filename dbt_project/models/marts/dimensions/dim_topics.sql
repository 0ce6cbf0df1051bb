-- Every topic observed in the fact; see macros/dimension_from_fact.sql.
-- depends_on: {{ ref('fct_conversation_scores') }}
{{ dimension_from_fact('topic') }}
