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

Beside them, loaded once and never touched again, the spotlight scenario (February 2026):
  four weeks of `shipping` (team logistics, AI only, 30 a week) sliding 1.0, 0.8, 0.6, 0.4,
  with surveys and answers in the last week; `gifts` (same team, human only, 4 a week) sliding
  the same way but too small to flag; and `account` conversations around the spotlight's
  filter (AI only, judged resolved, scored 1-2, and every near miss).
The PostgreSQL test loads the same rows into a real server, runs `dbt build --target postgres`
twice the same way, and compares every model of the marts schema with DuckDB's, row for row.
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
        minute: int = 0,
        first_text: str | None = None,
    ) -> None:
        self.conversations.append(
            {
                "partition_date": self.day,
                "conversation_id": cid,
                "channel": channel,
                "team": team,
                "started_at": _ts(self.day, minute),
                "ended_at": _ts(self.day, minute + len(speakers)),
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
                    "sent_at": _ts(self.day, minute + index),
                    "text": first_text if index == 0 and first_text else f"{speaker} turn {index}",
                }
            )

    def score(
        self,
        cid: str,
        score: int,
        version: str | None = None,
        topic: str | None = "billing",
        issues: tuple[int, int, int] | None = None,
    ) -> None:
        """`issues` is (resolved, partly, not resolved); by default one issue, resolved
        exactly when the score is 4 or 5."""
        resolved, partly, unresolved = issues or (int(score >= 4), 0, int(score < 4))
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
                "issues_total": resolved + partly + unresolved,
                "issues_resolved": resolved,
                "issues_partly": partly,
                "issues_unresolved": unresolved,
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


# The spotlight scenario: four earlier weeks (Mondays W[0..3]) and two days of week W[3],
# loaded once with judge v2 before the first build and never reloaded, so every build sees them.
W = [date(2026, 2, 2), date(2026, 2, 9), date(2026, 2, 16), date(2026, 2, 23)]
SHIPPING_POSITIVE = [30, 24, 18, 12]  # of 30 a week: cx 1.0, 0.8, 0.6, 0.4, a slide
GIFTS_POSITIVE = [4, 3, 2, 1]  # of 4 a week: the same slide on a topic too small to flag
CSAT_W3 = [5, 5, 4, 2, 1, 3]  # the answers of s3-00 .. s3-05; s3-06 .. s3-09 surveyed, no answer
SPOTLIGHT_DAY = date(2026, 2, 25)  # a Wednesday of week W[3]
NEWEST_DAY = date(2026, 2, 26)
LONG_TEXT = "My order never arrived. " * 17  # 408 characters


def trend_week(week: int) -> Day:
    """Shipping (team logistics, AI only): 30 conversations scored 4 for the first
    SHIPPING_POSITIVE[week], 2 after; in week 3 the first ten were surveyed and six answered.
    Gifts (same team, human only): 4 conversations, GIFTS_POSITIVE[week] of them scored 4."""
    d = Day(W[week], "v2", [], [], [], [])
    for i in range(30):
        cid = f"s{week}-{i:02d}"
        csat = CSAT_W3[i] if week == 3 and i < len(CSAT_W3) else None
        surveyed = week == 3 and i < 10
        d.conversation(cid, "chat", "logistics", "customer", "ai", csat=csat, surveyed=surveyed)
        d.score(cid, 4 if i < SHIPPING_POSITIVE[week] else 2, topic="shipping")
    for i in range(4):
        cid = f"g{week}-{i}"
        d.conversation(cid, "email", "logistics", "customer", "human")
        d.score(cid, 4 if i < GIFTS_POSITIVE[week] else 2, topic="gifts")
    return d


def spotlight_day() -> Day:
    """AI-only conversations the judge calls resolved (no issue left not resolved, at least one
    fully resolved) and scored 1-2 go to the spotlight; everything else here must not."""
    d = Day(SPOTLIGHT_DAY, "v2", [], [], [], [])
    cases = [  # cid, speakers, minute, score, (resolved, partly, not resolved)
        (
            "p-late",
            ("customer", "ai", "customer"),
            30,
            2,
            (1, 1, 0),
        ),  # in: one resolved, one partly
        ("p-early", ("customer", "ai"), 0, 1, (1, 0, 0)),  # in
        ("p-unresolved", ("customer", "ai"), 5, 2, (1, 0, 1)),  # out: an issue not resolved
        ("p-all-partly", ("customer", "ai"), 6, 2, (0, 2, 0)),  # out: nothing confirmed resolved
        ("p-good", ("customer", "ai"), 7, 4, (1, 0, 0)),  # out: scored 4
        ("p-human", ("customer", "human"), 8, 2, (1, 0, 0)),  # out: human only
        ("p-handoff", ("customer", "ai", "human"), 9, 1, (1, 0, 0)),  # out: ai_then_human
    ]
    for cid, speakers, minute, score, issues in cases:
        text = LONG_TEXT if cid == "p-early" else None
        d.conversation(cid, "chat", "accounts", *speakers, minute=minute, first_text=text)
        d.score(cid, score, topic="account", issues=issues)
    return d


