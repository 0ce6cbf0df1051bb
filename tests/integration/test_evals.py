"""The eval command end to end on small fixtures: the real offline judge, real files, a real DuckDB.

The fixtures are written here (never the shared data): labelled contract records, and files in
the public sets' formats (STC-3 helpdesk with A/S/E, USS with subsets) in a temporary data folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, f1_score

from evals.cli import main
from evals.crossfit import CrossFittedJudge
from evals.datasets import load_builtin
from evals.evaluate import evaluate_set
from evals.metrics import majority_low
from evals.report import EvalRun, write_outputs
from evals.warehouse import write_agreement
from orchestration.contract.models import Conversation
from orchestration.judge import OfflineJudge
from orchestration.settings import REPO_ROOT
from tests.conftest import conversation, jsonl

pytestmark = pytest.mark.integration

# (turns, the human label) - the offline judge rates these 5, 2, 3, 5, 2.
STORIES: list[tuple[list[tuple[str, str]], int]] = [
    (
        [
            ("customer", "I was charged twice for March."),
            ("human", "I have refunded the duplicate charge."),
            ("customer", "Thanks, that is sorted, great service!"),
        ],
        5,
    ),
    (
        [
            ("customer", "My order never arrived and nobody answers."),
            ("ai", "Please contact us via the website."),
            ("customer", "This is useless, still no parcel. Terrible."),
        ],
        1,
    ),
    (
        [
            ("customer", "How do I reset my password?"),
            ("ai", "Click Forgot password on the login page."),
            ("customer", "ok"),
        ],
        4,
    ),
    (
        [
            ("customer", "The app crashes every time I open it. Very frustrating."),
            ("human", "Sorry about that, please reinstall the app, that fixes it."),
            ("customer", "Reinstalled, works now. Thank you so much!"),
        ],
        3,
    ),
    (
        [
            ("customer", "I want to cancel my subscription."),
            ("human", "I cannot do that here, please call support."),
            ("customer", "I already called three times. Awful."),
        ],
        2,
    ),
]
SECRET_TEXT = "charged twice for March"


def _ratings(label: int, i: int) -> list[int]:
    """Three or four raters around the label whose majority (ties low) is the label."""
    other = min(5, label + 1) if i % 2 else max(1, label - 1)
    ratings = [label, other, label] + ([label] if i % 4 == 0 else [])
    assert majority_low(ratings) == label
    return ratings


def labelled_records(count: int = 30) -> list[dict[str, Any]]:
    records = []
    for i in range(count):
        turns, label = STORIES[i % len(STORIES)]
        # Every seventh label is off by one, so the judge is not trivially perfect.
        human = min(5, label + 1) if i % 7 == 6 else label
        record = conversation(f"c-{i:03d}", *turns)
        record.update(
            human_score=human,
            annotator_scores=_ratings(human, i),
            subset="north" if i % 2 else "south",
        )
        records.append(record)
    return records


@pytest.fixture
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Every pipeline path in a temp dir: nothing touches the repository's data/."""
    values = {
        "CX_WAREHOUSE_PATH": str(tmp_path / "default-warehouse.duckdb"),
        "CX_LANDING_DIR": str(tmp_path / "landing"),
        "CX_LAKE_DIR": str(tmp_path / "lake"),
        "CX_DATA_DIR": str(tmp_path / "no-data"),
        "DAGSTER_HOME": str(tmp_path / "dagster"),
        "MPLBACKEND": "Agg",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CX_JUDGE_BASE_URL", raising=False)
    return {**os.environ, **values}


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evals", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _slice(report: dict[str, Any], dataset: str, name: str) -> dict[str, Any]:
    entry = next(d for d in report["datasets"] if d["dataset"] == dataset)
    return next(s for s in entry["slices"] if s["slice"] == name)


def test_eval_command_end_to_end(tmp_path: Path, isolated_env: dict[str, str]) -> None:
    records = labelled_records()
    source = tmp_path / "labelled.jsonl"
    source.write_bytes(jsonl(records))
    out = tmp_path / "report"
    warehouse = tmp_path / "wh.duckdb"
    args = ["--input", str(source), "--out", str(out), "--warehouse", str(warehouse)]
    args += ["--bootstrap", "300", "--seed", "3"]

    done = _cli([*args, "--run-id", "run-1"], isolated_env)
    assert done.returncode == 0, done.stderr
    assert "F1(4-5)" in done.stdout and "ceiling" in done.stdout

    report = json.loads((out / "metrics.json").read_text())
    assert report["judge"]["kind"] == "offline" and report["bootstrap"]["seed"] == 3
    names = [s["slice"] for s in report["datasets"][0]["slices"]]
    assert names == ["all", "subset:north", "subset:south", "agent_kind:ai", "agent_kind:human"]
    overall = _slice(report, "labelled", "all")
    assert overall["n"] == len(records)

    # The judge's figures, recomputed here from the same judge and scikit-learn.
    judge = OfflineJudge()
    human = np.asarray([r["human_score"] for r in records])
    scores = np.asarray([judge.judge(Conversation.model_validate(r)).score for r in records])
    f1 = overall["metrics"]["f1_4_5"]["judge"]
    assert f1["value"] == pytest.approx(f1_score(human >= 4, scores >= 4))
    assert f1["ci_low"] <= f1["value"] <= f1["ci_high"]
    qwk = overall["metrics"]["qwk"]["judge"]["value"]
    assert qwk == pytest.approx(cohen_kappa_score(human, scores, weights="quadratic"))
    assert overall["confusion"]["counts"][0][1] == int(((human == 1) & (scores == 2)).sum())

    # The ceiling: every rater against the majority of the others, pooled.
    consensus, rater = [], []
    for r in records:
        ratings = r["annotator_scores"]
        for k, score in enumerate(ratings):
            consensus.append(majority_low(ratings[:k] + ratings[k + 1 :]))
            rater.append(score)
    ceiling = overall["metrics"]["f1_4_5"]["human_ceiling"]["value"]
    assert ceiling == pytest.approx(f1_score(np.asarray(consensus) >= 4, np.asarray(rater) >= 4))
    assert overall["ceiling_pairs"] == len(rater)

    # Files: a report with the ceiling beside every metric, small PNGs, no transcript text.
    markdown = (out / "report.md").read_text()
    assert "human ceiling" in markdown and "| F1, rated 4-5 vs not |" in markdown
    pngs = sorted(out.glob("*.png"))
    assert [p.name for p in pngs] == [
        "labelled__all__calibration.png",
        "labelled__all__confusion.png",
        "labelled__all__distribution.png",
    ]
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert 5_000 < png.stat().st_size < 200_000
    for path in out.iterdir():
        assert SECRET_TEXT not in path.read_bytes().decode("latin-1"), path.name
    assert not (out / "predictions.csv").exists()

    # The warehouse table: one row per slice x metric, the same numbers as the JSON.
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "select count(*), count(distinct run_id) from evals.judge_agreement"
        ).fetchone()
        value, ceiling_db, subset, in_sample = con.execute(
            "select value, human_ceiling, subset, in_sample from evals.judge_agreement "
            "where run_id = 'run-1' and slice = 'all' and metric = 'f1_4_5'"
        ).fetchone()
        subsets = con.execute(
            "select distinct subset, agent_kind from evals.judge_agreement "
            "where slice like 'subset:%' order by subset"
        ).fetchall()
    assert rows == (5 * 11, 1)
    assert value == pytest.approx(f1["value"]) and ceiling_db == pytest.approx(ceiling)
    assert (subset, in_sample) == ("all", False)
    assert subsets == [("north", "all"), ("south", "all")]

    # The history is append-only: the same run id is refused, a new one is appended.
    again = _cli([*args, "--run-id", "run-1", "--no-plots"], isolated_env)
    assert again.returncode == 1
    assert "'run-1' is already in evals.judge_agreement" in again.stderr
    assert main([*args, "--run-id", "run-2", "--no-plots", "--predictions"]) == 0
    with duckdb.connect(str(warehouse), read_only=True) as con:
        counts = con.execute(
            "select run_id, count(*) from evals.judge_agreement group by run_id order by run_id"
        ).fetchall()
    assert counts == [("run-1", 55), ("run-2", 55)]
    predictions = (out / "predictions.csv").read_text().splitlines()
    assert predictions[0].startswith("dataset,conversation_id,human_score,")
    assert len(predictions) == 1 + len(records)


