"""The LLM judge against real OpenAI-compatible servers on loopback.

- A fault-injecting server (`tests.llm_server.FaultServer`): 429 with Retry-After, 500s, replies
  slower than the timeout, truncated JSON, schema-violating JSON, control characters. Every
  conversation must end scored or quarantined with the precise reason, with bounded retries.
- llama-cpp-python's server with a tiny random-weight model the suite writes itself: the wire,
  the chat template and grammar-constrained JSON are real; the model's judgement is a stand-in
  (random weights), so its replies are mostly nonsense or invalid, which is what the quarantine
  path is for.
- Real Dagster materialisations of a partition with `CX_JUDGE_BASE_URL` set, a rerun that makes
  no call, and a recognisable fake key searched for in logs, the event log and the warehouse.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance

from orchestration.contract.models import Conversation
from orchestration.judge.base import JudgeError
from orchestration.judge.llm import JudgeEndpointError, LLMJudge, LLMJudgeConfig
from orchestration.judge.llm.cache import CACHE_TABLE
from orchestration.judge.verdict import Verdict
from tests.conftest import conversation, jsonl
from tests.llm_server import FaultServer, free_port, llama_server, write_tiny_llama

pytestmark = pytest.mark.integration

DAY = date(2026, 3, 2)
FAKE_KEY = "sk-cxtest-LEAKCHECK-7f3a9c2e5b1d"


def _conversations(specs: list[str]) -> list[Conversation]:
    return [
        Conversation.model_validate(
            conversation(
                f"c-{i}",
                ("customer", f"I was charged twice. FAULT:{spec}:t{i} Reach me at jo@example.com"),
                ("human", "I've refunded the duplicate charge."),
                ("customer", "Thanks, sorted."),
            )
        )
        for i, spec in enumerate(specs)
    ]


def _judge(url: str, cache: Path | None, **overrides: object) -> LLMJudge:
    settings = {"timeout_s": 0.5, "max_retries": 2, "concurrency": 4, **overrides}
    return LLMJudge(LLMJudgeConfig(base_url=url, model="fault-model", cache_path=cache, **settings))


# What each behaviour must end as: scored (None) or quarantined with exactly this reason, and how
# many requests it may take at most (1 + 2 retries; invalid output: 1 + 1 repair).
EXPECTED = {
    "ok": (None, 1),
    "429x2": (None, 3),
    "500x1": (None, 2),
    "slowx1": (None, 2),
    "truncatedx1": (None, 2),
    "control": (None, 1),
    "429": ("judge_rate_limited", 3),
    "500": ("judge_server_error", 3),
    "slow": ("judge_timeout", 3),
    "truncated": ("judge_invalid_output", 2),
    "schema": ("judge_invalid_output", 2),
}


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    with FaultServer(reject_json_schema=True, slow_s=1.2) as server:
        yield server


def test_every_conversation_ends_scored_or_quarantined_with_the_reason(
    fault_server: FaultServer, tmp_path: Path
) -> None:
    specs = list(EXPECTED)
    judge = _judge(fault_server.url, tmp_path / "w.duckdb")
    results = judge.judge_many(_conversations(specs))
    assert len(results) == len(specs)
    for spec, result in zip(specs, results, strict=True):
        reason, most = EXPECTED[spec]
        if reason is None:
            assert isinstance(result, Verdict), (spec, result)
        else:
            assert isinstance(result, JudgeError) and result.reason == reason, (spec, result)
        marker = f"FAULT:{spec}:t{specs.index(spec)}"
        # (the one json_schema request of the run is the mode probe the server refuses)
        served = [
            r
            for r in fault_server.chat_requests()
            if r.marker == marker and r.response_format != "json_schema"
        ]
        assert 1 <= len(served) <= most, (spec, len(served))
    invalid = results[specs.index("truncated")]
    assert isinstance(invalid, JudgeError) and invalid.raw_output
    assert invalid.raw_output.startswith('{"issues"') and len(invalid.raw_output) <= 2000
    # Control characters never reach the verdict.
    control = results[specs.index("control")]
    assert isinstance(control, Verdict)
    assert control.rationale == "Refunded the charge." and control.issues[0].summary == (
        "double charge"
    )
    stats = judge.run_metadata()
    assert stats["llm_failures"] == {
        "judge_invalid_output": 2,
        "judge_rate_limited": 1,
        "judge_server_error": 1,
        "judge_timeout": 1,
    }
    assert stats["llm_requests"] == len(fault_server.requests)  # every HTTP request counted
    assert stats["llm_redactions"] == {"email": len(specs)}
    assert all("jo@example.com" not in str(r.marker) for r in fault_server.requests)


def test_retry_after_is_honoured(fault_server: FaultServer, tmp_path: Path) -> None:
    _judge(fault_server.url, None).judge_many(_conversations(["ok", "429x2"]))
    times = [r.time for r in fault_server.chat_requests() if r.marker == "FAULT:429x2:t1"]
    assert len(times) == 3
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(gap >= 0.95 for gap in gaps), gaps  # Retry-After: 1


def test_output_mode_falls_back_once_and_is_remembered(
    fault_server: FaultServer, tmp_path: Path
) -> None:
    judge = _judge(fault_server.url, None)
    results = judge.judge_many(_conversations(["ok"] * 6))
    assert all(isinstance(r, Verdict) for r in results)
    formats = [r.response_format for r in fault_server.chat_requests()]
    assert formats == ["json_schema"] + ["json_object"] * 6
    judge.judge_many(_conversations(["ok"] * 2))
    assert [r.response_format for r in fault_server.chat_requests()][7:] == ["json_object"] * 2


def test_a_server_taking_json_schema_keeps_it(tmp_path: Path) -> None:
    with FaultServer() as server:
        _judge(server.url, None).judge_many(_conversations(["ok"] * 3))
        assert {r.response_format for r in server.chat_requests()} == {"json_schema"}


def test_the_same_transcript_twice_is_asked_once(tmp_path: Path) -> None:
    twins = _conversations(["ok"]) + [
        c.model_copy(update={"conversation_id": "c-twin"}) for c in _conversations(["ok"])
    ]
    with FaultServer() as server:
        results = _judge(server.url, tmp_path / "w.duckdb").judge_many(twins)
        assert len(server.chat_requests()) == 1
    assert isinstance(results[0], Verdict) and results[0] == results[1]


def test_a_rerun_makes_no_call_for_what_was_judged(
    fault_server: FaultServer, tmp_path: Path
) -> None:
    specs = ["ok", "schema", "500", "control", "slow"]
    cache = tmp_path / "w.duckdb"
    first = _judge(fault_server.url, cache).judge_many(_conversations(specs))
    before = len(fault_server.chat_requests())
    judge = _judge(fault_server.url, cache)
    second = judge.judge_many(_conversations(specs))
    rerun = fault_server.chat_requests()[before:]
    # Verdicts and invalid replies are cached; transient failures are tried again.
    assert {r.marker for r in rerun} == {"FAULT:500:t2", "FAULT:slow:t4"}
    assert judge.run_metadata()["llm_cache_hits"] == 3
    for a, b in zip(first, second, strict=True):
        assert type(a) is type(b)
        if isinstance(a, Verdict):
            assert a == b
        else:
            assert (a.reason, str(a)) == (b.reason, str(b))
    with duckdb.connect(str(cache), read_only=True) as con:
        rows = con.execute(
            f"select conversation_id, outcome, prompt_tokens, completion_tokens, output_mode, "
            f"redactions_json from {CACHE_TABLE} order by conversation_id"
        ).fetchall()
    assert rows == [
        ("c-0", "verdict", 100, 50, "json_object", '{"email": 1}'),
        ("c-1", "invalid_output", 200, 100, "json_object", '{"email": 1}'),
        ("c-3", "verdict", 100, 50, "json_object", '{"email": 1}'),
    ]


def test_an_endpoint_lost_midway_keeps_what_was_paid_for(tmp_path: Path) -> None:
    """Progress is persisted as it goes: the run fails, the rerun pays only for the rest."""
    cache = tmp_path / "w.duckdb"
    conversations = _conversations(["ok"] * 10)
    with (
        FaultServer(die_after=4) as dying,
        pytest.raises(JudgeEndpointError, match="became unreachable"),
    ):
        _judge(dying.url, cache, concurrency=2, max_retries=1).judge_many(conversations)
    with duckdb.connect(str(cache), read_only=True) as con:
        (kept,) = con.execute(f"select count(*) from {CACHE_TABLE}").fetchone()
    assert kept == 4
    with FaultServer() as healthy:
        judge = _judge(healthy.url, cache)
        assert all(isinstance(r, Verdict) for r in judge.judge_many(conversations))
        assert len(healthy.chat_requests()) == 6
        assert judge.run_metadata()["llm_cache_hits"] == 4


def test_an_unreachable_endpoint_fails_fast_and_writes_nothing(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    judge = _judge(url, tmp_path / "w.duckdb", max_retries=3, timeout_s=30)
    started = time.monotonic()
    with pytest.raises(JudgeEndpointError, match=r"127\.0\.0\.1:\d+/v1 is unreachable"):
        judge.judge_many(_conversations(["ok"] * 3))
    assert time.monotonic() - started < 10
    assert not (tmp_path / "w.duckdb").exists()


def test_a_refused_key_fails_the_run_without_showing_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CX_JUDGE_API_KEY", FAKE_KEY)
    with FaultServer(refuse_key=True) as server:
        with pytest.raises(JudgeEndpointError, match="refused the API key") as error:
            _judge(server.url, tmp_path / "w.duckdb").judge_many(_conversations(["ok"]))
        assert FAKE_KEY not in str(error.value) and FAKE_KEY not in repr(error.value)
        assert [r.auth for r in server.requests] == [
            f"Bearer {FAKE_KEY}"
        ]  # it was sent: the check above can fail
    assert not (tmp_path / "w.duckdb").exists()


# -- real Dagster materialisations -----------------------------------------------------------


def _landing_day(root: Path, specs: list[str]) -> None:
    folder = root / DAY.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    records = [
        conversation(
            f"c-{i}",
            ("customer", f"My card was charged twice FAULT:{spec}:d{i}, call 415-555-2671"),
            ("human", "Sorry! I've refunded the duplicate charge."),
            ("customer", "Thanks, that's sorted."),
        )
        for i, spec in enumerate(specs)
    ]
    (folder / "a.jsonl").write_bytes(jsonl(records))


def _pipeline_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, model: str) -> None:
    monkeypatch.setenv("CX_LANDING_DIR", str(tmp_path / "landing"))
    monkeypatch.setenv("CX_LAKE_DIR", str(tmp_path / "lake"))
    monkeypatch.setenv("CX_WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CX_JUDGE_BASE_URL", url)
    monkeypatch.setenv("CX_JUDGE_MODEL", model)
    (tmp_path / "home").mkdir(exist_ok=True)


def _materialise_python_stages(instance: DagsterInstance):
    """raw_conversations -> conversation_scores -> warehouse_partition (+ its checks)."""
    from dagster import materialize

    from orchestration.checks.assets import every_conversation_accounted_for
    from orchestration.extract.assets import raw_conversations
    from orchestration.resources import build_resources
    from orchestration.scoring.assets import conversation_scores
    from orchestration.warehouse.assets import warehouse_partition

    resources = build_resources()
    resources.pop("dbt")
    return materialize(
        [
            raw_conversations,
            conversation_scores,
            warehouse_partition,
            every_conversation_accounted_for,
        ],
        partition_key=DAY.isoformat(),
        resources=resources,
        instance=instance,
    )


def _scores_metadata(result) -> dict:
    (event,) = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "conversation_scores"
    ]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def _warehouse_text(path: Path) -> str:
    """Every value of every table in the warehouse, as text."""
    chunks = []
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables"
        ).fetchall()
        for schema, table in tables:
            chunks.append(str(con.execute(f'select * from "{schema}"."{table}"').fetchall()))
    return "\n".join(chunks)


def test_a_partition_through_dagster_with_the_key_never_leaking(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from dagster._serdes import serialize_value

    specs = ["ok", "control", "429x1", "schema", "500"]
    monkeypatch.setenv("CX_JUDGE_API_KEY", FAKE_KEY)
    monkeypatch.setenv("CX_JUDGE_MAX_RETRIES", "1")
    monkeypatch.setenv("CX_JUDGE_PRICE_INPUT_PER_MTOK", "0.15")
    monkeypatch.setenv("CX_JUDGE_PRICE_OUTPUT_PER_MTOK", "0.60")
    caplog.set_level(logging.DEBUG)  # the openai and httpx loggers included
    (tmp_path / "instance").mkdir()
    with (
        FaultServer(reject_json_schema=True) as server,
        DagsterInstance.local_temp(str(tmp_path / "instance")) as instance,
    ):
        _pipeline_env(tmp_path, monkeypatch, server.url, "fault-model")
        _landing_day(tmp_path / "landing", specs)
        result = _materialise_python_stages(instance)
        assert result.success
        assert {f"Bearer {FAKE_KEY}"} == {r.auth for r in server.requests}  # the key was used
        metadata = _scores_metadata(result)
        # 100 tokens per reply: ok, control, 429x1 once each, schema twice (repair), 500 never
        assert (metadata["llm_prompt_tokens"], metadata["llm_completion_tokens"]) == (500, 250)
        assert metadata["llm_cost_usd"] == pytest.approx(
            (metadata["llm_prompt_tokens"] * 0.15 + metadata["llm_completion_tokens"] * 0.60) / 1e6
        )
        assert metadata["llm_redactions"] == {"phone": 5}
        event_log = "\n".join(
            serialize_value(record.event_log_entry)
            for record in instance.get_records_for_run(result.run_id, limit=10_000).records
        )
        instance_files = b"".join(
            p.read_bytes() for p in (tmp_path / "instance").rglob("*") if p.is_file()
        )
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        scored = con.execute(
            "select conversation_id, judge_kind, judge_model, judge_version "
            "from scored.conversation_scores order by 1"
        ).fetchall()
        quarantined = con.execute(
            "select conversation_id, stage, reason, length(raw_line) > 0 "
            "from raw.quarantine order by 1"
        ).fetchall()
    assert [row[:3] for row in scored] == [
        ("c-0", "llm", "fault-model"),
        ("c-1", "llm", "fault-model"),
        ("c-2", "llm", "fault-model"),
    ]
    assert scored[0][3].endswith("@fault-model") and "+rubric-" in scored[0][3]
    assert quarantined == [
        ("c-3", "judge", "judge_invalid_output", True),
        ("c-4", "judge", "judge_server_error", False),
    ]
    out, err = capfd.readouterr()
    assert "conversation_scores" in event_log and caplog.text  # the places searched are real
    for where, text in {
        "logs": caplog.text,
        "stdout/stderr": out + err,
        "event log": event_log,
        "warehouse": _warehouse_text(warehouse),
    }.items():
        assert FAKE_KEY not in text, where
    assert FAKE_KEY.encode() not in instance_files
    assert FAKE_KEY.encode() not in b"".join(
        p.read_bytes() for p in (tmp_path / "lake").rglob("*") if p.is_file()
    )


# -- llama-cpp-python's server, for real, with a tiny random-weight model ------------------------

LLAMA_MODEL = "cx-tiny-random"


@pytest.fixture(scope="module")
def llama_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("llama")
    model = write_tiny_llama(work / "tiny.gguf")
    assert model.stat().st_size < 2_000_000
    with llama_server(model, log=work / "server.log") as url:
        yield url


def _llama_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tiny model's vocabulary is byte-level: a token per byte, a small context."""
    monkeypatch.setenv("CX_JUDGE_BYTES_PER_TOKEN", "1")
    monkeypatch.setenv("CX_JUDGE_MAX_INPUT_TOKENS", "7000")
    monkeypatch.setenv("CX_JUDGE_MAX_OUTPUT_TOKENS", "768")
    monkeypatch.setenv("CX_JUDGE_MAX_RETRIES", "1")
    monkeypatch.setenv("CX_JUDGE_CONCURRENCY", "4")


