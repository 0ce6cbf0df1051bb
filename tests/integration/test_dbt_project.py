"""The dbt project for real: a DuckDB warehouse with synthetic raw/scored rows, then `dbt build`.

The warehouse is created from `orchestration.warehouse.schema.DDL` (the same tables the loader
writes) and filled with a few hand-made rows over two days, so each mart value below can be
checked by hand. dbt runs as a subprocess of this venv's `dbt`, exactly as Dagster runs it, with
its own --target-path and --log-path so it never touches the repo's `dbt_project/target`.

Scenario (D1 loaded with judge v2, D2 with judge v1):
  D1  c-ai       customer, ai, customer            v2 score 5 (an older v1 score 2 also stored)
      c-handoff  customer, ai, customer, human     v2 score 3
      c-human    customer, human; CSAT 5           v2 score 4
      c-other    customer, human, ai; no team      v2 score 2, no topic, surveyed, no answer
  D2  d2-1       customer, human; CSAT 2           v1 score 4 (a trial v2 score 1 also stored)
      d2-2       customer, ai                      v1 score 1
      d2-3       customer, ai                      not scored (quarantined by the judge)
Then D1 is reloaded without c-human (now quarantined) and D2 is reloaded empty, each followed by
`dbt build --vars` for that day only.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from orchestration.warehouse.schema import DDL, TABLES

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DBT_PROJECT = REPO / "dbt_project"
DBT = Path(sys.executable).with_name("dbt")
D1 = date(2026, 3, 2)
D2 = date(2026, 3, 3)

Row = dict[str, Any]


# --- synthetic warehouse rows ---------------------------------------------------------------


def _ts(day: date, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, 9, minute, tzinfo=UTC)


@dataclass
class Day:
    """One partition's rows for every raw/scored table, and the judge version it was loaded with."""

    day: date
    judge_version: str
    conversations: list[Row]
    messages: list[Row]
    scores: list[Row]
    quarantine: list[Row]

    def conversation(
        self,
        cid: str,
        channel: str,
        team: str | None,
        *speakers: str,
        csat: int | None = None,
        surveyed: bool = False,
    ) -> None:
        self.conversations.append(
            {
                "partition_date": self.day,
                "conversation_id": cid,
                "channel": channel,
                "team": team,
                "started_at": _ts(self.day),
                "ended_at": _ts(self.day, len(speakers)),
                "message_count": len(speakers),
                "csat_score": csat,
                "is_surveyed": surveyed or csat is not None,
                "tags": "[]",
                "source_file": "a.jsonl",
                "source_line": len(self.conversations) + 1,
            }
        )
        for index, speaker in enumerate(speakers):
            role = speaker if speaker in ("customer", "system") else "agent"
            self.messages.append(
                {
                    "partition_date": self.day,
                    "conversation_id": cid,
                    "message_index": index,
                    "role": role,
                    "author_kind": speaker if role == "agent" else None,
                    "sent_at": _ts(self.day, index),
                    "text": f"{speaker} turn {index}",
                }
            )

    def score(
        self, cid: str, score: int, version: str | None = None, topic: str | None = "billing"
    ) -> None:
        self.scores.append(
            {
                "partition_date": self.day,
                "conversation_id": cid,
                "judge_kind": "offline",
                "judge_name": "fixture",
                "judge_version": version or self.judge_version,
                "score": score,
                "resolution_score": score,
                "sentiment_score": score,
                "service_score": score,
                "efficiency_score": score,
                "issues_total": 1,
                "issues_resolved": int(score >= 4),
                "issues_partly": 0,
                "issues_unresolved": int(score < 4),
                "sentiment_start": -0.5,
                "sentiment_end": 0.5,
                "sentiment_trajectory": "improved",
                "tone_score": 4,
                "knowledge_score": 4,
                "loop_count": 0,
                "needless_clarification_count": 0,
                "broken_handoff_count": 0,
                "topic": topic,
                "rationale": f"{cid} scored {score}",
            }
        )

    def quarantined(self, cid: str | None, reason: str, stage: str = "extract") -> None:
        self.quarantine.append(
            {
                "partition_date": self.day,
                "stage": stage,
                "source_file": "a.jsonl",
                "source_line": 99,
                "conversation_id": cid,
                "reason": reason,
                "detail": reason,
                "raw_line": "{",
            }
        )

    def tables(self) -> dict[str, list[Row]]:
        scored = [s for s in self.scores if s["judge_version"] == self.judge_version]
        load = {
            "partition_date": self.day,
            "lines_in": len(self.conversations) + len(self.quarantine),
            "conversations_loaded": len(self.conversations),
            "conversations_scored": len(scored),
            "conversations_quarantined": len(self.quarantine),
            "judge_kind": "offline",
            "judge_version": self.judge_version,
            "dagster_run_id": "fixture",
            "loaded_at": _ts(self.day, 59),
        }
        return {
            "raw.conversations": self.conversations,
            "raw.messages": self.messages,
            "raw.quarantine": self.quarantine,
            "raw.partition_loads": [load],
            "scored.conversation_scores": self.scores,
        }


