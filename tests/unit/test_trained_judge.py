"""The trained offline judge on a small hand-written labelled set (never the shared data).

Real training (scikit-learn), real artifact files in a temp dir, real verdicts.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from orchestration.contract.models import Conversation
from orchestration.judge.base import Judge
from orchestration.judge.offline import OfflineJudge
from orchestration.judge.trained import NoLabelledDataError, TrainedJudge, load_trained_judge
from orchestration.judge.trained.artifact import ARTIFACT_NAME, CARD_NAME
from orchestration.judge.trained.data import load_labelled, load_own_labels
from orchestration.judge.trained.features import observe_many
from orchestration.judge.trained.train import evaluate, format_report, train

HAPPY = [
    ("My order 4411 has not arrived yet, can you check?", "I have refunded the order, sorry.",
     "Thank you so much, that worked perfectly!"),
    ("I was charged twice for March.", "I've refunded the duplicate charge.",
     "Great, thanks a lot, problem solved!"),
    ("Can you book a table for two tonight?", "Your table is booked for 7 pm.",
     "Perfect, thank you, that is exactly what I needed."),
    ("My router keeps dropping the signal.", "Restart it, then go to settings and update.",
     "That fixed it, thank you, excellent help!"),
]  # fmt: skip
UNHAPPY = [
    ("My order 4411 has not arrived yet, can you check?", "Please contact customer service.",
     "This is useless, still no answer, terrible service."),
    ("I was charged twice for March.", "We are unable to help with that.",
     "Ridiculous. Still charged twice and nobody helps."),
    ("Can you book a table for two tonight?", "Sorry, we cannot do that.",
     "Terrible, this is a waste of time, I am disappointed."),
    ("My router keeps dropping the signal.", "I don't know, please call the hotline.",
     "Still not working, awful, worst support ever."),
]  # fmt: skip
NEUTRAL = [
    ("What are your opening hours?", "We open at 9 am.", "Ok."),
    ("Where is the nearest store?", "The nearest store is on Main Street.", "Noted."),
]  # fmt: skip


def _messages(turns: tuple[str, ...]) -> list[dict]:
    return [
        {"role": "customer" if i % 2 == 0 else "agent", "text": text}
        for i, text in enumerate(turns)
    ]


def _stc3(cid: str, turns: tuple[str, ...], score: int) -> dict:
    raters = [score] * 5 + [3]
    return {
        "conversation_id": cid,
        "source": "stc3_dch1",
        "channel": "social_media",
        "agent_kind": "human",
        "messages": _messages(turns),
        "human_score": score,
        "annotator_scores": raters,
        "human_score_mean": sum(raters) / len(raters),
        "quality_1to5_median": {"A": 4 if score >= 4 else 2, "S": score, "E": 4},
    }


def _turn_ratings(turns: tuple[str, ...], score: int) -> list[dict]:
    """USS-style ratings of each customer turn: 3 until the last, which leans to the score."""
    customer = range(0, len(turns), 2)
    last = customer[-1]
    return [
        {"message_index": i, "scores": [score, score, 3] if i == last else [3, 3, 3]}
        for i in customer
    ]


def _uss(cid: str, subset: str, turns: tuple[str, ...], score: int) -> dict:
    return {
        "conversation_id": cid,
        "source": "uss",
        "subset": subset,
        "channel": "chat",
        "agent_kind": "ai_simulated" if subset == "SGD" else "human_wizard",
        "messages": _messages(turns),
        "human_score": score,
        "annotator_scores": [score, score, 3],
        "human_score_mean": (2 * score + 3) / 3,
        "turn_scores": _turn_ratings(turns, score),
    }


def _write(folder: Path, name: str, records: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 labelled conversations over three sets: happy ones rated 4-5, the rest 2-3."""
    folder = tmp_path_factory.mktemp("labelled")
    stc3, uss = [], []
    for copy in range(2):
        for i, turns in enumerate(HAPPY):
            stc3.append(_stc3(f"stc3-h{copy}{i}", turns, 4 + (i % 2)))
            uss.append(_uss(f"uss-SGD-h{copy}{i}", "SGD", turns, 4))
        for i, turns in enumerate(UNHAPPY):
            stc3.append(_stc3(f"stc3-u{copy}{i}", turns, 2))
            uss.append(_uss(f"uss-MWOZ-u{copy}{i}", "MWOZ", turns, 2 + (i % 2)))
        for i, turns in enumerate(NEUTRAL):
            stc3.append(_stc3(f"stc3-n{copy}{i}", turns, 3))
            uss.append(_uss(f"uss-MWOZ-n{copy}{i}", "MWOZ", turns, 3))
    _write(folder, "stc3_dch1_en.dev.jsonl", stc3)
    _write(folder, "uss.jsonl", uss)
    return folder


