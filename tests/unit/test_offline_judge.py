"""The offline judge and the topic taxonomy, on invented conversations (never the shared data)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orchestration.contract import Conversation
from orchestration.judge import BaseJudge, Judge, JudgeError, OfflineJudge, Verdict
from orchestration.judge.taxonomy import (
    DEFAULT_TAXONOMY_PATH,
    TAXONOMY_ENV,
    Taxonomy,
    TaxonomyError,
    default_taxonomy_path,
)
from tests.conftest import conversation


def _conv(cid: str, *turns: tuple[str, str], times: list[str] | None = None) -> Conversation:
    record = conversation(cid, *turns)
    if times is not None:
        for message, sent_at in zip(record["messages"], times, strict=True):
            message["sent_at"] = sent_at
    return Conversation.model_validate(record)


RESOLVED = (
    ("customer", "Hi, I was charged twice for my March invoice. Can you help?"),
    (
        "human",
        "Hello! I'm so sorry about that, I understand how annoying a double charge is. "
        "Let me check your account.",
    ),
    (
        "human",
        "I have refunded the duplicate charge of 49.90 EUR. It has been processed and will show "
        "on your card within 3 days.",
    ),
    ("customer", "Perfect, that worked! Thank you so much, great service."),
    ("human", "You're welcome, happy to help! Have a great day."),
)

ANGRY = (
    ("customer", "My internet has been down for three days. This is unacceptable!"),
    ("ai", "I can't help with that here. Please contact our support team by phone."),
    ("customer", "I already called support twice and nobody answered. My internet is still down!"),
    ("ai", "I can't help with that here. Please contact our support team by phone."),
    ("customer", "This is useless. Terrible service, I want to cancel."),
)


@pytest.fixture(scope="module")
def judge() -> OfflineJudge:
    return OfflineJudge()


def test_is_a_judge(judge: OfflineJudge) -> None:
    assert isinstance(judge, Judge)
    assert (judge.kind, judge.name, judge.model) == ("offline", "cx-offline", None)
    assert judge.version.startswith("offline-1+rubric-1+tax-")


def test_resolved_polite_conversation_scores_high(judge: OfflineJudge) -> None:
    verdict = judge.judge(_conv("ok-1", *RESOLVED))
    assert verdict.score >= 4
    assert [issue.status for issue in verdict.issues] == ["resolved"]
    assert "worked" in verdict.issues[0].evidence
    assert verdict.issues[0].summary.startswith("Hi, I was charged twice")
    assert verdict.sentiment_trajectory == "improved"
    assert verdict.sentiment_end > verdict.sentiment_start
    assert verdict.tone_score >= 4
    assert (verdict.loop_count, verdict.broken_handoff_count) == (0, 0)
    assert verdict.topic == "billing_payments"


def test_angry_unresolved_conversation_with_broken_handoff_scores_low(
    judge: OfflineJudge,
) -> None:
    verdict = judge.judge(_conv("bad-1", *ANGRY))
    assert verdict.score <= 2
    assert [issue.status for issue in verdict.issues] == ["not_resolved"]
    assert verdict.broken_handoff_count >= 1
    assert verdict.sentiment_end < 0
    assert verdict.efficiency_score == 1
    assert verdict.knowledge_score <= 2


def test_scores_vary_across_conversations(judge: OfflineJudge) -> None:
    middling = _conv(
        "mid-1",
        ("customer", "How do I change the delivery address of my order?"),
        ("human", "You can change it under Orders in your account before the parcel ships."),
    )
    scores = {judge.judge(_conv("a", *RESOLVED)).score, judge.judge(middling).score}
    scores.add(judge.judge(_conv("b", *ANGRY)).score)
    assert len(scores) == 3


def test_customer_repeating_themselves_is_a_loop(judge: OfflineJudge) -> None:
    verdict = judge.judge(
        _conv(
            "loop-1",
            ("customer", "I still have not received my refund for order 5521."),
            ("human", "Could you tell me when you returned the item?"),
            ("customer", "Last Monday. I still have not received my refund for order 5521!"),
            ("human", "Thanks, I am checking with the warehouse."),
            ("customer", "I have still not received the refund for order 5521."),
        )
    )
    assert verdict.loop_count == 2
    assert verdict.efficiency_score == 3


def test_agent_repeating_itself_is_a_loop(judge: OfflineJudge) -> None:
    verdict = judge.judge(_conv("loop-2", *ANGRY))
    assert verdict.loop_count == 1


def test_needless_clarification_for_something_already_given(judge: OfflineJudge) -> None:
    verdict = judge.judge(
        _conv(
            "clarify-1",
            ("customer", "Please book a table for 4 people at Luigi's tonight at 8."),
            ("ai", "Sure. How many people will be dining?"),
            ("customer", "Four, as I wrote."),
            ("ai", "Done: your table for 4 at Luigi's is booked for 8 pm."),
        )
    )
    assert verdict.needless_clarification_count == 1


def test_ai_to_human_switch_that_asks_again_is_a_broken_handoff(judge: OfflineJudge) -> None:
    verdict = judge.judge(
        _conv(
            "handoff-1",
            ("customer", "My order number 88412 arrived damaged. I want a replacement."),
            ("ai", "I am sorry to hear that. Let me connect you with a colleague."),
            ("human", "Hello, what is your order number?"),
            ("customer", "88412, as I already said."),
            ("human", "Thanks. A replacement has been shipped today."),
        )
    )
    assert verdict.broken_handoff_count == 1
    assert verdict.needless_clarification_count == 1


def test_timeliness_is_none_without_message_times(judge: OfflineJudge) -> None:
    assert judge.judge(_conv("t-0", *RESOLVED)).timeliness_score is None


@pytest.mark.parametrize(
    ("reply_after", "expected"),
    [("09:02:00", 5), ("09:20:00", 4), ("10:30:00", 3), ("14:00:00", 2), ("next", 1)],
)
def test_timeliness_from_median_response_delay(
    judge: OfflineJudge, reply_after: str, expected: int
) -> None:
    reply = "2026-03-04T09:00:00Z" if reply_after == "next" else f"2026-03-02T{reply_after}Z"
    verdict = judge.judge(
        _conv(
            "t-1",
            ("customer", "Where is my parcel? The tracking number shows nothing."),
            ("human", "Here is the tracking link: https://example.com/track/1 - it arrives today."),
            times=["2026-03-02T09:00:00Z", reply],
        )
    )
    assert verdict.timeliness_score == expected


def test_topic_comes_from_the_taxonomy(judge: OfflineJudge) -> None:
    cases = {
        "My parcel never arrived and the tracking number shows nothing.": "orders_delivery",
        "I forgot my password and I am locked out of my account.": "account_access",
        "Can you recommend a comedy movie like Superbad?": "recommendations",
        "Book me a train to Cambridge leaving Friday.": "travel_transport",
        "Hello there.": "other",
    }
    for text, topic in cases.items():
        verdict = judge.judge(_conv("topic", ("customer", text), ("human", "Let me look.")))
        assert verdict.topic == topic, text


def test_rationale_mentions_the_counts(judge: OfflineJudge) -> None:
    rationale = judge.judge(_conv("bad-1", *ANGRY)).rationale
    assert rationale.startswith("1 issue: 1 not resolved")
    assert "1 loop," in rationale
    assert "0 needless clarifications" in rationale
    assert re.search(r"\b[1-3] broken hand-offs?\b", rationale)
    assert "Tone " in rationale and "knowledge " in rationale
    assert "Topic: " in rationale
    assert len(rationale) <= 600


def test_same_input_same_verdict() -> None:
    record = _conv("det-1", *ANGRY)
    first = OfflineJudge().judge(record)
    again = OfflineJudge().judge(Conversation.model_validate(record.model_dump()))
    assert first.model_dump() == again.model_dump()
    assert OfflineJudge().version == OfflineJudge().version


def test_judge_many_returns_one_result_per_input(judge: OfflineJudge) -> None:
    blank = _conv("blank", ("customer", "   "), ("human", "Hello?"))
    inputs = [_conv("a", *RESOLVED), blank, _conv("b", *ANGRY)]
    results = judge.judge_many(inputs)
    assert len(results) == 3
    assert isinstance(results[0], Verdict) and isinstance(results[2], Verdict)
    assert isinstance(results[1], JudgeError)
    assert results[1].reason == "judge_no_customer_text"
    assert judge.judge_many([]) == []


def test_base_judge_lets_other_errors_through() -> None:
    class Broken(BaseJudge):
        kind, name, version = "offline", "broken", "0"

        def judge(self, conversation: Conversation) -> Verdict:
            raise RuntimeError("bug")

    with pytest.raises(RuntimeError):
        Broken().judge_many([_conv("a", *RESOLVED)])


def test_judge_error_carries_reason_and_raw_output() -> None:
    error = JudgeError("bad json", reason="judge_invalid_output", raw_output="{oops")
    assert (str(error), error.reason, error.raw_output) == (
        "bad json",
        "judge_invalid_output",
        "{oops",
    )
    assert JudgeError("x").reason == "judge_error"


# --- the fast paths give what the plain ones give -------------------------------------------

VADER_CASES = (
    "",
    "   ",
    "ok",
    "The food here is good, but the service is horrible.",
    "The service is NOT good at all!!!",
    "I am not happy and this is not helpful",
    "It isn't working and I never had such a bad experience",
    "never so good; without doubt great; this is the shit; the bomb",
    "It was kind of ok, sort of bad, and the least helpful reply",
    "at least it works, very least useful, no good, no bad or nor awful",
    "Yeah right, that's a kiss of death :( and a bad ass fix",
    "VERY GOOD indeed, EXTREMELY bad, barely acceptable, hardly great",
    "Thanks 😀 it works 👍 but then 😡😡",
    "Why?? Why??? Still broken... nothing works?!",
    "no no NO no",
    "I can't believe how AMAZING this is but it's also SO frustrating",
    "Please help, I'd like a refund, free parking and a nice day",
)


def test_fast_vader_equals_the_library() -> None:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from orchestration.judge.offline import NEUTRAL_WORDS, _Vader

    library = SentimentIntensityAnalyzer()
    for word in NEUTRAL_WORDS:
        library.lexicon.pop(word, None)
    fast = _Vader(NEUTRAL_WORDS)
    scores = [fast.compound(text) for text in VADER_CASES]
    assert scores == [library.polarity_scores(text)["compound"] for text in VADER_CASES]
    assert len({score for score in scores if score}) > 8  # the cases do reach the rules


def test_rare_agent_cues_are_searched_only_where_one_occurs() -> None:
    from orchestration.judge.offline import AGENT_RARE_CUES, POLITE, OfflineJudge

    texts = [text for _, text in RESOLVED + ANGRY] + [
        "I'm afraid this is not my problem, whatever.",
        "Let me transfer you to another team, sorry for the inconvenience.",
        "Hello! Happy to help.",
    ]
    turns = OfflineJudge._turns(_conv("cues", *RESOLVED, *(("human", text) for text in texts)))
    assert any(not turn.rare_cues for turn in turns)
    for turn in turns:
        for pattern in (*AGENT_RARE_CUES, POLITE):
            found, plain = turn.cue(pattern), pattern.search(turn.low)
            assert (found and found.span()) == (plain and plain.span())


# --- taxonomy --------------------------------------------------------------------------------

PETS = """
topics:
  - id: pets
    label: Pets
    description: Our furry customers.
    keywords: [dog, cat, parcel, pet food]
  - id: other
    label: Other
    keywords: []