def _stc3_record(i: int) -> dict[str, Any]:
    turns, label = STORIES[i % len(STORIES)]
    accomplished = {5: 1.2, 1: -1.5, 4: 0.5, 3: 0.8, 2: -1.0}[label]
    return {
        "conversation_id": f"stc3-{i}",
        "source": "stc3_dch1",
        "channel": "social_media",
        "agent_kind": "human",
        "messages": [
            {"role": "customer" if who == "customer" else "agent", "text": text}
            for who, text in turns
        ],
        "human_score": label,
        "annotator_scores": [label] * 10 + [min(5, label + 1)] * 5 + [max(1, label - 1)] * 4,
        "quality": {
            "A": {"median": 0, "mean": accomplished},
            "S": {"median": 0, "mean": accomplished / 2},
            "E": {"median": 0, "mean": 0.3 - (i % 3) * 0.2},
        },
    }


def _uss_record(i: int) -> dict[str, Any]:
    subset = "SGD" if i % 2 else "MWOZ"
    record = _stc3_record(i)
    del record["quality"]
    record.update(
        conversation_id=f"uss-{subset}-{i}",
        source="uss",
        subset=subset,
        channel="chat",
        agent_kind="ai_simulated" if subset == "SGD" else "human_wizard",
        annotator_scores=_ratings(record["human_score"], i),
    )
    return record


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "stc3_dch1_en.dev.jsonl").write_bytes(jsonl([_stc3_record(i) for i in range(25)]))
    uss = [_uss_record(i) for i in range(40)]
    uss.append({**_uss_record(40), "human_score": None})  # unlabelled: skipped and counted
    (folder / "uss.jsonl").write_bytes(jsonl(uss))
    return folder