def _conversation(cid: str, turns: tuple[str, ...]) -> Conversation:
    messages = [
        {**m, "author_kind": "human"} if m["role"] == "agent" else m for m in _messages(turns)
    ]
    return Conversation.model_validate(
        {"conversation_id": cid, "channel": "chat", "messages": messages,
         "started_at": "2026-03-02T09:00:00Z"}
    )  # fmt: skip


NEW_HAPPY = _conversation(
    "new-happy",
    ("My parcel 7781 is late, can you check?", "I have refunded the parcel.",
     "Thank you, that worked, excellent!"),
)  # fmt: skip
NEW_UNHAPPY = _conversation(
    "new-unhappy",
    ("My parcel 7781 is late, can you check?", "Please contact the hotline.",
     "Useless, still nothing, terrible."),
)  # fmt: skip


def test_same_seed_trains_the_same_model(data_dir: Path, tmp_path: Path) -> None:
    first = train(data_dir, tmp_path / "a", seed=7, report=False)
    second = train(data_dir, tmp_path / "b", seed=7, report=False)
    assert first.card["model_sha256"] == second.card["model_sha256"]
    assert first.card["version"] == second.card["version"]
    items = observe_many(OfflineJudge(), [NEW_HAPPY, NEW_UNHAPPY])
    a, b = first.model.predict(items), second.model.predict(items)  # type: ignore[arg-type]
    np.testing.assert_array_equal(a.probability, b.probability)
    np.testing.assert_array_equal(a.score, b.score)
    assert a.family == b.family
    for name, family in first.model.families.items():
        assert family.threshold == second.model.families[name].threshold


def test_a_small_labelled_set_trains_and_scores(data_dir: Path, tmp_path: Path) -> None:
    judge = load_trained_judge(model_dir=tmp_path / "models", data_dir=data_dir)
    assert isinstance(judge, Judge)
    assert judge.kind == "offline"
    assert judge.training_sets == ["stc3_dev", "uss_MWOZ", "uss_SGD"]
    happy, unhappy = judge.judge_many([NEW_HAPPY, NEW_UNHAPPY])
    assert not isinstance(happy, Exception) and not isinstance(unhappy, Exception)
    assert happy.score >= 4
    assert unhappy.score <= 3
    card = json.loads((tmp_path / "models" / CARD_NAME).read_text())
    assert card["training_rows"] == {"stc3_dev": 20, "uss_MWOZ": 12, "uss_SGD": 8}
    assert card["subscore_models"] == []  # 20 helpdesk rows: too few for sub-score models
    # One model per source family, each on its own sets only.
    assert {name: f["training_sets"] for name, f in card["families"].items()} == {
        "stc3_dev": ["stc3_dev"],
        "uss": ["uss_MWOZ", "uss_SGD"],
    }


def test_missing_artifact_is_trained_on_first_use_and_logged(
    data_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    models = tmp_path / "models"
    with caplog.at_level(logging.WARNING, logger="orchestration.judge.trained"):
        first = load_trained_judge(model_dir=models, data_dir=data_dir)
    assert (models / ARTIFACT_NAME).is_file()
    assert any("missing" in r.getMessage() and "training it now" in r.getMessage()
               for r in caplog.records)  # fmt: skip
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="orchestration.judge.trained"):
        again = load_trained_judge(model_dir=models, data_dir=data_dir)
    assert not caplog.records  # present now: loaded, not retrained
    assert again.version == first.version


