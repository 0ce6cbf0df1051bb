"""The code location loads, and what a data team sees in the UI is all there."""

from __future__ import annotations

from datetime import UTC, datetime

from dagster import AssetKey, build_schedule_context

from orchestration.definitions import defs

PYTHON_STAGES = ["raw_conversations", "conversation_scores", "warehouse_partition"]


def test_definitions_load_with_every_stage_and_the_marts() -> None:
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string().split("/")[-1] for key in graph.get_all_asset_keys()}
    assert set(PYTHON_STAGES) <= keys
    assert {"fct_conversation_scores", "cx_daily", "int_conversations_handled"} <= keys


def test_every_asset_is_partitioned_described_grouped_and_owned() -> None:
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.partitions_def is not None, key
        assert node.group_name, key
        assert node.owners, key
    for name in PYTHON_STAGES:
        assert len(graph.get(AssetKey(name)).description or "") > 80, name


def _ancestors(key: AssetKey) -> set[AssetKey]:
    graph = defs.resolve_asset_graph()
    seen: set[AssetKey] = set()
    todo = [key]
    while todo:
        for parent in graph.get(todo.pop()).parent_keys:
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def test_marts_sit_downstream_of_every_python_stage() -> None:
    ancestors = _ancestors(AssetKey(["marts", "fct_conversation_scores"]))
    assert {AssetKey(name) for name in PYTHON_STAGES} <= ancestors


def test_accounting_check_blocks_the_load() -> None:
    checks = {
        key.name: defs.resolve_asset_graph().get_check_spec(key)
        for key in defs.resolve_asset_graph().asset_check_keys
    }
    assert checks["every_conversation_accounted_for"].blocking
    assert checks["every_conversation_accounted_for"].asset_key == AssetKey("warehouse_partition")
    assert checks["scores_within_rubric_range"].blocking


def test_daily_schedule_runs_yesterdays_partition() -> None:
    schedule = defs.resolve_schedule_def("daily_cx_schedule")
    assert schedule.cron_schedule == "0 1 * * *"
    assert schedule.execution_timezone in (None, "UTC")
    context = build_schedule_context(
        scheduled_execution_time=datetime(2026, 3, 3, 1, 0, tzinfo=UTC),
        repository_def=defs.get_repository_def(),
    )
    (request,) = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2026-03-02"