def test_public_sets_by_subset_and_agent_kind_with_subscore_validity(
    tmp_path: Path, data_dir: Path, isolated_env: dict[str, str]
) -> None:
    out = tmp_path / "out"
    code = main(
        ["--data-dir", str(data_dir), "--out", str(out), "--no-warehouse", "--bootstrap", "100"]
    )
    assert code == 0
    report = json.loads((out / "metrics.json").read_text())
    assert [d["dataset"] for d in report["datasets"]] == ["stc3_dev", "uss"]
    stc3, uss = report["datasets"]
    assert stc3["consensus_reproduces_label"] == {"checked": 25, "reproduced": 25}
    assert uss["skipped"] == {"no_label": 1} and uss["conversations"] == 40
    assert [s["slice"] for s in uss["slices"]] == [
        "all",
        "subset:MWOZ",
        "subset:SGD",
        "agent_kind:ai_simulated",
        "agent_kind:human_wizard",
    ]
    assert _slice(report, "uss", "subset:SGD")["n"] == 20
    assert _slice(report, "stc3_dev", "all")["ceiling_pairs"] == 25 * 19
    validity = {(c["judge_score"], c["human_rating"]): c for c in stc3["subscore_validity"]}
    assert {("resolution_score", "A"), ("efficiency_score", "E")} <= set(validity)
    # The fixture's A follows the label, which the offline judge's resolution follows.
    assert validity[("resolution_score", "A")]["spearman"]["value"] > 0.5
    assert uss["subscore_validity"] == []
    markdown = (out / "report.md").read_text()
    assert "sub-score validity" in markdown and "IN-SAMPLE" not in markdown
    assert len(list(out.glob("*.png"))) == 6


def test_the_trained_judge_out_of_fold(
    tmp_path: Path, data_dir: Path, isolated_env: dict[str, str]
) -> None:
    """--cross-fit: each labelled conversation judged by a model fitted without it."""
    out = tmp_path / "out"
    args = ["--judge", "trained", "--cross-fit", "--data-dir", str(data_dir), "--out", str(out)]
    code = main([*args, "--no-warehouse", "--bootstrap", "50", "--no-plots"])
    assert code == 0
    report = json.loads((out / "metrics.json").read_text())
    assert report["judge"]["name"] == "cx-offline-trained"
    assert "+crossfit" in report["judge"]["version"]
    assert report["judge"]["training_sets"] == [] and report["in_sample_warning"] is None
    assert "IN-SAMPLE" not in (out / "report.md").read_text()
    assert [d["conversations"] for d in report["datasets"]] == [25, 40]

    judge = CrossFittedJudge(data_dir, seed=0)
    sets = [load_builtin(name, data_dir) for name in ("stc3_dev", "uss")]
    labelled = [item.conversation for s in sets for item in s.items]
    assert set(judge.fold_of) == {c.conversation_id for c in labelled}
    for cid, fold in judge.fold_of.items():
        assert cid not in judge.trained_on[fold]
    verdicts = judge.judge_many(labelled)
    assert all(not isinstance(v, Exception) for v in verdicts)
    assert sorted(judge._judges) == list(range(len(judge.splits)))  # no all-data model used
    other = Conversation.model_validate(conversation("not-labelled", *STORIES[0][0]))
    judge.judge_many([other])
    assert -1 in judge._judges  # a conversation outside the training data: the all-data model


