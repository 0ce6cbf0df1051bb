"""The LLM judge: any OpenAI-compatible endpoint, the same `Verdict` as the offline judge.

`LLMJudge` (judge.py) runs the calls; `prompt` builds the versioned prompt and the transcript as
delimited data; `output` asks for and validates structured output; `redact` removes personal
data before sending; `cache` keeps verdicts in the warehouse so nothing is paid for twice.
No Dagster here.
"""

from __future__ import annotations

from orchestration.judge.llm.judge import (
    JudgeEndpointError,
    LLMJudge,
    LLMJudgeConfig,
    RunStats,
    api_key_from_env,
)

__all__ = ["JudgeEndpointError", "LLMJudge", "LLMJudgeConfig", "RunStats", "api_key_from_env"]