"""


def test_custom_taxonomy_from_env_changes_topic_and_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, judge: OfflineJudge
) -> None:
    path = tmp_path / "pets.yaml"
    path.write_text(PETS)
    monkeypatch.setenv(TAXONOMY_ENV, str(path))
    custom = OfflineJudge()
    conv = _conv("pets", ("customer", "My parcel of pet food never arrived."), ("human", "Oh no."))
    assert judge.judge(conv).topic == "orders_delivery"
    assert custom.judge(conv).topic == "pets"
    assert custom.version != judge.version
    path.write_text(PETS.replace("[dog, cat", "[dog, kitten, cat"))
    assert OfflineJudge().version not in (custom.version, judge.version)


@pytest.mark.parametrize(
    ("content", "names"),
    [
        (PETS.replace("  - id: other\n    label: Other\n    keywords: []\n", ""), ["'other'"]),
        (PETS.replace("[dog, cat, parcel, pet food]", "[]"), ["'pets'", "keywords"]),
        (PETS + "  - {id: pets, label: Again, keywords: [hamster]}\n", ["duplicate", "pets"]),
        (PETS.replace("[dog, cat, parcel, pet food]", "[dog, '  ']"), ["'pets'", "blank"]),
        (PETS.replace("id: pets", "id: Pets!"), ["'Pets!'", "id"]),
        ("topics: [unclosed", ["not valid YAML"]),
    ],
)
def test_invalid_taxonomy_names_the_file_and_topic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, names: list[str]
) -> None:
    path = tmp_path / "broken-taxonomy.yaml"
    path.write_text(content)
    monkeypatch.setenv(TAXONOMY_ENV, str(path))
    with pytest.raises(TaxonomyError) as caught:
        OfflineJudge()
    message = str(caught.value)
    assert str(path) in message
    for name in names:
        assert name in message


def test_relative_taxonomy_path_resolves_against_the_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TAXONOMY_ENV, "orchestration/judge/taxonomy.yaml")
    assert default_taxonomy_path() == DEFAULT_TAXONOMY_PATH.resolve()
    monkeypatch.delenv(TAXONOMY_ENV)
    assert default_taxonomy_path() == DEFAULT_TAXONOMY_PATH


def test_missing_taxonomy_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match=r"nowhere\.yaml"):
        Taxonomy.load(tmp_path / "nowhere.yaml")


def test_classifier_matches_whole_words_and_phrases(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "topics:\n"
        "  - {id: first, label: First, keywords: [cat, sim card]}\n"
        "  - {id: second, label: Second, keywords: [dog, card]}\n"
        "  - {id: other, label: Other}\n"
    )
    taxonomy = Taxonomy.load(path)
    assert taxonomy.classify("a category of concatenation") == "other"  # not inside words
    assert taxonomy.classify("my SIM   card") == "first"  # phrase, any spacing, any case
    assert taxonomy.counts("my sim card and my card") == {"first": 1, "second": 1}
    assert taxonomy.classify("a dog and a cat") == "first"  # tie: listed first wins
    assert taxonomy.classify("two dogs and a cat") == "first"  # plural matches; still a tie
    assert taxonomy.classify("two dogs, one dog, a cat") == "second"  # most hits wins
    assert taxonomy.classify("") == "other"
    assert len(taxonomy.version) == 8


def test_packaged_taxonomy_is_valid_and_broad() -> None:
    taxonomy = Taxonomy.load()
    assert taxonomy.ids[-1] == "other"
    assert 12 <= len(taxonomy.ids) <= 16
    assert all(topic.keywords for topic in taxonomy.topics if topic.id != "other")
