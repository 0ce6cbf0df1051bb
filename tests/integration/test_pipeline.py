"""The whole pipeline for real: landing files -> Dagster assets -> DuckDB file -> dbt marts.

Real parts only: a DuckDB file in a temp dir, the code location's own job run in process
(extract, score, load, the asset checks, and `dbt build` through dagster-dbt), and the
`dagster asset materialize` CLI in a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest

from tests.conftest import conversation, jsonl
from tests.dagster_env import DagsterEnv, dagster_env

pytestmark = pytest.mark.integration

DAY_1 = date(2026, 3, 2)
DAY_2 = date(2026, 3, 3)
REPO = Path(__file__).resolve().parents[2]
_PYTHON_CHECKS = {
    "every_conversation_accounted_for",
    "scores_within_rubric_range",
    "quarantine_rate_below_threshold",
}


def _day_1_files() -> dict[str, list]:
    return {
        "a.jsonl": [
            conversation(
                "c-ai",
                ("customer", "Can you book a table for two at 7pm tonight?"),
                ("ai", "Done! Your table for two at 7pm is booked, confirmation 4411."),
                ("customer", "Perfect, thank you so much!"),
            ),
            conversation(
                "c-human",
                ("customer", "My invoice charged me twice this month, this is ridiculous."),
                ("human", "Sorry about that. I have refunded the duplicate charge of $12."),
                ("customer", "Great, thanks."),
                team="billing",
                channel="email",
            ),
            conversation(
                "c-handoff",
                ("customer", "My router keeps dropping the connection."),
                ("ai", "Have you tried restarting it?"),
                ("customer", "Yes, it still drops. I want a person."),
                ("human", "I'm sorry for the trouble, I've scheduled a technician for Monday."),
                team="network",
            ),
            conversation("c-dup", ("customer", "first version"), ("human", "hi")),
            b"{this is not json",
            conversation("c-agent-only", ("human", "We wanted to let you know...")),
        ],
        "b.jsonl": [
            conversation(
                "c-dup",
                ("customer", "Where is my order? It is late."),
                ("human", "It shipped today, tracking number 1Z999."),
            ),
            conversation(
                "c-csat",
                ("customer", "How do I reset my password?"),
                ("human", "Click 'forgot password' on the login page and follow the email."),
                ("customer", "That worked, thanks!"),
                csat={"score": 5},
                channel="social",
            ),
        ],
    }


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterEnv]:
    with dagster_env(tmp_path_factory.mktemp("pipeline")) as env:
        yield env


@pytest.fixture(scope="module")
def day_1(env: DagsterEnv):
    env.write(DAY_1, _day_1_files())
    return env.run(DAY_1)


def test_day_materialises_every_stage_and_passes_its_checks(env: DagsterEnv, day_1) -> None:
    assert day_1.success
    materialised = {e.asset_key.to_user_string() for e in day_1.get_asset_materialization_events()}
    assert {"raw_conversations", "conversation_scores", "warehouse_partition"} <= materialised
    assert {"fct_conversation_scores", "cx_daily"} <= {k.split("/")[-1] for k in materialised}
    checks = {e.check_name: e.passed for e in day_1.get_asset_check_evaluations()}
    assert checks["every_conversation_accounted_for"] is True
    assert checks["scores_within_rubric_range"] is True
    # 3 of 8 lines quarantined is far above the 5% threshold: the check warns, nothing blocks.
    assert checks["quarantine_rate_below_threshold"] is False
    dbt_checks = {n: p for n, p in checks.items() if n not in _PYTHON_CHECKS}
    assert dbt_checks and all(dbt_checks.values()), dbt_checks


def test_every_line_is_scored_or_quarantined(env: DagsterEnv, day_1) -> None:
    assert env.query(
        "select lines_in, conversations_loaded, conversations_scored, "
        "conversations_quarantined from raw.partition_loads"
    ) == [(8, 5, 5, 3)]
    reasons = env.query("select conversation_id, reason from raw.quarantine order by source_line")
    assert sorted(reasons, key=str) == sorted(
        [
            ("c-dup", "duplicate_conversation_id"),
            (None, "invalid_json"),
            ("c-agent-only", "no_customer_message"),
        ],
        key=str,
    )


def test_marts_carry_handler_scores_and_csat(env: DagsterEnv, day_1) -> None:
    rows = dict(env.query("select conversation_id, handler from marts.fct_conversation_scores"))
    assert rows == {
        "c-ai": "ai_only",
        "c-human": "human_only",
        "c-handoff": "ai_then_human",
        "c-dup": "human_only",
        "c-csat": "human_only",
    }
    (csat,) = env.query(
        "select csat_score, csat_is_positive from marts.fct_conversation_scores "
        "where conversation_id = 'c-csat'"
    )
    assert csat == (5, True)
    total, positive, csat_responses = env.query(
        "select sum(conversations), sum(positive_conversations), sum(csat_responses) "
        "from marts.cx_daily"
    )[0]
    assert (total, csat_responses) == (5, 1)
    assert (
        positive
        == env.query("select count(*) from marts.fct_conversation_scores where score >= 4")[0][0]
    )


_SNAPSHOT = {
    "raw.conversations": "select * from raw.conversations",
    "raw.messages": "select * from raw.messages",
    "raw.quarantine": "select * from raw.quarantine",
    "scored": "select * from scored.conversation_scores",
    "fct": "select * from marts.fct_conversation_scores",
    "cx_daily": "select * from marts.cx_daily",
}


def _snapshot(env: DagsterEnv) -> dict[str, list[tuple]]:
    return {name: sorted(env.query(sql), key=repr) for name, sql in _SNAPSHOT.items()}


def test_rerun_replaces_the_partition_exactly(env: DagsterEnv, day_1) -> None:
    before = _snapshot(env)
    assert env.run(DAY_1).success
    assert _snapshot(env) == before

    # The day's files change (a conversation withdrawn): the rerun replaces the day, no leftovers.
    files = _day_1_files()
    files["a.jsonl"] = [
        r
        for r in files["a.jsonl"]
        if not (isinstance(r, dict) and r["conversation_id"] == "c-human")
    ]
    env.write(DAY_1, files)
    assert env.run(DAY_1).success
    ids = {r[0] for r in env.query("select conversation_id from marts.fct_conversation_scores")}
    assert "c-human" not in ids and "c-ai" in ids
    assert env.query("select count(*) from raw.messages where conversation_id = 'c-human'") == [
        (0,)
    ]

    env.write(DAY_1, _day_1_files())
    assert env.run(DAY_1).success
    assert _snapshot(env) == before


def test_second_day_adds_without_touching_the_first(env: DagsterEnv, day_1) -> None:
    env.write(
        DAY_2,
        {
            "x.jsonl": [
                conversation(
                    "d2-1",
                    ("customer", "Is the store open on Sunday?"),
                    ("human", "Yes, 10am to 4pm."),
                    started_at="2026-03-03T10:00:00Z",
                )
            ]
        },
    )
    first_day = sorted(
        env.query(
            "select * from marts.fct_conversation_scores where conversation_date = '2026-03-02'"
        ),
        key=repr,
    )
    assert env.run(DAY_2).success
    by_day = dict(
        env.query(
            "select conversation_date, count(*) from marts.fct_conversation_scores group by 1"
        )
    )
    assert by_day == {DAY_1: 5, DAY_2: 1}
    assert (
        sorted(
            env.query(
                "select * from marts.fct_conversation_scores where conversation_date = '2026-03-02'"
            ),
            key=repr,
        )
        == first_day
    )


def test_cli_materialises_a_partition_from_the_repo_root(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    (landing / DAY_1.isoformat()).mkdir(parents=True)
    (landing / DAY_1.isoformat() / "a.jsonl").write_bytes(jsonl(_day_1_files()["b.jsonl"]))
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {
        **os.environ,
        "CX_LANDING_DIR": str(landing),
        "CX_LAKE_DIR": str(tmp_path / "lake"),
        "CX_WAREHOUSE_PATH": str(tmp_path / "w.duckdb"),
        "DAGSTER_HOME": str(tmp_path / "home"),
    }
    dagster = Path(sys.executable).with_name("dagster")
    proc = subprocess.run(
        [
            str(dagster),
            "asset",
            "materialize",
            "-m",
            "orchestration.definitions",
            "--select",
            "raw_conversations*",
            "--partition",
            DAY_1.isoformat(),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from marts.fct_conversation_scores").fetchone() == (2,)


def test_headline_reads_the_marts(env: DagsterEnv, day_1) -> None:
    from orchestration.demo.headline import headline

    result = headline(env.warehouse)
    scored = env.query(
        "select count(*), sum(case when score >= 4 then 1 else 0 end) "
        "from marts.fct_conversation_scores"
    )[0]
    assert (result.overall.conversations, result.overall.positive) == scored
    assert sum(s.conversations for s in result.by_handler) == scored[0]
    assert {s.name for s in result.by_handler} == {"ai_only", "human_only", "ai_then_human"}
    assert result.lines_in >= result.scored + result.quarantined - 1
    assert "Overall CX score (share rated 4-5)" in str(result)