def newest_day() -> Day:
    d = Day(NEWEST_DAY, "v2", [], [], [], [])
    d.conversation("p-newest", "chat", "accounts", "customer", "ai")
    d.score("p-newest", 2, topic="account", issues=(2, 0, 0))  # in: every issue resolved
    return d


def background_days() -> list[Day]:
    return [*(trend_week(week) for week in range(4)), spotlight_day(), newest_day()]


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


# The D1/D2 scenario's rows only; the spotlight scenario (February) has tests of its own.
FCT = """
    select conversation_id, conversation_date, team, channel, topic, handler, score, is_positive,
           csat_score, csat_is_positive, judge_version
    from marts.fct_conversation_scores where conversation_date >= date '2026-03-02'
    order by conversation_id
"""
CX_DAILY = "select * from marts.cx_daily where conversation_date >= date '2026-03-02' order by all"
HEALTH = """
    select partition_date, lines_in, conversations_loaded, conversations_scored,
           conversations_quarantined, quarantine_rate, top_quarantine_reason,
           top_quarantine_reason_count, judge_version
    from marts.partition_health where partition_date >= date '2026-03-02' order by partition_date
"""


@dataclass
class Table:
    """A whole relation: its column names and its rows (in no particular order)."""

    columns: list[str]
    rows: list[tuple]

    def dicts(self) -> list[Row]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def mart_names(manifest_path: Path) -> set[str]:
    """Every model dbt builds into the marts schema, from the run's manifest."""
    manifest = json.loads(manifest_path.read_text())
    return {
        node["alias"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["schema"] == "marts"
    }


def read_marts(path: Path, names: set[str]) -> dict[str, Table]:
    with duckdb.connect(str(path), read_only=True) as con:
        in_schema = {
            name
            for (name,) in con.execute(
                "select table_name from information_schema.tables where table_schema = 'marts'"
            ).fetchall()
        }
        assert in_schema == names, (in_schema, names)  # nothing built outside the manifest
        tables = {}
        for name in sorted(names):
            cursor = con.execute(f"select * from marts.{name}")
            tables[name] = Table([c[0] for c in cursor.description], cursor.fetchall())
        return tables


@dataclass
class Marts:
    fct: list[tuple]
    fct_all: list[tuple]
    cx_daily: list[tuple]
    health: list[tuple]
    tables: dict[str, Table]  # every model of the marts schema

    @classmethod
    def read(cls, path: Path, manifest_path: Path) -> Marts:
        return cls(
            query(path, FCT),
            query(path, "select * from marts.fct_conversation_scores order by conversation_id"),
            query(path, CX_DAILY),
            query(path, HEALTH),
            read_marts(path, mart_names(manifest_path)),
        )

    def fct_of(self, day: date) -> list[tuple]:
        return [row for row in self.fct_all if row[1] == day]

    def rows(self, mart: str, **where: object) -> list[Row]:
        """A mart's rows as dicts, those matching every `column=value` given."""
        return [
            row
            for row in self.tables[mart].dicts()
            if all(row[column] == value for column, value in where.items())
        ]


@dataclass
class Builds:
    first: Marts  # both days, a full build without vars
    d1_rerun: Marts  # D1 reloaded without c-human, then `dbt build --vars` for D1
    d2_emptied: Marts  # D2 reloaded with nothing but a quarantined line, build for D2


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Builds:
    tmp = tmp_path_factory.mktemp("dbt_project")
    warehouse = tmp / "warehouse.duckdb"
    env = {"CX_WAREHOUSE_PATH": str(warehouse)}

    def build(*args: str) -> Marts:
        dbt(tmp, env, "build", *args)
        return Marts.read(warehouse, tmp / "target" / "manifest.json")

    for day in background_days():
        write_day(warehouse, day)
    write_day(warehouse, day_1())
    write_day(warehouse, day_2())
    first = build()
    write_day(warehouse, day_1(without_human=True))
    d1_rerun = build("--vars", window(D1))
    write_day(warehouse, day_2(empty=True))
    d2_emptied = build("--vars", window(D2))
    return Builds(first, d1_rerun, d2_emptied)


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


# --- the spotlight marts (the February scenario) -----------------------------------------------


def test_spotlight_lists_ai_resolved_poor_conversations_newest_first(builds: Builds) -> None:
    for marts in (builds.first, builds.d1_rerun, builds.d2_emptied):
        rows = sorted(marts.rows("spotlight_ai_resolved_poor"), key=lambda r: r["spotlight_rank"])
        assert [
            (r["spotlight_rank"], r["conversation_id"], r["conversation_date"], r["score"])
            for r in rows
        ] == [
            (1, "p-newest", NEWEST_DAY, 2),  # every issue resolved
            (2, "p-late", SPOTLIGHT_DAY, 2),  # one resolved, one partly; started 09:30
            (3, "p-early", SPOTLIGHT_DAY, 1),  # started 09:00
        ]  # not: an issue left unresolved, only partly resolved, scored 4, human, handoff
    late = builds.first.rows("spotlight_ai_resolved_poor", conversation_id="p-late")[0]
    assert (late["issues_total"], late["issues_resolved"], late["issues_partly"]) == (2, 1, 1)
    assert (late["team"], late["topic"], late["rationale"]) == (
        "accounts",
        "account",
        "p-late scored 2",
    )
    assert late["first_customer_message_excerpt"] == "customer turn 0"
    assert late["last_agent_message_excerpt"] == "ai turn 1"
    early = builds.first.rows("spotlight_ai_resolved_poor", conversation_id="p-early")[0]
    excerpt = early["first_customer_message_excerpt"]
    assert len(LONG_TEXT) == 408 and len(excerpt) == 300
    assert excerpt == LONG_TEXT[:297] + "..."


def test_topic_trends_flag_the_sliding_topic_and_not_the_small_one(builds: Builds) -> None:
    for grain, team in (("topic", None), ("team_topic", "logistics")):
        shipping = {
            r["week_start"]: r
            for r in builds.first.rows("topic_trends", grain=grain, team=team, topic="shipping")
        }
        assert sorted(shipping) == [*W, D1]  # D1's week has no shipping: a row with 0
        figures = [
            (
                shipping[w]["week_index"],
                shipping[w]["conversations"],
                shipping[w]["cx_score"],
                shipping[w]["consecutive_declines"],
                shipping[w]["is_declining_streak"],
                shipping[w]["is_negative_trend"],
                shipping[w]["is_sliding"],
            )
            for w in [*W, D1]
        ]
        assert figures == [
            (0, 30, 1.0, 0, False, False, False),
            (1, 30, 0.8, 1, False, False, False),
            (2, 30, 0.6, 2, False, False, False),  # two drops: no streak; 3 weeks: no slope flag
            (3, 30, 0.4, 3, True, True, True),  # three drops and a full window at -0.2 a week
            (4, 0, None, 0, False, False, False),  # nothing this week: the window is not full
        ]
        slopes = [shipping[w]["trend_slope"] for w in [*W, D1]]
        assert slopes[0] is None and slopes[1:] == pytest.approx([-0.2] * 4)
        assert [shipping[w]["is_complete_week"] for w in [*W, D1]] == [True] * 4 + [False]

        gifts = [
            r
            for r in builds.first.rows("topic_trends", grain=grain, team=team, topic="gifts")
            if r["week_start"] in W
        ]
        assert sorted((r["week_start"], r["cx_score"]) for r in gifts) == list(
            zip(W, [1.0, 0.75, 0.5, 0.25], strict=True)
        )
        assert [r["is_trend_eligible"] for r in gifts] == [False] * 4  # 4 < 30 conversations
        assert [(r["consecutive_declines"], r["is_sliding"]) for r in gifts] == [(0, False)] * 4
    sliding = {
        (r["grain"], r["team"], r["topic"], r["week_start"])
        for r in builds.first.rows("topic_trends", is_sliding=True)
    }
    assert sliding == {
        ("topic", None, "shipping", W[3]),
        ("team_topic", "logistics", "shipping", W[3]),
    }


def test_csat_vs_cx_coverage_and_response_bias(builds: Builds) -> None:
    (row,) = builds.first.rows("csat_vs_cx", week_start=W[3], handler="ai_only", team="logistics")
    # 30 conversations: s3-00..09 surveyed, s3-00..05 answered 5, 5, 4, 2, 1, 3; the first 12
    # scored 4 (positive), the other 18 scored 2.
    assert {k: row[k] for k in row if k.endswith("conversations")} == {
        "conversations": 30,
        "surveyed_conversations": 10,
        "answered_conversations": 6,
        "unanswered_conversations": 24,
        "csat_positive_conversations": 3,  # 5, 5, 4
        "answered_cx_positive_conversations": 6,
        "unanswered_cx_positive_conversations": 6,  # s3-06..11
        "surveyed_cx_positive_conversations": 10,
    }
    expected = {
        "survey_coverage": 10 / 30,
        "response_rate": 6 / 10,
        "csat_positive_share": 0.5,
        "answered_cx_positive_share": 1.0,
        "csat_minus_cx_positive_share": -0.5,  # customers say less than the judge here
        "mean_csat": 20 / 6,
        "answered_mean_score": 4.0,
        "unanswered_mean_score": (6 * 4 + 18 * 2) / 24,  # 2.5
        "unanswered_cx_positive_share": 0.25,
        "response_bias_mean_score": 1.5,
        "response_bias_cx_positive_share": 0.75,
        "surveyed_cx_positive_share": 1.0,
        "unsurveyed_cx_positive_share": 2 / 20,  # s3-10, s3-11 of the 20 never surveyed
        "survey_selection_bias_cx_positive_share": 0.9,
    }
    assert {k: row[k] for k in expected} == pytest.approx(expected)
    # a week without any survey: coverage 0, every CSAT-side figure and both biases null
    (quiet,) = builds.first.rows("csat_vs_cx", week_start=W[0], handler="ai_only", team="logistics")
    assert quiet["survey_coverage"] == 0.0
    assert [
        quiet[k] for k in ("response_rate", "csat_positive_share", "response_bias_mean_score")
    ] == [None] * 3


def test_handler_comparison_side_by_side(builds: Builds) -> None:
    week = {r["handler"]: r for r in builds.first.rows("handler_comparison", week_start=W[1])}
    assert [
        week[h]["handler_order"] for h in ("ai_only", "human_only", "ai_then_human", "other")
    ] == [1, 2, 3, 4]
    ai, human = week["ai_only"], week["human_only"]
    assert (ai["conversations"], ai["positive_conversations"]) == (30, 24)
    assert (human["conversations"], human["positive_conversations"]) == (4, 3)
    assert [ai["cx_score"], ai["mean_score"], ai["share_of_conversations"]] == pytest.approx(
        [0.8, (24 * 4 + 6 * 2) / 30, 30 / 34]
    )
    assert [human["cx_score"], human["mean_score"]] == pytest.approx([0.75, 3.5])
    assert [ai["cx_score_vs_human_only"], ai["mean_score_vs_human_only"]] == pytest.approx(
        [0.05, 0.1]
    )
    for handler in ("ai_then_human", "other"):  # no conversations: a row all the same
        assert week[handler]["conversations"] == 0
        assert week[handler]["cx_score"] is None and week[handler]["share_of_conversations"] == 0.0


def test_conversation_review_and_dimensions(builds: Builds) -> None:
    for marts in (builds.first, builds.d1_rerun, builds.d2_emptied):
        review = marts.tables["conversation_review"].dicts()
        assert sorted(r["conversation_id"] for r in review) == sorted(r[0] for r in marts.fct_all)
    (early,) = builds.first.rows("conversation_review", conversation_id="p-early")
    assert early["transcript"] == f"customer: {LONG_TEXT}\nagent (ai): ai turn 1"
    assert (early["score"], early["handler"], early["issues_resolved"]) == (1, "ai_only", 1)
    (handoff,) = builds.first.rows("conversation_review", conversation_id="c-handoff")
    assert handoff["transcript"].split("\n") == [
        "customer: customer turn 0",
        "agent (ai): ai turn 1",
        "customer: customer turn 2",
        "agent (human): human turn 3",
    ]

    topics = {r["topic"]: r for r in builds.first.tables["dim_topics"].dicts()}
    assert set(topics) == {"shipping", "gifts", "account", "billing", "unknown"}
    assert [
        topics["shipping"][k]
        for k in ("first_seen_date", "last_seen_date", "active_days", "conversations")
    ] == [W[0], W[3], 4, 120]
    assert topics["shipping"]["positive_conversations"] == sum(SHIPPING_POSITIVE)
    teams = {r["team"]: r["conversations"] for r in builds.first.tables["dim_teams"].dicts()}
    assert teams == {"logistics": 136, "accounts": 8, "billing": 4, "network": 1, "unassigned": 1}
    channels = {r["channel"] for r in builds.d2_emptied.tables["dim_channels"].dicts()}
    assert channels == {"chat", "email", "phone"}  # D2's social conversation is gone


def test_a_conversation_landing_again_keeps_only_its_latest_landing(tmp_path: Path) -> None:
    """A conversation reopened and exported again on a later day is one conversation: the fact
    and the review keep its latest landing; an earlier day rebuilt later does not bring the
    old landing back. raw.* keeps both landings (what arrived)."""
    warehouse = tmp_path / "warehouse.duckdb"
    env = {"CX_WAREHOUSE_PATH": str(warehouse)}
    e1, e2 = date(2026, 4, 6), date(2026, 4, 7)
    first = Day(e1, "v1", [], [], [], [])
    first.conversation("reopened", "chat", "billing", "customer", "ai")
    first.conversation("once", "chat", "billing", "customer", "human")
    first.score("reopened", 2)
    first.score("once", 4)
    second = Day(e2, "v1", [], [], [], [])
    second.conversation("reopened", "email", "billing", "customer", "ai", "customer", "human")
    second.score("reopened", 5)
    kept = """select conversation_id, conversation_date, channel, score, message_count
              from marts.{} order by conversation_id"""

    write_day(warehouse, first)
    dbt(tmp_path, env, "build")  # the first build: every day
    write_day(warehouse, second)
    dbt(tmp_path, env, "build", "--vars", window(e2))  # the daily run of E2
    latest = [("once", e1, "chat", 4, 2), ("reopened", e2, "email", 5, 4)]
    assert query(warehouse, kept.format("fct_conversation_scores")) == latest
    assert query(warehouse, kept.format("conversation_review")) == latest
    dbt(tmp_path, env, "build", "--vars", window(e1))  # E1 rebuilt later
    assert query(warehouse, kept.format("fct_conversation_scores")) == latest
    assert query(warehouse, kept.format("conversation_review")) == latest
    dbt(tmp_path, env, "build", "--full-refresh")
    assert query(warehouse, kept.format("fct_conversation_scores")) == latest
    landed = "select count(*) from raw.conversations where conversation_id = 'reopened'"
    assert query(warehouse, landed) == [(2,)]


def test_the_views_tests_check_the_runs_window_only(tmp_path: Path) -> None:
    """The staging and intermediate views read every day ever loaded; their tests check the
    run's window (a daily run would otherwise re-scan the whole history for each test), and
    every day when the run has no window."""
    warehouse = tmp_path / "warehouse.duckdb"
    env = {"CX_WAREHOUSE_PATH": str(warehouse)}
    write_day(warehouse, day_1())
    write_day(warehouse, day_2())
    with duckdb.connect(str(warehouse)) as con:  # a role the staging test refuses, on D1 only
        con.execute("update raw.messages set role = 'bot' where partition_date = ? and "
                    "conversation_id = 'c-ai' and message_index = 0", [D1])  # fmt: skip
    dbt(tmp_path, env, "run", "--select", "stg_raw__messages")
    role_test = ["test", "--select", "stg_raw__messages,test_name:accepted_values"]
    dbt(tmp_path, env, *role_test, "--vars", window(D2))  # D2's window: passes
    with pytest.raises(AssertionError, match="accepted_values_stg_raw__messages_role"):
        dbt(tmp_path, env, *role_test)  # no window: every day


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
        "test_handler_comparison_cx_score",  # the KPI per handler
        "test_topic_trends_flags_streaks_and_slopes_not_noise",  # the trend flag
        "test_csat_vs_cx_response_bias",  # the response-bias arithmetic
    } <= unit_tests
    # A unit test runs as a relation of its name: PostgreSQL cuts identifiers at 63 bytes.
    assert max(len(name.encode()) for name in unit_tests) <= 63

    # Every mart: an enforced contract, a description, and a type and description per column.
    marts = [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["schema"] == "marts"
    ]
    assert len(marts) >= 12
    for node in marts:
        assert node["config"]["contract"]["enforced"], node["name"]
        assert node["description"].strip(), node["name"]
        assert node["columns"], node["name"]
        for column in node["columns"].values():
            assert column["data_type"] and column["description"].strip(), (node["name"], column)

    # One definition of the KPIs for a BI tool, and exposures for what reads the marts.
    metrics = {node["name"]: node for node in manifest["metrics"].values()}
    assert {"cx_score", "csat_score", "survey_coverage"} <= set(metrics)
    assert metrics["cx_score"]["type_params"]["numerator"]["name"] == "positive_conversations"
    exposures = {node["name"]: node for node in manifest["exposures"].values()}
    headline = {ref.split(".")[-1] for ref in exposures["demo_headline"]["depends_on"]["nodes"]}
    assert {"spotlight_ai_resolved_poor", "topic_trends", "csat_vs_cx"} <= headline
    dashboard = exposures["cx_score_dashboard"]["depends_on"]["nodes"]
    assert {ref.split(".")[-1] for ref in dashboard} >= {node["name"] for node in marts} - {
        "metricflow_time_spine"
    }


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
    from psycopg2.extras import execute_values

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
                execute_values(
                    cur,
                    f"insert into {table} ({', '.join(names)}) values %s",
                    [[row.get(name) for name in names] for row in rows],
                )
    finally:
        con.close()