def test_version_changes_with_the_artifact(data_dir: Path, tmp_path: Path) -> None:
    one = load_trained_judge(model_dir=tmp_path / "one", data_dir=data_dir, seed=0)
    (tmp_path / "two").mkdir()
    records = (data_dir / "stc3_dch1_en.dev.jsonl").read_text().splitlines()
    other_data = tmp_path / "other"
    _write(other_data, "stc3_dch1_en.dev.jsonl", [json.loads(r) for r in records[:-4]])
    two = load_trained_judge(model_dir=tmp_path / "two", data_dir=other_data, seed=0)
    assert one.version != two.version
    assert two.training_sets == ["stc3_dev"]


def test_the_verdict_says_which_cues_drove_it(data_dir: Path, tmp_path: Path) -> None:
    judge = load_trained_judge(model_dir=tmp_path / "models", data_dir=data_dir)
    verdict = judge.judge(NEW_UNHAPPY)
    assert verdict.rationale.startswith(f"Model score {verdict.score} (P(4-5) ")
    assert "rubric rule alone" in verdict.rationale
    drivers = verdict.rationale.split("Drivers: ", 1)[1].split(". ", 1)[0]
    assert drivers != "none"
    # Signed features: a cue name or a quoted n-gram from one of the three texts.
    assert drivers.startswith(("+", "-"))
    assert any(word in drivers for word in ('"', "customer", "complaint", "sentiment"))
    # The rule judge's observations and sub-scores are kept as they are.
    rule = OfflineJudge().judge(NEW_UNHAPPY)
    assert verdict.resolution_score == rule.resolution_score
    assert verdict.efficiency_score == rule.efficiency_score
    assert verdict.issues == rule.issues
    assert verdict.rationale.endswith(rule.rationale[-40:])


def test_no_labelled_data_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(NoLabelledDataError, match="CX_DATA_DIR"):
        load_trained_judge(model_dir=tmp_path / "models", data_dir=tmp_path / "empty")
    assert not (tmp_path / "models" / ARTIFACT_NAME).exists()


def test_a_bad_labelled_record_names_the_record_and_field(tmp_path: Path) -> None:
    record = _stc3("stc3-bad", ("Hello?", "Hi."), 3)
    record["messages"][1].pop("text")
    _write(tmp_path, "stc3_dch1_en.dev.jsonl", [record])
    with pytest.raises(ValueError, match=r"dev\.jsonl:1 \(conversation_id='stc3-bad'\) field"):
        load_labelled(tmp_path)