class UssSgdTrainedJudge(OfflineJudge):
    """The rule judge, declaring (as a trained judge does) the sets it learnt from."""

    training_sets = ("uss_SGD",)


def test_results_on_training_sets_are_marked_in_sample(tmp_path: Path, data_dir: Path) -> None:
    judge = UssSgdTrainedJudge()
    sets = [load_builtin(name, data_dir) for name in ("stc3_dev", "uss")]
    results = [evaluate_set(s, judge, 50, 0, judge.training_sets) for s in sets]
    in_sample = {(d.name, s.slice): s.in_sample_share for d in results for s in d.slices}
    assert in_sample == {
        ("stc3_dev", "all"): 0.0,
        ("uss", "all"): 0.5,
        ("uss", "subset:MWOZ"): 0.0,
        ("uss", "subset:SGD"): 1.0,
        ("uss", "agent_kind:ai_simulated"): 1.0,
        ("uss", "agent_kind:human_wizard"): 0.0,
    }
    run = EvalRun(
        run_id="in-sample",
        run_at=datetime(2026, 3, 2, tzinfo=UTC),
        judge_kind=judge.kind,
        judge_name=judge.name,
        judge_version=judge.version,
        judge_model=None,
        n_boot=50,
        seed=0,
        limit=None,
        datasets=results,
        training_sets=judge.training_sets,
    )
    paths = write_outputs(run, tmp_path / "out", plots=False)
    markdown = paths["markdown"].read_text()
    assert "> **IN-SAMPLE: the judge was trained on uss_SGD" in markdown
    assert "| uss | subset:SGD **IN-SAMPLE** |" in markdown
    assert "| uss | all **IN-SAMPLE (50%)** |" in markdown
    assert "| stc3_dev | all |" in markdown
    report = json.loads(paths["json"].read_text())
    assert report["in_sample_warning"].startswith("IN-SAMPLE")
    assert _slice(report, "uss", "subset:SGD")["in_sample"] is True
    assert _slice(report, "uss", "subset:MWOZ")["in_sample"] is False
    warehouse = tmp_path / "wh.duckdb"
    write_agreement(warehouse, run)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        marked = con.execute(
            "select distinct dataset, slice from evals.judge_agreement where in_sample order by all"
        ).fetchall()
    assert marked == [("uss", "agent_kind:ai_simulated"), ("uss", "all"), ("uss", "subset:SGD")]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"channel": "fax"}, "labelled.jsonl:2 (conversation_id='c-001') field 'channel'"),
        ({"human_score": 7}, "labelled.jsonl:2 (conversation_id='c-001') field 'human_score'"),
        (
            {"annotator_scores": [4, "5"]},
            "labelled.jsonl:2 (conversation_id='c-001') field 'annotator_scores[1]'",
        ),
        ({"messages": []}, "labelled.jsonl:2 (conversation_id='c-001') field 'messages'"),
    ],
)
def test_bad_input_names_the_record_and_field(
    tmp_path: Path,
    isolated_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    change: dict[str, Any],
    message: str,
) -> None:
    records = labelled_records(3)
    records[1].update(change)
    source = tmp_path / "labelled.jsonl"
    source.write_bytes(jsonl(records))
    assert main(["--input", str(source), "--no-warehouse", "--out", str(tmp_path / "o")]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_unavailable_judge_is_a_clear_usage_error(
    tmp_path: Path, isolated_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--judge", "llm", "--no-warehouse", "--out", str(tmp_path / "o")]) == 2
    assert "set CX_JUDGE_BASE_URL or pass --base-url" in capsys.readouterr().err


def test_llm_judge_through_the_pipeline_resource(
    tmp_path: Path, isolated_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--judge llm` builds the judge the way the pipeline does (`JudgeResource`) and talks to a
    real OpenAI-compatible server on loopback; a conversation it cannot rate is left out and
    counted, never scored."""
    from tests.llm_server import FaultServer

    records = labelled_records(6)
    records[2]["messages"][0]["text"] += " FAULT:schema:bad"
    source = tmp_path / "labelled.jsonl"
    source.write_bytes(jsonl(records))
    monkeypatch.setenv("CX_JUDGE_MODEL", "tiny-test-model")
    monkeypatch.setenv("CX_JUDGE_MAX_RETRIES", "0")
    out = tmp_path / "llm"
    with FaultServer() as server:
        args = ["--judge", "llm", "--base-url", server.url, "--input", str(source)]
        code = main([*args, "--out", str(out), "--no-warehouse", "--bootstrap", "50"])
    assert code == 0
    report = json.loads((out / "metrics.json").read_text())
    assert report["judge"]["kind"] == "llm" and report["judge"]["model"] == "tiny-test-model"
    dataset = report["datasets"][0]
    assert sum(dataset["judge_errors"].values()) == 1
    assert _slice(report, "labelled", "all")["n"] == len(records) - 1


def test_how_many_own_labels_a_new_source_needs(
    tmp_path: Path, data_dir: Path, isolated_env: dict[str, str]
) -> None:
    """`python -m evals.labels_needed`: the other sources plus n drawn labels of the source."""
    from evals.labels_needed import label_curve
    from evals.labels_needed import main as labels_main
    from orchestration.judge.trained.data import load_labelled
    from orchestration.judge.trained.features import observe_many
    from orchestration.judge.trained.model import fit_model
    from orchestration.judge.trained.train import training_targets

    data = load_labelled(data_dir)
    observed = observe_many(OfflineJudge(), [e.conversation for e in data.examples])
    curve = label_curve(data, observed, "stc3_dev", sizes=[0, 10], draws=2, seed=0)
    assert curve["trained_with"] == ["uss_MWOZ", "uss_SGD"]
    assert curve["source_conversations"] == 25
    zero, ten = curve["points"]
    assert (zero["n"], zero["draws"], ten["n"], ten["draws"]) == (0, 1, 10, 2)
    # n = 0 is leave-one-dataset-out: the other sources' model alone, scored on all 25.
    uss = [i for i, e in enumerate(data.examples) if e.set_name.startswith("uss")]
    stc3 = [i for i, e in enumerate(data.examples) if e.set_name == "stc3_dev"]
    alone = fit_model(
        [observed[i] for i in uss], training_targets([data.examples[i] for i in uss]), seed=0
    )
    share = alone.predict([observed[i] for i in stc3]).positive.mean()
    assert zero["runs"][0]["scored"] == 25 and zero["runs"][0]["drawn"] == []
    assert zero["predicted_share_4_5"]["mean"] == pytest.approx(share, abs=1e-4)
    assert not zero["runs"][0]["own_family"]
    # Each draw holds 10 of the source's conversations out of its scoring, and draws differ.
    first, second = ten["runs"]
    assert len(set(first["drawn"])) == 10 and first["scored"] == 15
    assert all(cid.startswith("stc3-") for cid in first["drawn"])
    assert first["drawn"] != second["drawn"]
    assert ten["own_family_fitted"] >= 1  # the drawn labels trained a family of their own
    assert label_curve(data, observed, "stc3_dev", sizes=[0, 10], draws=2, seed=0) == curve

    out = tmp_path / "curve.json"
    args = ["--data-dir", str(data_dir), "--source", "stc3_dev"]
    assert labels_main([*args, "--sizes", "0", "5", "--draws", "1", "--out", str(out)]) == 0
    assert [p["n"] for p in json.loads(out.read_text())["points"]] == [0, 5]
    assert labels_main([*args, "--sizes", "25"]) == 2  # as many as the source has: none to score
    assert labels_main(["--data-dir", str(data_dir), "--source", "acme"]) == 2