def _normal(value: object) -> object:
    """One spelling of a value for both databases: floats to 9 decimals (the only tolerance:
    sums of doubles may differ in their last bits between engines), -0.0 as 0.0, timestamps
    in UTC. Anything else, types included, must match exactly."""
    if isinstance(value, float):
        return round(value, 9) + 0.0
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    return value


def comparable(table: Table) -> tuple[list[str], list[tuple]]:
    """Columns in order, rows normalised and sorted the same way whatever the collation."""
    rows = [tuple(_normal(value) for value in row) for row in table.rows]
    return table.columns, sorted(rows, key=repr)


def _pg_marts(env: dict[str, str], names: set[str]) -> dict[str, Table]:
    import psycopg2

    con = psycopg2.connect(
        host=env["CX_PG_HOST"],
        port=int(env["CX_PG_PORT"]),
        user=env["CX_PG_USER"],
        dbname=env["CX_PG_DATABASE"],
    )
    try:
        with con.cursor() as cur:
            cur.execute(
                "select table_name from information_schema.tables where table_schema = 'marts'"
            )
            assert {name for (name,) in cur.fetchall()} == names
            tables = {}
            for name in sorted(names):
                cur.execute(f"select * from marts.{name}")
                tables[name] = Table([c.name for c in cur.description], cur.fetchall())
            return tables
    finally:
        con.close()