def test_the_report_is_out_of_fold_per_set_and_per_held_out_source(data_dir: Path) -> None:
    data = load_labelled(data_dir)
    observed = observe_many(OfflineJudge(), [e.conversation for e in data.examples])
    report = evaluate(data, observed, seed=0, repeats=2)  # type: ignore[arg-type]
    kfold = report["grouped_kfold"]
    assert kfold["seed"] == 0
    repeated = kfold["repeated"]
    assert repeated["seeds"] == [0, 1]
    f1 = repeated["sets"]["stc3_dev"]["f1_4_5"]
    assert f1["min"] <= kfold["sets"]["stc3_dev"]["f1_4_5"] <= f1["max"]
    assert f1["min"] <= f1["mean"] <= f1["max"]
    assert set(kfold["sets"]) == {"stc3_dev", "uss", "uss_MWOZ", "uss_SGD"}
    assert kfold["sets"]["stc3_dev"]["n"] == 20
    assert kfold["sets"]["stc3_dev"]["human_share_4_5"] == 0.4
    assert 0 <= kfold["sets"]["uss"]["f1_4_5"] <= 1
    # Beside F1: calling every conversation 4-5 (2p / (1 + p)), and the ranking's AUC (none
    # where a set has one class: SGD all rated 4, MWOZ none).
    assert kfold["sets"]["stc3_dev"]["f1_all_4_5"] == round(2 * 0.4 / 1.4, 4)
    assert 0 <= kfold["sets"]["stc3_dev"]["auc_4_5"] <= 1
    assert kfold["sets"]["uss_SGD"]["auc_4_5"] is None
    assert kfold["sets"]["uss_MWOZ"]["auc_4_5"] is None
    assert "auc_4_5" in repeated["sets"]["stc3_dev"]
    assert "auc_4_5" not in repeated["sets"]["uss_SGD"]
    text = format_report(report)
    assert "all-4-5 F1" in text and "AUC" in text and "unfamiliar" in text
    for block in (kfold, *report["leave_one_dataset_out"].values()):
        assert all(0 <= m["unfamiliar_share"] <= 1 for m in block["sets"].values())
    assert kfold["ai_vs_human"]["human_gap_points"] == 100.0  # SGD all 4, MWOZ none
    # Held out whole, trained on the rest only.
    assert report["leave_one_dataset_out"]["stc3_dev"]["trained_on"] == ["uss_MWOZ", "uss_SGD"]
    assert report["leave_one_dataset_out"]["uss"]["trained_on"] == ["stc3_dev"]


