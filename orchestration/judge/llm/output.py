"""Structured output: how to ask for JSON, and how to read a reply into a `VerdictBody`.

Three ways to ask, tried in this order once per run (the first the server accepts is kept):

- `json_schema`: OpenAI's `response_format={"type": "json_schema", ...}` (OpenAI, vLLM,
  Ollama, llama.cpp's `llama-server`);
- `json_object`: `{"type": "json_object", "schema": ...}` (llama-cpp-python's server, which
  refuses `json_schema` but compiles this schema into a grammar);
- `text`: no `response_format`; the schema is spelled out in the prompt and the JSON object is
  extracted from the reply.

Every reply is validated against the pydantic model whatever the mode. Control characters
inside JSON strings (random-weight and real models both emit them) are accepted by the parser
and removed from the values, as are lone surrogates from `\\ud800`-style escapes.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import ValidationError

from orchestration.judge.verdict import VerdictBody

__all__ = ["MODES", "InvalidOutput", "OutputMode", "parse_verdict", "response_format"]

OutputMode = Literal["json_schema", "json_object", "text"]
MODES: tuple[OutputMode, ...] = ("json_schema", "json_object", "text")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)


class InvalidOutput(ValueError):
    """A reply that is not a valid verdict; the message says why, briefly (for the repair)."""


def response_format(mode: OutputMode, schema: dict[str, Any]) -> dict[str, Any] | None:
    if mode == "json_schema":
        return {
            "type": "json_schema",
            "json_schema": {"name": "cx_verdict", "schema": schema, "strict": True},
        }
    if mode == "json_object":
        return {"type": "json_object", "schema": schema}
    return None


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return _CONTROL.sub("", value)
    if isinstance(value, list):
        return [_clean(item) for item in value]
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    return value


def _extract_object(text: str) -> Any:
    stripped = _FENCE.sub("", text.strip())
    decoder = json.JSONDecoder(strict=False)  # control characters inside strings are allowed
    try:
        return decoder.decode(stripped)
    except json.JSONDecodeError as error:
        first = error
    start = stripped.find("{")
    if start != -1:  # prose around the object (plain-text mode): the object from its first brace
        try:
            return decoder.raw_decode(stripped, start)[0]
        except json.JSONDecodeError as error:
            first = error
    raise InvalidOutput(f"not valid JSON ({first.msg} at character {first.pos})")


def _summarise(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:6]:
        where = ".".join(str(p) for p in item["loc"]) or "(root)"
        parts.append(f"{where}: {item['msg']}")
    more = error.error_count() - len(parts)
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def parse_verdict(text: str | None, topic_ids: tuple[str, ...]) -> VerdictBody:
    """A reply's text -> a validated `VerdictBody`, or `InvalidOutput` saying what is wrong."""
    if not text or not text.strip():
        raise InvalidOutput("empty reply")
    value = _clean(_extract_object(text))
    if not isinstance(value, dict):
        raise InvalidOutput(f"expected a JSON object, got {type(value).__name__}")
    try:
        body = VerdictBody.model_validate(value)
    except ValidationError as error:
        raise InvalidOutput(_summarise(error)) from None
    if body.topic not in topic_ids:
        raise InvalidOutput(f"topic: {body.topic!r} is not one of the taxonomy ids")
    return body