def assert_same_marts(postgres: dict[str, Table], duck: dict[str, Table]) -> None:
    assert sorted(postgres) == sorted(duck)
    differing = {}
    for name in sorted(duck):
        pg_columns, pg_rows = comparable(postgres[name])
        duck_columns, duck_rows = comparable(duck[name])
        if pg_columns != duck_columns:
            differing[name] = ("columns", pg_columns, duck_columns)
        elif pg_rows != duck_rows:
            only_pg = [row for row in pg_rows if row not in duck_rows]
            only_duck = [row for row in duck_rows if row not in pg_rows]
            differing[name] = ("rows", len(pg_rows), len(duck_rows), only_pg[:3], only_duck[:3])
    assert not differing, differing


@pytest.mark.postgres
def test_the_same_marts_on_postgres(
    builds: Builds, postgres: dict[str, str], tmp_path: Path
) -> None:
    """Every model of the marts schema, row for row, after a full build and after a rerun
    of one day, against DuckDB's builds of the same rows."""
    names = set(builds.first.tables)
    assert len(names) >= 12  # the manifest's list: the three first marts, spotlight, dims, ...
    for day in [*background_days(), day_1(), day_2()]:
        _pg_write_day(postgres, day)
    dbt(tmp_path, postgres, "build", "--target", "postgres")
    assert mart_names(tmp_path / "target" / "manifest.json") == names
    assert_same_marts(_pg_marts(postgres, names), builds.first.tables)

    _pg_write_day(postgres, day_1(without_human=True))
    dbt(tmp_path, postgres, "build", "--target", "postgres", "--vars", window(D1))
    assert_same_marts(_pg_marts(postgres, names), builds.d1_rerun.tables)