def test_llama_server_over_the_real_wire(
    llama_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestration.settings import get_settings

    _llama_env(monkeypatch)
    monkeypatch.setenv("CX_JUDGE_MODEL", LLAMA_MODEL)
    monkeypatch.setenv("CX_WAREHOUSE_PATH", str(tmp_path / "w.duckdb"))
    config = LLMJudgeConfig.from_settings(get_settings(), base_url=llama_url)
    long_turns = [("customer", f"message {i}: " + "still broken " * 30) for i in range(40)]
    conversations = [
        *_conversations(["ok", "ok"]),
        Conversation.model_validate(conversation("c-long", *long_turns, ("human", "Fixed."))),
    ]
    judge = LLMJudge(config)
    results = judge.judge_many(conversations)
    # llama-cpp-python refuses json_schema; the judge fell back to json_object + schema.
    assert judge.mode == "json_object"
    for result in results:  # a random model: a verdict or an invalid reply, nothing else
        if isinstance(result, JudgeError):
            assert result.reason == "judge_invalid_output", result
            assert result.raw_output is not None
        else:
            assert isinstance(result, Verdict) and 1 <= result.score <= 5
    stats = judge.last_stats
    assert stats.prompt_tokens > 5000 and stats.completion_tokens > 0
    assert stats.truncated == 1
    assert stats.prompt_tokens / (stats.requests - 1) < 7000  # the budget held on the wire
    rerun = LLMJudge(config)
    assert [type(r) for r in rerun.judge_many(conversations)] == [type(r) for r in results]
    assert rerun.last_stats.requests == 0


def test_a_partition_through_dagster_on_the_llama_server(
    llama_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The code location's daily job for real (extract, score, load, checks, dbt marts), with
    `CX_JUDGE_BASE_URL` at the llama server; then a rerun that makes no call."""
    from orchestration.definitions import build_defs

    _llama_env(monkeypatch)
    _pipeline_env(tmp_path, monkeypatch, llama_url, LLAMA_MODEL)
    specs = ["ok"] * 3
    _landing_day(tmp_path / "landing", specs)
    with DagsterInstance.ephemeral() as instance:
        job = build_defs().resolve_job_def("daily_cx_job")
        result = job.execute_in_process(partition_key=DAY.isoformat(), instance=instance)
        assert result.success
        first = _scores_metadata(result)
        again = _materialise_python_stages(instance)  # the rerun: scoring and load again
        assert again.success
        rerun = _scores_metadata(again)
    assert first["llm_conversations_sent"] == 3 and first["llm_requests"] >= 3
    assert first["llm_output_mode"] == "json_object"
    assert (rerun["llm_requests"], rerun["llm_cache_hits"]) == (0, 3)
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        scored = con.execute(
            "select judge_kind, judge_model, count(*) from scored.conversation_scores group by all"
        ).fetchall()
        failed = con.execute(
            "select reason, count(*) from raw.quarantine where stage = 'judge' group by all"
        ).fetchall()
        cached = con.execute(f"select count(*) from {CACHE_TABLE}").fetchone()
        marts = con.execute("select count(*) from marts.fct_conversation_scores").fetchone()
    n_scored = sum(n for *_, n in scored)
    assert all(kind == "llm" and model == LLAMA_MODEL for kind, model, _ in scored)
    assert all(reason == "judge_invalid_output" for reason, _ in failed)
    assert n_scored + sum(n for _, n in failed) == 3  # every conversation accounted for
    assert n_scored > 0  # scores from the LLM judge reach the warehouse and the marts
    assert cached == (3,)
    assert marts == (n_scored,)