def day_1(*, without_human: bool = False) -> Day:
    d = Day(D1, "v2", [], [], [], [])
    d.conversation("c-ai", "chat", "billing", "customer", "ai", "customer")
    d.conversation("c-handoff", "chat", "network", "customer", "ai", "customer", "human")
    d.conversation("c-other", "phone", None, "customer", "human", "ai", surveyed=True)
    d.score("c-ai", 5)
    d.score("c-ai", 2, version="v1")  # an older judge's verdict, kept for comparison only
    d.score("c-handoff", 3)
    d.score("c-other", 2, topic=None)
    d.quarantined(None, "invalid_json")
    d.quarantined("c-dup", "duplicate_conversation_id")
    d.quarantined("c-dup-2", "duplicate_conversation_id")
    if without_human:
        d.quarantined("c-human", "ended_before_start")
    else:
        d.conversation("c-human", "email", "billing", "customer", "human", csat=5)
        d.score("c-human", 4)
    return d


def day_2(*, empty: bool = False) -> Day:
    d = Day(D2, "v1", [], [], [], [])
    if empty:
        d.quarantined(None, "invalid_json")
        return d
    d.conversation("d2-1", "social", "billing", "customer", "human", csat=2)
    d.conversation("d2-2", "chat", "billing", "customer", "ai")
    d.conversation("d2-3", "chat", "billing", "customer", "ai")
    d.score("d2-1", 4)
    d.score("d2-1", 1, version="v2")  # a trial run of a newer judge: the day says v1
    d.score("d2-2", 1)
    d.quarantined("d2-3", "judge_error", stage="judge")
    return d


def write_day(path: Path, day: Day) -> None:
    """Replace the day in every table, as the loader does (one transaction)."""
    with duckdb.connect(str(path)) as con:
        for statement in DDL:
            con.execute(statement)
        con.execute("begin transaction")
        for table, rows in day.tables().items():
            con.execute(f"delete from {table} where partition_date = ?", [day.day])
            if rows:
                schema = TABLES[table]
                full = [{name: row.get(name) for name in schema.names} for row in rows]
                con.register("incoming", pa.Table.from_pylist(full, schema=schema))
                con.execute(f"insert into {table} by name select * from incoming")
                con.unregister("incoming")
        con.execute("commit")


# --- running dbt ------------------------------------------------------------------------------


