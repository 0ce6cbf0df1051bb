"""Reading a model's reply into a verdict: JSON, control characters, schema, topic."""

from __future__ import annotations

import json

import pytest

from orchestration.judge.llm.output import InvalidOutput, parse_verdict, response_format
from orchestration.judge.rubric import apply_rubric
from tests.llm_server import valid_verdict

TOPICS = ("billing_payments", "other")


def test_a_valid_reply_becomes_a_verdict_scored_by_the_rubric() -> None:
    body = parse_verdict(json.dumps(valid_verdict()), TOPICS)
    verdict = apply_rubric(body)
    assert verdict.topic == "billing_payments"
    assert verdict.resolution_score == 5 and 1 <= verdict.score <= 5


def test_raw_control_characters_inside_strings_are_accepted_and_removed() -> None:
    text = json.dumps(valid_verdict()).replace("The agent", "The\x01 agent\x1f\x00")
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)  # what a strict parser does with it
    body = parse_verdict(text, TOPICS)
    assert body.rationale.startswith("The agent refunded")


def test_lone_surrogate_escapes_are_removed() -> None:
    body = valid_verdict()
    body["rationale"] = "ok \ud83d then"
    text = json.dumps(body)  # '\\ud83d' escape: decodes to a lone surrogate
    assert parse_verdict(text, TOPICS).rationale == "ok  then"


@pytest.mark.parametrize(
    "wrap",
    [
        "```json\n{}\n```",
        "Here is my verdict:\n{}\nHope that helps.",
        "  {}  ",
    ],
)
def test_the_object_is_found_in_fences_and_prose(wrap: str) -> None:
    assert parse_verdict(wrap.format(json.dumps(valid_verdict())), TOPICS).topic == (
        "billing_payments"
    )


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ("", "empty reply"),
        (json.dumps(valid_verdict())[:120], "not valid JSON"),
        ("[1, 2]", "expected a JSON object, got list"),
        (json.dumps({**valid_verdict(), "tone_score": 9}), "tone_score: Input should be less"),
        (json.dumps({**valid_verdict(), "score": 5}), "score: Extra inputs are not permitted"),
        (json.dumps({**valid_verdict(), "issues": []}), "issues: List should have at least 1"),
        (json.dumps({**valid_verdict(), "topic": "weather"}), "'weather' is not one of"),
    ],
)
def test_invalid_replies_say_what_is_wrong(reply: str, message: str) -> None:
    with pytest.raises(InvalidOutput, match=message):
        parse_verdict(reply, TOPICS)


def test_response_formats() -> None:
    schema = {"type": "object"}
    assert response_format("json_schema", schema) == {
        "type": "json_schema",
        "json_schema": {"name": "cx_verdict", "schema": schema, "strict": True},
    }
    assert response_format("json_object", schema) == {"type": "json_object", "schema": schema}
    assert response_format("text", schema) is None