def test_the_resource_uses_the_trained_judge_or_falls_back_with_a_warning(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from orchestration.resources import JudgeResource

    monkeypatch.setenv("CX_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("CX_DATA_DIR", str(data_dir))
    monkeypatch.setenv("CX_WAREHOUSE_PATH", str(tmp_path / "w.duckdb"))
    assert isinstance(JudgeResource().build(), TrainedJudge)
    assert type(JudgeResource(offline="rule").build()) is OfflineJudge
    monkeypatch.setenv("CX_OFFLINE_JUDGE", "rule")
    from orchestration.resources import build_resources

    assert build_resources()["judge"].offline == "rule"  # type: ignore[attr-defined]
    monkeypatch.delenv("CX_OFFLINE_JUDGE")
    with pytest.raises(ValueError, match="'trained' or 'rule'"):
        JudgeResource(offline="llm").build()
    monkeypatch.setenv("CX_MODEL_DIR", str(tmp_path / "models-2"))
    monkeypatch.setenv("CX_DATA_DIR", str(tmp_path / "nothing"))
    with caplog.at_level(logging.WARNING, logger="orchestration.resources"):
        judge = JudgeResource().build()
    assert type(judge) is OfflineJudge
    assert any("rule-based offline judge" in r.getMessage() for r in caplog.records)


def test_each_family_has_its_own_model_and_conversations_go_to_the_one_they_resemble(
    tmp_path: Path,
) -> None:
    """Opposite labels for the same kind of words in two families: each family's model keeps
    its own people's view, and the router sends a conversation by its customer's words."""
    folder = tmp_path / "data"
    stc3 = [_stc3(f"s{i}", t, 5) for i, t in enumerate(HAPPY)]
    stc3 += [_stc3(f"su{i}", t, 2) for i, t in enumerate(UNHAPPY)]
    # USS raters here call the *complaints* 4-5 (an odd source, to tell the models apart); its
    # customers also talk about trains, which the helpdesk customers never do.
    train_words = ("I need a train to Cambridge on Friday.", "Booked.", "")
    uss = [
        _uss(f"u{i}", "MWOZ", (train_words[0], t[1], t[2]), 4) for i, t in enumerate(UNHAPPY)
    ] + [_uss(f"uh{i}", "MWOZ", (train_words[0], t[1], t[2]), 2) for i, t in enumerate(HAPPY)]
    _write(
        folder, "stc3_dch1_en.dev.jsonl", stc3 + [_stc3(f"x{i}", t, 5) for i, t in enumerate(HAPPY)]
    )
    _write(folder, "uss.jsonl", uss + [_uss(f"v{i}", "MWOZ", (train_words[0], t[1], t[2]), 4)
                                       for i, t in enumerate(UNHAPPY)])  # fmt: skip
    model = train(folder, tmp_path / "m", seed=0, report=False).model
    assert list(model.families) == ["stc3_dev", "uss"]
    assert model.router is not None
    helpdesk_like = NEW_UNHAPPY
    uss_like = _conversation("new-train", (train_words[0], "Please contact the hotline.",
                                           "Useless, still nothing, terrible."))  # fmt: skip
    items = observe_many(OfflineJudge(), [helpdesk_like, uss_like])
    prediction = model.predict(items, explain=True)  # type: ignore[arg-type]
    assert prediction.family == ["stc3_dev", "uss"]
    assert prediction.positive.tolist() == [False, True]
    assert all(prediction.drivers)


def test_a_family_without_both_labels_trains_with_another(data_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    records = [json.loads(r) for r in (data_dir / "uss.jsonl").read_text().splitlines()]
    _write(
        folder,
        "stc3_dch1_en.dev.jsonl",
        [json.loads(r) for r in (data_dir / "stc3_dch1_en.dev.jsonl").read_text().splitlines()],
    )
    _write(folder, "uss.jsonl", [r for r in records if r["human_score"] < 4])  # fmt: skip
    result = train(folder, tmp_path / "m", seed=0, report=False)
    assert list(result.model.families) == ["stc3_dev"]
    assert result.model.router is None
    assert result.card["families"]["stc3_dev"]["training_sets"] == ["stc3_dev", "uss_MWOZ"]


def _own(cid: str, turns: tuple[str, ...], **label: object) -> dict:
    record = _conversation(cid, turns).model_dump(mode="json", exclude_none=True)
    return {**record, **label}


def test_own_labelled_files_train_their_own_family(
    data_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A team's own labels (contract JSONL; human_score, else the answered survey) become one
    more training set and family; unlabelled records are left out and logged."""
    own = tmp_path / "own"
    records = [_own(f"acme-h{i}", t, human_score=5) for i, t in enumerate(HAPPY)]
    records += [_own(f"acme-u{i}", t, csat={"score": 1}) for i, t in enumerate(UNHAPPY)]
    records += [_own(f"acme-x{i}", t, human_score=4) for i, t in enumerate(HAPPY)]
    records.append(_own("acme-none", NEUTRAL[0]))  # no label: skipped
    _write(own, "acme.jsonl", records)
    with caplog.at_level(logging.WARNING, logger="orchestration.judge.trained"):
        result = train(data_dir, tmp_path / "m", seed=0, report=False, own_labels=own)
    assert "acme" in result.model.families
    assert result.card["training_rows"]["acme"] == 12
    assert result.card["families"]["acme"]["training_sets"] == ["acme"]
    assert result.card["own_labels"] == str(own)
    assert any("1 records without a label" in r.getMessage() for r in caplog.records)
    judge = load_trained_judge(model_dir=tmp_path / "m", data_dir=data_dir, own_labels=own)
    assert "acme" in judge.training_sets  # evals marks an `acme.jsonl` input in-sample


def test_an_artifact_trained_without_the_configured_own_labels_is_retrained(
    data_dir: Path, tmp_path: Path
) -> None:
    own = tmp_path / "own"
    _write(own, "acme.jsonl", [_own(f"a{i}", t, human_score=5 if i < 4 else 2)
                               for i, t in enumerate(HAPPY + UNHAPPY)])  # fmt: skip
    plain = load_trained_judge(model_dir=tmp_path / "m", data_dir=data_dir)
    assert "acme" not in plain.training_sets
    mine = load_trained_judge(model_dir=tmp_path / "m", data_dir=data_dir, own_labels=own)
    assert "acme" in mine.training_sets
    assert mine.version != plain.version


@pytest.mark.parametrize(
    ("name", "record", "message"),
    [
        ("acme.jsonl", {"human_score": 7},
         r"acme\.jsonl:1 \(conversation_id='bad'\) field 'human_score': 7"),
        ("acme.jsonl", {"human_score": 4, "annotator_scores": [4, "five"]},
         r"acme\.jsonl:1 \(conversation_id='bad'\) field 'annotator_scores'"),
        ("acme.jsonl", {"human_score": 4, "channel": "pigeon"},
         r"acme\.jsonl:1 \(conversation_id='bad'\) field 'channel'"),
        ("stc3_dev.jsonl", {"human_score": 4}, r"is a public set's"),
    ],
)  # fmt: skip
def test_a_bad_own_labelled_record_names_the_file_line_and_field(
    tmp_path: Path, name: str, record: dict, message: str
) -> None:
    _write(tmp_path / "own", name, [{**_own("bad", HAPPY[0]), **record}])
    with pytest.raises(ValueError, match=message):
        load_own_labels(tmp_path / "own")


def test_a_repeated_label_key_takes_the_first_as_the_contract_does(tmp_path: Path) -> None:
    line = json.dumps({**_own("twice", HAPPY[0]), "human_score": 5})
    line = line[:-1] + ', "human_score": 2}'  # the same key again, later in the line
    (tmp_path / "own").mkdir()
    (tmp_path / "own" / "acme.jsonl").write_text(line + "\n", encoding="utf-8")
    (example,) = load_own_labels(tmp_path / "own")
    assert example.score == 5


def test_turn_summaries_by_hand() -> None:
    """Three conversations' predicted turn ratings: [3, 4, 2], none, [5]."""
    from orchestration.judge.trained.model import TURN_NAMES, _summarise

    out = _summarise(np.array([3.0, 4.0, 2.0, 5.0]), np.array([3, 0, 1]), 3.5, 2.5, 3.1)
    assert out.shape == (3, len(TURN_NAMES))
    # mean, last, last three, min, max, weighted (0.2, 0.6, 1.0), share > 3.5, share < 2.5
    expected = [3.0, 2.0, 3.0, 2.0, 4.0, (0.6 + 2.4 + 2.0) / 1.8, 1 / 3, 1 / 3]
    np.testing.assert_allclose(out[0], expected)
    np.testing.assert_allclose(out[1], [3.1] * 6 + [0, 0])
    np.testing.assert_allclose(out[2], [5.0] * 6 + [1, 0])


def test_turn_ratings_follow_the_customer_turns_with_text(tmp_path: Path) -> None:
    record = _uss("uss-MWOZ-t", "MWOZ", ("Hi", "Hello.", "", "Hm?", "Bye"), 3)
    record["messages"][3]["role"] = "customer"  # customer turns at 0, 2 (empty), 3, 4
    record["turn_scores"] = [
        {"message_index": 0, "scores": [3, 4]},
        {"message_index": 2, "scores": [1, 1]},  # no text: not a turn the judge sees
        {"message_index": 4, "scores": [5, 4, 4]},
    ]
    _write(tmp_path, "uss.jsonl", [record])
    (example,) = load_labelled(tmp_path).examples
    np.testing.assert_allclose(example.turn_scores, [3.5, np.nan, 13 / 3])
    (item,) = observe_many(OfflineJudge(), [example.conversation])
    assert item.customer_turns == ("hi", "hm?", "bye")  # type: ignore[union-attr]
    record["turn_scores"][1]["scores"] = [0]
    _write(tmp_path, "uss.jsonl", [record])
    with pytest.raises(ValueError, match=r"conversation_id='uss-MWOZ-t'\) field 'turn_scores'"):
        load_labelled(tmp_path)


def test_the_turn_model_learns_from_rated_turns_and_is_cross_fitted(data_dir: Path) -> None:
    from orchestration.judge.trained.model import TURN_NAMES, _turn_summaries, fit_model
    from orchestration.judge.trained.train import training_targets

    data = load_labelled(data_dir)
    items = observe_many(OfflineJudge(), [e.conversation for e in data.examples])
    targets = training_targets(data.examples)
    model = fit_model(items, targets, seed=0)  # type: ignore[arg-type]
    assert model.turns is not None
    # Only the family whose conversations have rated turns uses them.
    assert {n: f.uses_turns for n, f in model.families.items()} == {
        "stc3_dev": False,
        "uss": True,
    }
    names = model.families["uss"].feature_names
    assert [n for n in names if n.startswith("cue:turn_")] == [f"cue:{n}" for n in TURN_NAMES]
    # The rated rows' summaries come from fold models that never saw them.
    rated_rows = np.array([bool(e.turn_scores) for e in data.examples])
    turns, summaries = _turn_summaries(items, targets, rated_rows, seed=0)  # type: ignore[arg-type]
    assert turns is not None and summaries is not None
    rated = [i for i, e in enumerate(data.examples) if e.turn_scores]
    unrated = [i for i, e in enumerate(data.examples) if not e.turn_scores]
    in_sample = turns.summaries([items[i] for i in rated])  # type: ignore[misc]
    assert not np.allclose(summaries[rated], in_sample)
    np.testing.assert_allclose(summaries[unrated], turns.summaries([items[i] for i in unrated]))  # type: ignore[misc]
    # Satisfied last turns are predicted higher than unhappy ones.
    happy = NEW_HAPPY, NEW_UNHAPPY
    last = turns.summaries(observe_many(OfflineJudge(), list(happy)))[:, 1]  # type: ignore[arg-type]
    assert last[0] > last[1]
    # Without any rated turn there is no turn model, and no turn feature.
    for e in data.examples:
        object.__setattr__(e, "turn_scores", ())
    plain = fit_model(items, training_targets(data.examples), seed=0)  # type: ignore[arg-type]
    assert plain.turns is None
    assert not any(f.uses_turns for f in plain.families.values())


def test_words_and_pairs_are_the_terms_of_scikit_learns_word_pairs() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    from orchestration.judge.trained.features import words, words_and_pairs

    texts = ["thanks, that's all", "no", "", "play it on the bedroom speaker", "no no no thanks"]
    ours = TfidfVectorizer(analyzer=words_and_pairs, sublinear_tf=True).fit(texts)
    theirs = TfidfVectorizer(
        tokenizer=words, token_pattern=None, lowercase=False, ngram_range=(1, 2), sublinear_tf=True
    ).fit(texts)
    assert words_and_pairs(texts[0]) == ["thanks", "that", "all", "thanks that", "that all"]
    assert ours.vocabulary_ == theirs.vocabulary_
    assert (ours.transform(texts) != theirs.transform(texts)).nnz == 0


def test_soft_labels_weigh_each_conversation_by_its_raters_share() -> None:
    from scipy import sparse

    from orchestration.judge.trained.model import _fit_classifier

    rng = np.random.default_rng(0)
    x = sparse.csr_matrix(rng.normal(size=(60, 5)))
    positive = x[:, 0].toarray().ravel() + 0.3 * rng.normal(size=60) > 0
    hard = _fit_classifier(x, positive, None)
    # Unanimous raters (shares 0 and 1) are the consensus label itself.
    same = _fit_classifier(x, positive, positive.astype(float))
    np.testing.assert_allclose(same.coef_, hard.coef_, rtol=1e-6)
    # A 4-5 conversation that only half its raters rated 4-5 counts for less.
    row = int(np.flatnonzero(positive)[0])
    shares = positive.astype(float)
    p_sure = _fit_classifier(x, positive, shares).predict_proba(x[row])[0, 1]
    shares[row] = 0.5
    p_split = _fit_classifier(x, positive, shares).predict_proba(x[row])[0, 1]
    shares[row] = 0.0
    p_none = _fit_classifier(x, positive, shares).predict_proba(x[row])[0, 1]
    assert p_sure > p_split > p_none


def test_only_the_uss_family_learns_from_the_raters_shares(data_dir: Path, tmp_path: Path) -> None:
    from orchestration.judge.trained.train import training_targets

    data = load_labelled(data_dir)
    shares = training_targets(data.examples).share
    assert shares is not None
    uss = [i for i, e in enumerate(data.examples) if e.set_name.startswith("uss")]
    # The fixture's USS raters give [score, score, 3]: two of three rate a 4 dialogue 4-5.
    assert {round(float(shares[i]), 3) for i in uss} == {0.0, 0.667}
    card = train(data_dir, tmp_path / "m", seed=0, report=False).card
    assert {n: f["soft_labels"] for n, f in card["families"].items()} == {
        "stc3_dev": False,
        "uss": True,
    }


def test_a_family_chooses_its_regularisation_on_inner_folds_only_with_enough_ratings(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestration.judge.trained import model as trained_model

    default = train(data_dir, tmp_path / "a", seed=0, report=False).card
    # The fixture's families have a handful of conversations rated 4-5: C stays the default.
    assert {n: f["c"] for n, f in default["families"].items()} == {
        "stc3_dev": trained_model.C,
        "uss": trained_model.C,
    }
    monkeypatch.setattr(trained_model, "MIN_POSITIVE_FOR_C", 1)
    # A grid of the default alone is the default model.
    monkeypatch.setattr(trained_model, "C_GRID", (trained_model.C,))
    same = train(data_dir, tmp_path / "b", seed=0, report=False).card
    assert same["model_sha256"] == default["model_sha256"]
    monkeypatch.setattr(trained_model, "C_GRID", (0.03, 3.0))
    chosen = train(data_dir, tmp_path / "c", seed=0, report=False).card
    assert {f["c"] for f in chosen["families"].values()} <= {0.03, 3.0}
    assert chosen["model_sha256"] != default["model_sha256"]


def test_familiarity_is_the_share_of_the_customers_words_the_vocabulary_holds() -> None:
    from orchestration.judge.trained.model import familiarity

    items = observe_many(
        OfflineJudge(),
        [
            _conversation("a", ("My order is late.", "Sorry.")),
            _conversation("b", ("Order order late late", "Ok.")),
        ],
    )
    known = familiarity({"order": 0, "late": 1}, items)  # type: ignore[arg-type]
    # "my order is late": 2 of 4 words; the second: 4 of 4.
    np.testing.assert_allclose(known, [0.5, 1.0])


def test_a_conversation_in_words_the_model_never_saw_gets_the_rubric_rules_score(
    data_dir: Path, tmp_path: Path
) -> None:
    """Held out, a model's cut learnt on other sources transfers badly; a conversation whose
    customer's words its family barely knows is scored by the rubric rule, and says so."""
    from orchestration.judge.rubric import apply_rubric

    judge = load_trained_judge(model_dir=tmp_path / "models", data_dir=data_dir)
    for family in judge.card["families"].values():
        assert 0 < family["familiar_min"] <= 1
    strange = _conversation(
        "new-strange",
        ("Quiero cancelar mi suscripcion, nadie contesta los correos desde hace semanas.",
         "Lo siento, la cancelacion esta hecha.", "Vale, gracias, todo resuelto."),
    )  # fmt: skip
    rule = OfflineJudge()
    items = observe_many(rule, [NEW_HAPPY, strange])
    prediction = judge._model.predict(items)  # type: ignore[arg-type]
    assert prediction.unfamiliar is not None and prediction.familiarity is not None
    assert prediction.unfamiliar.tolist() == [False, True]
    assert prediction.familiarity[1] < prediction.familiarity[0]
    verdict = judge.judge(strange)
    assert verdict.score == apply_rubric(rule.observe(strange)).score
    assert verdict.rationale.startswith(f"Rubric score {verdict.score}: the customer's wording")
    assert "is not used" in verdict.rationale
    assert judge.judge(NEW_HAPPY).rationale.startswith("Model score ")