def dbt(tmp: Path, env: dict[str, str], *args: str) -> str:
    """Run the venv's dbt on the repo's project with its artifacts under `tmp`."""
    proc = subprocess.run(
        [
            str(DBT),
            *args,
            "--project-dir",
            str(DBT_PROJECT),
            "--profiles-dir",
            str(DBT_PROJECT),
            "--target-path",
            str(tmp / "target"),
            "--log-path",
            str(tmp / "logs"),
        ],
        cwd=DBT_PROJECT,
        env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    return proc.stdout


def window(day: date) -> str:
    return json.dumps({"min_date": day.isoformat(), "max_date": day.isoformat()})


def query(path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


FCT = """
    select conversation_id, conversation_date, team, channel, topic, handler, score, is_positive,
           csat_score, csat_is_positive, judge_version
    from marts.fct_conversation_scores order by conversation_id
"""
CX_DAILY = "select * from marts.cx_daily order by all"
HEALTH = """
    select partition_date, lines_in, conversations_loaded, conversations_scored,
           conversations_quarantined, quarantine_rate, top_quarantine_reason,
           top_quarantine_reason_count, judge_version
    from marts.partition_health order by partition_date
"""


@dataclass
class Marts:
    fct: list[tuple]
    fct_all: list[tuple]
    cx_daily: list[tuple]
    health: list[tuple]

    @classmethod
    def read(cls, path: Path) -> Marts:
        return cls(
            query(path, FCT),
            query(path, "select * from marts.fct_conversation_scores order by conversation_id"),
            query(path, CX_DAILY),
            query(path, HEALTH),
        )

    def fct_of(self, day: date) -> list[tuple]:
        return [row for row in self.fct_all if row[1] == day]


@dataclass
class Builds:
    first: Marts  # both days, a full build without vars
    d1_rerun: Marts  # D1 reloaded without c-human, then `dbt build --vars` for D1
    d2_emptied: Marts  # D2 reloaded with nothing but a quarantined line, build for D2
    seconds: list[float]


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Builds:
    tmp = tmp_path_factory.mktemp("dbt_project")
    warehouse = tmp / "warehouse.duckdb"
    env = {"CX_WAREHOUSE_PATH": str(warehouse)}
    seconds = []

    def build(*args: str) -> Marts:
        started = time.monotonic()
        dbt(tmp, env, "build", *args)
        seconds.append(time.monotonic() - started)
        return Marts.read(warehouse)

    write_day(warehouse, day_1())
    write_day(warehouse, day_2())
    first = build()
    write_day(warehouse, day_1(without_human=True))
    d1_rerun = build("--vars", window(D1))
    write_day(warehouse, day_2(empty=True))
    d2_emptied = build("--vars", window(D2))
    return Builds(first, d1_rerun, d2_emptied, seconds)


# --- the marts --------------------------------------------------------------------------------


def test_fct_has_one_row_per_scored_conversation_with_its_handler(builds: Builds) -> None:
    handlers = {row[0]: row[5] for row in builds.first.fct}
    assert handlers == {
        "c-ai": "ai_only",
        "c-handoff": "ai_then_human",
        "c-human": "human_only",
        "c-other": "other",  # a human first, then the AI
        "d2-1": "human_only",
        "d2-2": "ai_only",
    }  # d2-3 was loaded but never scored: not in the fact


def test_fct_uses_the_judge_version_recorded_for_the_day(builds: Builds) -> None:
    scores = {row[0]: (row[6], row[10]) for row in builds.first.fct}
    assert scores["c-ai"] == (5, "v2")  # not the older v1 verdict (2)
    assert scores["d2-1"] == (4, "v1")  # not the trial v2 verdict (1)
    assert {version for _, version in scores.values()} == {"v1", "v2"}


def test_fct_derives_flags_and_defaults(builds: Builds) -> None:
    rows = {row[0]: row for row in builds.first.fct}
    # (team, channel, topic) defaults, is_positive = score >= 4, csat_is_positive null w/o answer
    assert rows["c-other"][2:5] == ("unassigned", "phone", "unknown")
    assert rows["c-human"][6:10] == (4, True, 5, True)
    assert rows["d2-1"][6:10] == (4, True, 2, False)
    assert rows["c-other"][6:10] == (2, False, None, None)


def test_cx_daily_arithmetic(builds: Builds) -> None:
    # (date, team, channel, topic, handler, conversations, positive, cx_score, mean_score,
    #  surveyed, csat_responses, csat_positive, csat_positive_share, mean_csat)
    assert builds.first.cx_daily == [
        (D1, "billing", "chat", "billing", "ai_only", 1, 1, 1.0, 5.0, 0, 0, 0, None, None),
        (D1, "billing", "email", "billing", "human_only", 1, 1, 1.0, 4.0, 1, 1, 1, 1.0, 5.0),
        (D1, "network", "chat", "billing", "ai_then_human", 1, 0, 0.0, 3.0, 0, 0, 0, None, None),
        (D1, "unassigned", "phone", "unknown", "other", 1, 0, 0.0, 2.0, 1, 0, 0, None, None),
        (D2, "billing", "chat", "billing", "ai_only", 1, 0, 0.0, 1.0, 0, 0, 0, None, None),
        (D2, "billing", "social", "billing", "human_only", 1, 1, 1.0, 4.0, 1, 1, 0, 0.0, 2.0),
    ]
    per_day = {}
    for row in builds.first.cx_daily:
        total, positive = per_day.get(row[0], (0, 0))
        per_day[row[0]] = (total + row[5], positive + row[6])
    assert {day: positive / total for day, (total, positive) in per_day.items()} == {
        D1: 2 / 4,
        D2: 1 / 2,
    }


def test_partition_health(builds: Builds) -> None:
    assert builds.first.health == [
        (D1, 7, 4, 4, 3, 3 / 7, "duplicate_conversation_id", 2, "v2"),
        (D2, 4, 3, 2, 1, 1 / 4, "judge_error", 1, "v1"),
    ]


def test_a_rerun_of_a_day_replaces_that_day_only(builds: Builds) -> None:
    ids = [row[0] for row in builds.d1_rerun.fct]
    assert ids == ["c-ai", "c-handoff", "c-other", "d2-1", "d2-2"]  # c-human gone, no duplicates
    assert builds.d1_rerun.fct_of(D2) == builds.first.fct_of(D2)  # the other day is untouched
    assert builds.d1_rerun.fct_of(D1) == [r for r in builds.first.fct_of(D1) if r[0] != "c-human"]
    assert [row[4] for row in builds.d1_rerun.cx_daily if row[0] == D1] == [
        "ai_only",
        "ai_then_human",
        "other",
    ]
    assert builds.d1_rerun.health[0][1:5] == (7, 3, 3, 4)


def test_a_day_rerun_with_no_conversations_left_is_emptied(builds: Builds) -> None:
    assert builds.d2_emptied.fct_of(D2) == []
    assert builds.d2_emptied.fct_of(D1) == builds.d1_rerun.fct_of(D1)
    assert {row[0] for row in builds.d2_emptied.cx_daily} == {D1}
    assert builds.d2_emptied.health[1] == (D2, 1, 0, 0, 1, 1.0, "invalid_json", 1, "v1")


def test_builds_take_seconds_not_minutes(builds: Builds) -> None:
    assert max(builds.seconds) < 120, builds.seconds


def test_parse_needs_no_warehouse(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "warehouse.duckdb"
    dbt(tmp_path, {"CX_WAREHOUSE_PATH": str(missing)}, "parse")
    assert (tmp_path / "target" / "manifest.json").exists()
    assert not missing.exists()
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    unit_tests = {node["name"] for node in manifest["unit_tests"].values()}
    assert {
        "test_derives_the_handler",
        "test_keeps_the_days_judge_version",
        "test_cx_score_and_csat_share",
    } <= unit_tests


# --- the same project on PostgreSQL -----------------------------------------------------------


def _pg_bin() -> Path | None:
    for candidate in [
        shutil.which("pg_ctl"),
        *sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")),
    ]:
        if candidate:
            return Path(candidate).resolve().parent
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _skip_or_fail(reason: str) -> None:
    """CI (`.ci/run` sets CX_REQUIRE_POSTGRES=1) installs PostgreSQL: there a skip is a failure."""
    if os.environ.get("CX_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"CX_REQUIRE_POSTGRES=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def postgres() -> Iterator[dict[str, str]]:
    """A throwaway PostgreSQL server (initdb + pg_ctl); skipped where the binaries are missing.

    PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user."""
    bindir = _pg_bin()
    if bindir is None:
        _skip_or_fail("PostgreSQL binaries not installed")
    prefix: list[str] = []
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            _skip_or_fail("running as root and there is no postgres user to run the server")
        prefix = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="cx-pg-"))
    if prefix:
        shutil.chown(root, "postgres")
    data, port = root / "data", _free_port()
    subprocess.run(
        [*prefix, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *prefix,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-w",
            "-l",
            str(root / "log"),
            "-o",
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        import psycopg2

        con = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
        con.autocommit = True  # CREATE DATABASE cannot run in a transaction
        try:
            con.cursor().execute("create database cx_score")
        finally:
            con.close()
        yield {
            "CX_PG_HOST": "127.0.0.1",
            "CX_PG_PORT": str(port),
            "CX_PG_USER": "postgres",
            "CX_PG_PASSWORD": "",
            "CX_PG_DATABASE": "cx_score",
        }
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


def _pg_write_day(env: dict[str, str], day: Day) -> None:
    import psycopg2

    con = psycopg2.connect(
        host=env["CX_PG_HOST"],
        port=int(env["CX_PG_PORT"]),
        user=env["CX_PG_USER"],
        dbname=env["CX_PG_DATABASE"],
    )
    try:
        with con, con.cursor() as cur:
            for statement in DDL:  # DuckDB's DOUBLE is spelled DOUBLE PRECISION in PostgreSQL
                cur.execute(statement.replace(" DOUBLE", " DOUBLE PRECISION"))
            for table, rows in day.tables().items():
                cur.execute(f"delete from {table} where partition_date = %s", [day.day])
                names = TABLES[table].names
                for row in rows:
                    cur.execute(
                        f"insert into {table} ({', '.join(names)}) "
                        f"values ({', '.join(['%s'] * len(names))})",
                        [row.get(name) for name in names],
                    )
    finally:
        con.close()


def sort(rows: list[tuple]) -> list[tuple]:
    """Rows in one order whatever the database's collation."""
    return sorted(rows, key=repr)


@pytest.mark.postgres
def test_the_same_marts_on_postgres(
    builds: Builds, postgres: dict[str, str], tmp_path: Path
) -> None:
    import psycopg2

    def marts() -> tuple[list[tuple], list[tuple]]:
        con = psycopg2.connect(
            host=postgres["CX_PG_HOST"],
            port=int(postgres["CX_PG_PORT"]),
            user=postgres["CX_PG_USER"],
            dbname=postgres["CX_PG_DATABASE"],
        )
        try:
            with con.cursor() as cur:
                cur.execute(FCT)
                fct = cur.fetchall()
                cur.execute("select * from marts.cx_daily order by 1, 2, 3, 4, 5")
                return sort(fct), sort(cur.fetchall())
        finally:
            con.close()

    _pg_write_day(postgres, day_1())
    _pg_write_day(postgres, day_2())
    dbt(tmp_path, postgres, "build", "--target", "postgres")
    assert marts() == (sort(builds.first.fct), sort(builds.first.cx_daily))

    _pg_write_day(postgres, day_1(without_human=True))
    dbt(tmp_path, postgres, "build", "--target", "postgres", "--vars", window(D1))
    assert marts() == (sort(builds.d1_rerun.fct), sort(builds.d1_rerun.cx_daily))
