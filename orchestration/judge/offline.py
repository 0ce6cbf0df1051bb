"""The offline judge: deterministic, explainable rules; no network, no model, no randomness.

It skims a transcript the way a supervisor would and reports the same observations an LLM judge
reports (`VerdictBody`); `rubric.apply_rubric` turns them into scores. Every rule is a cue list
or a threshold in this file; `OFFLINE_RULES_VERSION` changes when one does.

issues      The first customer message opens an issue; after an agent reply, each customer
            message with a request/problem cue ("?", "can you", "I need", "refund", "not
            working", ...) opens the next one, at most 5 (later ones fold into the last). A
            complaint about the answer ("still not working") is not a new issue: it marks the
            open one. Walking the messages up to the next issue, the latest decisive cue wins:
              agent says it is done ("booked", "refunded", "has been", a link, steps) -> done
              agent defers ("please DM us", "will contact you", "transferred")        -> deferred
              agent cannot ("unable", "not possible", "fully booked")                 -> failed
              agent replies without any of these                                      -> answered
              customer says it worked ("that worked", "solved")                       -> resolved
              customer praises or thanks after `done` ("perfect!", "thanks")          -> resolved
              customer complains ("still", "doesn't work", "useless")                 -> failed
            Praise for a proposal the agent is still asking about accepts it, nothing more.
            Status: resolved -> resolved; done, deferred, answered -> partly; failed or no
            reply -> not_resolved. The evidence is the cue-bearing snippet.
sentiment   VADER compound of the customer's first and last message (sentence mean; negative
            sentences weigh double; courtesy formulas and request words such as "please",
            "like", "thanks" carry no mood here). With one customer message, the end is that
            message nudged by the agent's last reply. A change beyond +-0.25 is improved or
            worsened.
tone        3, +1 with two and +2 with three of: most agent messages polite, some empathy, a
            warm VADER mood; -2 per rude message, -1 when curt (under 4 words) or cold.
knowledge   2.5 + specifics (numbers, a link, steps, names, substantial replies) - vagueness
            ("not sure", "no idea") - deflection ("contact", "DM us").
timeliness  Median agent response delay after the customer wrote: <=5 min 5, <=30 min 4,
            <=2 h 3, <=24 h 2, else 1; None without two message times.
friction    loops: a customer message repeating an earlier one of theirs (token Jaccard >= 0.6)
            or an agent message repeating theirs (>= 0.8; closings aside). Needless
            clarifications: the agent asks "which/what is your/how many X" for an X the
            customer already wrote. Broken hand-offs: a transfer/deferral after which the
            customer repeats or complains or nothing gets resolved; an AI -> human switch where
            the human asks again for something already given or the customer has to repeat.
topic       The taxonomy's classifier over the customer's text (all text when that finds none).
"""

from __future__ import annotations

import re
import statistics
import string
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice

from pydantic import ValidationError
from vaderSentiment.vaderSentiment import (
    BOOSTER_DICT,
    N_SCALAR,
    NEGATE,
    SPECIAL_CASES,
    SentimentIntensityAnalyzer,
    SentiText,
    allcap_differential,
)

from orchestration.contract.models import Conversation
from orchestration.judge.base import BaseJudge, JudgeError
from orchestration.judge.rubric import RUBRIC_VERSION, apply_rubric, round_half_up
from orchestration.judge.taxonomy import FALLBACK_TOPIC, Taxonomy
from orchestration.judge.verdict import IssueStatus, IssueVerdict, Trajectory, Verdict, VerdictBody

__all__ = ["OFFLINE_RULES_VERSION", "OfflineJudge"]

#: Bump when a rule or threshold below changes (the judge version includes it).
OFFLINE_RULES_VERSION = "offline-1"

MAX_ISSUES = 5
LOOP_JACCARD = 0.6  # a customer message this close to an earlier one of theirs is a loop
AGENT_LOOP_JACCARD = 0.8  # agents reuse templates ("please confirm: ..."); only near-verbatim
LOOP_MIN_TOKENS = 4
TRAJECTORY_DELTA = 0.25
SINGLE_MESSAGE_AGENT_WEIGHT = 0.25
VADER_MAX_CHARS = 1_000
AGENT_MOOD_CHARS = 600
NEGATIVITY_WEIGHT = 2.0  # a negative sentence weighs this much more in a message's mood
SUMMARY_WORDS = 12
#: Median agent response delay (seconds) -> timeliness score; slower than the last is 1.
TIMELINESS_STEPS = ((5 * 60, 5), (30 * 60, 4), (2 * 3600, 3), (24 * 3600, 2))


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _rx(*lines: str) -> re.Pattern[str]:
    """Whole-word alternation over lowercased text; each line holds `|`-separated fragments."""
    return re.compile(r"(?<!\w)(?:" + "|".join(lines) + r")(?!\w)")


# --- cues (all matched against lowercased text with straight apostrophes) --------------------

REQUEST = re.compile(
    r"\?|(?<!\w)(?:can you|could you|would you|will you|can i|could i|how (?:do|can|to|much|long)"
    r"|i need|i want|i'd like|i would like|i wanna|i'm looking|i am looking|looking for|need to"
    r"|want to|help|problem|issue|not working|doesn't work|does not work|won't|can't|cannot"
    r"|unable|broken|error|fail(?:ed|s|ing)?|refund|cancel|book|reserve|find|search|get me"
    r"|recommend|suggest|please|complain(?:t)?|wrong|missing|lost|still|hasn't|haven't|didn't"
    r"|never|charged|why|where|when)(?!\w)"
)

AGENT_RESOLVED = _rx(
    r"done|booked|reserved|(?:is |are |been |now )?confirmed|refunded|fixed|resolved|here is",
    r"here's|here are|here you go",
    r"i(?: have|'ve) (?!noticed|received|reported|forwarded|passed|escalated|checked|contacted"
    r"|asked|informed|notified|requested|submitted|recorded|feedback)\w+(?:ed|t|n|de)",
    r"successfully",
    r"(?:has|have) been (?!reported|forwarded|escalated|passed|recorded|submitted|feedback"
    r"|transferred)\w+",
    r"is now|are now|all set|processed",
    r"(?:sent|issued|credited|activated|reactivated|restored|unlocked|unblocked|shipped)",
    r"you can now|you should now|should (?:now )?be (?:able|working|fine|back)|will arrive",
    r"on (?:its|the) way|follow these steps|steps?|go to|click|tap|settings|i found",
    r"i can confirm|enjoy|the reference(?: number)? is|your reference|reference number",
    r"booking (?:was|is) successful|playing|now playing|starting",
)
LINK = re.compile(r"https?://|www\.|\.com/|\.com\b")
AGENT_FAILED = _rx(
    r"unable|cannot|can't|could not|couldn't|not possible|impossible",
    r"sorry,? (?:we|i) (?:can't|cannot|couldn't|don't|do not)|not able",
    r"no (?:results|matches|availability)|fully booked|sold out|booked up|failed|unsuccessful",
    r"(?:was|is)(?: not|n't) successful|(?:didn't|did not) (?:go through|work)",
)
AGENT_DEFER = _rx(
    r"(?:please |kindly )?contact (?:us|our|the (?:customer|support|service|relevant)"
    r"|customer|support|your)",
    r"dm(?: us| me)?|send us a (?:dm|message|direct message)|direct message",
    r"private (?:message|letter|chat)|pm|call us|call (?:our|the)|give us a call|hotline",
    r"reach out|transfer(?:red|ring)?|escalat\w*|another team",
    r"(?:other|relevant|responsible|specialist) (?:department|team|colleague)s?",
    r"will (?:contact|call|get back to|reach|be in touch with) you|get back to you|be in touch",
    r"forwarded|reported|feed(?: it)? back|visit (?:a|our|the) store",
    r"service (?:center|centre|outlet|point)|after-?sales",
)
HANDOFF = _rx(
    r"transfer(?:red|ring)?|escalat\w*|another (?:team|department|agent|colleague)",
    r"(?:other|relevant|responsible|specialist) (?:department|team|colleague)s?",
    r"contact (?:\w+ ){0,3}(?:support|customer service|customer care|team|department|hotline)",
    r"dm us|send us a (?:dm|direct message)|direct message|private (?:message|letter)|call us",
    r"give us a call|hotline|hand(?:ing)? (?:you )?over|connect you",
)
CUSTOMER_SOLVED = re.compile(
    r"(?<!\w)(?<!not )(?<!n't )(?<!never )(?:(?:that |it |this )?worked|works now|working now"
    r"|(?:is |it's |all )?solved|(?:it's|it is|that's|is|are|was|all|got it|got them) fixed"
    r"|fixed (?:it|now)|sorted|(?:is |it's |all )?resolved|that helps|that helped|helpful"
    r"|got it|that's what i needed|exactly what i (?:needed|wanted))(?!\w)"
)
CUSTOMER_PRAISE = re.compile(
    # Praise of the help, not of a thing: "perfect!", "sounds great, thanks", not "a great movie",
    # "not great", "that would be great" (a request).
    r"(?<!\w)(?<!not )(?<!n't )(?<!no )(?<!be )(?:perfect|great|awesome|excellent|wonderful"
    r"|amazing|fantastic|brilliant|sounds (?:good|great|perfect)|works for me|love (?:it|that)"
    r"|you(?:'re| are) the best)(?=\s*(?:[.!,;:)]|$|thanks?\b|thank you|ty\b|thx\b))"
)
CUSTOMER_ACK = _rx(
    r"thanks?|thank you|thx|ty|appreciate(?:d)?|cheers|that's all|that is all|that's it",
    r"that will be all|that'll be all|all good",
)
CUSTOMER_UNHAPPY = _rx(
    r"still|(?:doesn't|does not|didn't|did not|won't|isn't|is not) (?:work|working|help)",
    r"not working|not resolved|not solved|unresolved|no (?:answer|reply|response)|useless|again",
    r"never(?! mind)|not helpful|unhelpful|waste of time|ridiculous|unacceptable|terrible|awful",
    r"horrible|worst|disappointed|not what i asked|that's not|that is not|wrong|nobody|no one",
    r"same (?:problem|issue|answer)|already (?:told|said|did|tried|gave|sent|done)|i said",
    r"as i said|are you (?:kidding|serious)|what\?|\?\?+|!!+|wtf|complain(?:t|ed)?|scam|cheated",
    r"fraud|rude|angry|annoyed|frustrat\w*|not happy|unhappy|not satisfied|dissatisfied",
    r"why (?:hasn't|haven't|didn't|isn't|wasn't|won't|can't|don't|doesn't|is it still"
    r"|do i (?:have|need) to|should i)",
)

POLITE = _rx(
    r"please|thanks?|thank you|sorry|apolog\w*|happy to help|glad|understand|you're welcome",
    r"welcome|appreciate\w*|pleasure|kindly|hope|dear|certainly|of course|no problem|hello|hi",
    r"hey|great|wonderful|enjoy|have a (?:good|great|nice|wonderful) \w+",
)
EMPATHY = _rx(
    r"sorry|apolog\w*|understand|inconvenience|frustrat\w*|i see|must be|can imagine|hear that",
)
RUDE = _rx(
    r"not my problem|not our (?:problem|business|fault)|your (?:own )?(?:problem|fault)",
    r"calm down|whatever|you should have|as i (?:said|told you)|i already told you",
    r"read (?:the|our) (?:faq|manual|terms)|obviously|stupid|deal with it",
    r"nothing (?:we|i) can do|that's (?:it|all) i can|stop (?:asking|it)|shut up|idiot|nonsense",
    r"no idea",
)
VAGUE = _rx(
    r"not sure|i don't know|i do not know|no idea|not certain|i'm afraid i|i cannot say",
    r"can't say|not aware|depends|(?:can't|cannot|unable to) help(?: (?:you )?with)?",
)
DEFLECT = _rx(
    r"contact|dm us|direct message|private (?:message|letter)|call us|hotline",
    r"visit (?:a|our|the) store|service (?:center|centre|outlet)|check with",
)
STEPS = _rx(
    r"steps?|first|then|next|go to|click|tap|select|settings|open|restart|reinstall|update|try",
    r"make sure|log (?:in|out)|sign (?:in|out)|menu|option",
)
CLOSING = _rx(
    r"anything else|is there anything|something else|have a (?:good|great|nice)|you're welcome",
    r"welcome|goodbye|bye|thank you for (?:contacting|using)|can i help|may i help",
    r"how (?:else )?can i help|what else",
)
CLARIFY = re.compile(
    r"(?<!\w)(?:what(?:'s| is| was| are) (?:your|the)|which|how many|may i (?:have|know|get)"
    r"(?: your| the)?|(?:could|can|would) you (?:please )?(?:provide|give|tell|share|send|let)"
    r"(?: me| us)?(?: know)?(?: with)?(?: your| the)?)\s+([a-z][\w'-]*)(?:\s+([a-z][\w'-]*))?"
)
CLARIFY_SKIP = _words(
    """
    a an the your you me us is are was were be do does did to of for in on at it this that
    would like prefer please kind type sort exactly any specific one ones other else time
    way can could will should i we they he she there what which how many much
    """
)
#: Removed from this judge's VADER lexicon: request and courtesy formulas ("yes please",
#: "I'd like", "free parking", "thanks") and statements of taste ("I enjoy thrillers", "a scary
#: film") say nothing about how the customer feels about the help.
NEUTRAL_WORDS = _words(
    """
    please yes yeah yep ok okay alright sure help helps like likes liked free want kind
    pretty well care interested interesting credit reach play playing chance dear thanks
    thank welcome hope wish fine agree support save enjoy enjoys enjoyed enjoying favorite
    favorites funny hilarious scary fun
    """
)
#: Leave-taking formulas, removed before VADER ("have a nice day" is not delight).
COURTESY = re.compile(
    r"(?i)(?<!\w)(?:have a (?:very )?(?:nice|good|great|wonderful|lovely|pleasant|fantastic)"
    r" (?:day|one|evening|night|weekend|time|trip|holiday)|you too|good ?bye|bye(?: bye)?"
    r"|good (?:morning|afternoon|evening|night)|take care)(?!\w)"
)
COURTESY_HINTS = ("bye", "have a", "you too", "take care", "good ")
URL_HINTS = ("@", "http", "www.")
#: Whether any of the hints occurs (one scan instead of a substring test per hint).
COURTESY_HINT = re.compile("|".join(map(re.escape, COURTESY_HINTS)))
URL_HINT = re.compile("|".join(map(re.escape, URL_HINTS)))
SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
NUMBER = re.compile(r"\d")
TOKEN = re.compile(r"[a-z0-9']+")
#: A capitalised word not at the start of a sentence. (The capital is matched before the checks
#: on what precedes it, so the regex engine skips ahead to capitals instead of trying everywhere.)
NAME = re.compile(r"[A-Z](?<=\b(?<!^)(?<![.!?]\s)[A-Z])[a-z]{2,}")
MENTION_OR_URL = re.compile(r"@\w+|https?://\S+|www\.\S+")
APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u2032": "'"})


def _any_of(*patterns: re.Pattern[str]) -> re.Pattern[str]:
    """One pattern that matches wherever one of `patterns` (each starting `(?<!\\w)`) does."""
    lead = r"(?<!\w)"
    assert all(p.pattern.startswith(lead) and not p.flags & ~re.UNICODE for p in patterns)
    return re.compile(lead + "(?:" + "|".join(p.pattern.removeprefix(lead) for p in patterns) + ")")


#: Cues that most agent messages hold none of: one scan for all of them at once tells which
#: messages need the search for each one (`_Turn.cue`).
AGENT_RARE_CUES = (AGENT_DEFER, AGENT_RESOLVED, AGENT_FAILED, HANDOFF, RUDE, EMPATHY)
AGENT_ANY_RARE_CUE = _any_of(*AGENT_RARE_CUES)
_AGENT_RARE_IDS = frozenset(map(id, AGENT_RARE_CUES))


@dataclass(slots=True)
class _Turn:
    index: int
    role: str  # customer | agent (system messages are left out)
    kind: str | None
    text: str
    low: str
    sent_at: datetime | None
    tokens: frozenset[str]
    rare_cues: bool  # an agent message holding one of AGENT_RARE_CUES (always True for customers)

    def cue(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        """`pattern.search(self.low)`; no search for a rare agent cue where none of them occurs."""
        if not self.rare_cues and id(pattern) in _AGENT_RARE_IDS:
            return None
        return pattern.search(self.low)


@dataclass(slots=True)
class _Issue:
    opened: int  # position in the turn list
    state: str | None = None  # None | answered | done | resolved | deferred | failed
    evidence: str = ""
    deferred: bool = False


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _snippet(turn: _Turn, match: re.Match[str] | None, limit: int = 300) -> str:
    """The cue-bearing part of a message, prefixed with who said it, at most `limit` chars."""
    prefix = f"{'customer' if turn.role == 'customer' else 'agent'}: "
    text = " ".join(turn.text.split())
    room = limit - len(prefix) - 2
    if len(text) > room:
        centre = match.start() if match is not None else 0
        start = max(0, min(centre - room // 3, len(text) - room))
        text = ("…" if start else "") + text[start : start + room].strip() + "…"
    return (prefix + text)[:limit]


def _summary(text: str) -> str:
    words = MENTION_OR_URL.sub("", text).split() or text.split()
    summary = " ".join(words[:SUMMARY_WORDS])
    if len(words) > SUMMARY_WORDS:
        summary += " …"
    return summary[:200] or "(empty message)"


def _count(pattern: re.Pattern[str], turns: list[_Turn], most: int) -> int:
    """How many of the turns the pattern finds something in, counting up to `most`."""
    found = 0
    for turn in turns:
        if found >= most:
            break
        if turn.cue(pattern):
            found += 1
    return found


def _distinct(pattern: re.Pattern[str], text: str, most: int) -> int:
    """How many different texts the pattern matches (as `findall` finds them), up to `most`."""
    seen: set[str] = set()
    for match in pattern.finditer(text):
        seen.add(match.group())
        if len(seen) >= most:
            break
    return len(seen)


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


_NEGATE = frozenset(NEGATE)


class _SentiWords(SentiText):
    """`SentiText` of words already split (what VADER's scoring steps read of it)."""

    def __init__(self, words: list[str]) -> None:
        self.words_and_emoticons = words
        self.is_cap_diff = allcap_differential(words)


class _Vader(SentimentIntensityAnalyzer):
    """VADER without the given lexicon words, and `compound(text)`: exactly
    `polarity_scores(text)["compound"]` in well under half the time.

    The library's own steps do the scoring; only its waste is cut: the character-by-character
    emoji pass (skipped when the text holds no emoji), a second look-up for words outside the
    lexicon, lower-casing the whole sentence again for each lexicon word's negation and idiom
    checks (here only the words those checks read), and scanning the negation list word by word.
    A sentence without a lexicon word scores 0.0 (every word's valence is 0). A unit test compares
    it with the library's `polarity_scores`.
    """

    def __init__(self, neutral_words: frozenset[str]) -> None:
        super().__init__()
        for word in neutral_words:
            self.lexicon.pop(word, None)
        # The emoji pass replaces single characters only.
        self._emoji_chars = frozenset(key for key in self.emojis if len(key) == 1)

    def compound(self, text: str) -> float:
        if not text.isascii() and not self._emoji_chars.isdisjoint(text):
            return self.polarity_scores(text)["compound"]
        text = text.strip()
        # SentiText's words: split, punctuation stripped unless that leaves 2 characters or fewer
        punctuation = string.punctuation
        words = [
            word if len(stripped := word.strip(punctuation)) <= 2 else stripped
            for word in text.split()
        ]
        lexicon = self.lexicon
        lowered = [word.lower() for word in words]
        if lexicon.keys().isdisjoint(lowered):
            return 0.0
        sentitext = _SentiWords(words)
        last = len(words) - 1
        sentiments: list[float] = []
        for i, low in enumerate(lowered):
            if (
                low in BOOSTER_DICT
                or (low == "kind" and i < last and lowered[i + 1] == "of")
                or low not in lexicon
            ):
                sentiments.append(0)
            else:
                sentiments = self.sentiment_valence(0, sentitext, words[i], i, sentiments)
        if "but" in lowered:
            sentiments = self._but_check(words, sentiments)
        return self.score_valence(sentiments, text)["compound"]

    @staticmethod
    def _negated(word: str) -> bool:
        """The library's `negated([word])`."""
        low = str(word).lower()
        return low in _NEGATE or "n't" in low

    @staticmethod
    def _negation_check(valence: float, words: list[str], start_i: int, i: int) -> float:
        def low(k: int) -> str:
            return str(words[k]).lower()

        negated = _Vader._negated
        if start_i == 0:
            return valence * N_SCALAR if negated(low(i - 1)) else valence
        if start_i == 1:
            if low(i - 2) == "never" and low(i - 1) in ("so", "this"):
                return valence * 1.25
            if low(i - 2) == "without" and low(i - 1) == "doubt":
                return valence
            return valence * N_SCALAR if negated(low(i - 2)) else valence
        if start_i == 2:
            if (low(i - 3) == "never" and low(i - 2) in ("so", "this")) or low(i - 1) in (
                "so",
                "this",
            ):
                return valence * 1.25
            if low(i - 3) == "without" and "doubt" in (low(i - 2), low(i - 1)):
                return valence
            return valence * N_SCALAR if negated(low(i - 3)) else valence
        return valence

    @staticmethod
    def _special_idioms_check(valence: float, words: list[str], i: int) -> float:
        def low(k: int) -> str:
            return str(words[k]).lower()

        three, two, one, zero = low(i - 3), low(i - 2), low(i - 1), low(i)
        onezero, twoone, threetwo = f"{one} {zero}", f"{two} {one}", f"{three} {two}"
        twoonezero, threetwoone = f"{two} {one} {zero}", f"{three} {two} {one}"
        for sequence in (onezero, twoonezero, twoone, threetwoone, threetwo):
            if sequence in SPECIAL_CASES:
                valence = SPECIAL_CASES[sequence]
                break
        if len(words) - 1 > i:
            zeroone = f"{zero} {low(i + 1)}"
            if zeroone in SPECIAL_CASES:
                valence = SPECIAL_CASES[zeroone]
        if len(words) - 1 > i + 1:
            zeroonetwo = f"{zero} {low(i + 1)} {low(i + 2)}"
            if zeroonetwo in SPECIAL_CASES:
                valence = SPECIAL_CASES[zeroonetwo]
        for n_gram in (threetwoone, threetwo, twoone):
            if n_gram in BOOSTER_DICT:
                valence = valence + BOOSTER_DICT[n_gram]
        return valence


class OfflineJudge(BaseJudge):
    """Rule-based judge: same input, same verdict; well under a millisecond per conversation.

    `taxonomy` defaults to `Taxonomy.load()` (`$CX_TOPIC_TAXONOMY` or the packaged file), read
    when the judge is built; its hash is part of `version`.
    """

    kind = "offline"
    name = "cx-offline"
    model = None

    def __init__(self, taxonomy: Taxonomy | None = None) -> None:
        self.taxonomy = taxonomy if taxonomy is not None else Taxonomy.load()
        self.version = f"{OFFLINE_RULES_VERSION}+{RUBRIC_VERSION}+tax-{self.taxonomy.version}"
        # In support chats these words are formulas of asking and politeness, not mood.
        self._vader = _Vader(NEUTRAL_WORDS)

    def __repr__(self) -> str:
        return f"OfflineJudge(version={self.version!r})"

    # --- entry points ------------------------------------------------------------------------

    def judge(self, conversation: Conversation) -> Verdict:
        body = self.observe(conversation)
        return apply_rubric(body)

    def observe(self, conversation: Conversation) -> VerdictBody:
        """The observations (what the rubric scores), without the scores."""
        turns = self._turns(conversation)
        customer = [t for t in turns if t.role == "customer"]
        if not customer:
            raise JudgeError(
                f"conversation {conversation.conversation_id!r} has no customer text to judge",
                reason="judge_no_customer_text",
            )
        agent = [t for t in turns if t.role == "agent"]
        issues = self._issues(turns)
        start, end, trajectory = self._sentiment(turns, customer)
        # the agent's mean message length in words (the same over the joined text)
        words = sum(len(t.text.split()) for t in agent) / len(agent) if agent else 0.0
        tone = self._tone(agent, words)
        knowledge = self._knowledge(agent, words)
        timeliness = self._timeliness(turns)
        repeats = self._repeats(turns)
        loops = sum(repeats)
        needless, needless_at = self._needless_clarifications(turns)
        handoffs = self._broken_handoffs(turns, issues, needless_at, repeats)
        topic = self.taxonomy.classify(" ".join(t.low for t in customer))
        if topic == FALLBACK_TOPIC and agent:
            topic = self.taxonomy.classify(" ".join(t.low for t in turns))
        statuses = [self._status(issue) for issue in issues]
        verdicts = [
            IssueVerdict(
                summary=_summary(turns[issue.opened].text),
                status=status,
                evidence=issue.evidence[:300],
            )
            for issue, status in zip(issues, statuses, strict=True)
        ]
        rationale = self._rationale(
            issues, statuses, (start, end, trajectory), tone, knowledge, timeliness,
            (loops, needless, handoffs), topic, bool(agent),
        )  # fmt: skip
        try:
            return VerdictBody(
                issues=verdicts,
                sentiment_start=start,
                sentiment_end=end,
                sentiment_trajectory=trajectory,
                tone_score=tone,
                knowledge_score=knowledge,
                timeliness_score=timeliness,
                loop_count=loops,
                needless_clarification_count=needless,
                broken_handoff_count=handoffs,
                topic=topic[:64],
                rationale=rationale,
            )
        except ValidationError as error:  # a rule produced an out-of-range value: quarantine
            raise JudgeError(
                f"offline judge produced an invalid verdict: {error.errors()[0]['msg']}",
                reason="judge_invalid_verdict",
                raw_output=str(error),
            ) from error

    # --- transcript ----------------------------------------------------------------------------

    @staticmethod
    def _turns(conversation: Conversation) -> list[_Turn]:
        turns: list[_Turn] = []
        for index, message in enumerate(conversation.messages):
            role, text = message.role, message.text
            if role not in ("customer", "agent") or not text or text.isspace():
                continue
            # (the curly apostrophes are not ASCII: most messages need no translation)
            low = (text if text.isascii() else text.translate(APOSTROPHES)).lower()
            # "have a great day" is no verdict on the help (substring test first: it is cheaper)
            if role == "customer" and COURTESY_HINT.search(low):
                low = COURTESY.sub(" ", low)
            plain = MENTION_OR_URL.sub(" ", low) if URL_HINT.search(low) else low
            tokens = frozenset(TOKEN.findall(plain))
            rare_cues = role == "customer" or AGENT_ANY_RARE_CUE.search(low) is not None
            turns.append(
                _Turn(index, role, message.author_kind, text, low, _utc(message.sent_at), tokens,
                      rare_cues)
            )  # fmt: skip
        return turns

    # --- issues --------------------------------------------------------------------------------

    @staticmethod
    def _issues(turns: list[_Turn]) -> list[_Issue]:
        """Split the customer's needs into issues and follow each one to its outcome."""
        issues: list[_Issue] = []
        agent_since_last = False
        for position, turn in enumerate(turns):
            if turn.role == "agent":
                agent_since_last = True
                continue
            if not issues or (
                agent_since_last
                and len(issues) < MAX_ISSUES
                and REQUEST.search(turn.low)
                and not CUSTOMER_UNHAPPY.search(turn.low)  # a complaint about the answer
            ):
                issues.append(_Issue(position))
                agent_since_last = False
        # A bare greeting ("hi") is not an issue when a real one follows.
        first = turns[issues[0].opened]
        if len(issues) > 1 and len(first.tokens) < 4 and not REQUEST.search(first.low):
            issues.pop(0)
        for number, issue in enumerate(issues):
            last = number + 1 == len(issues)
            stop = len(turns) if last else issues[number + 1].opened
            # The message that opens the next issue may still thank for this one.
            segment = turns[issue.opened + 1 : stop if last else stop + 1]
            OfflineJudge._follow(issue, segment, next_opening=None if last else turns[stop])
        return issues

    @staticmethod
    def _follow(issue: _Issue, segment: list[_Turn], next_opening: _Turn | None) -> None:
        """Walk the messages after an issue opened; the latest decisive cue sets its state.

        States: answered (a reply, no outcome), done (the agent says it is done, unconfirmed),
        resolved (confirmed by the customer), deferred (sent elsewhere), failed.
        """
        answered = False
        proposal = False  # the agent's last message asks the customer to choose or confirm
        for turn in segment:
            if turn.role == "agent":
                answered = True
                proposal = "?" in turn.low and not CLOSING.search(turn.low)
                defer = turn.cue(AGENT_DEFER)
                fixed = turn.cue(AGENT_RESOLVED) or LINK.search(turn.low)
                failed = turn.cue(AGENT_FAILED)
                if defer and not (fixed and not failed):
                    issue.deferred = True
                    if issue.state != "resolved":
                        issue.state, issue.evidence = "deferred", _snippet(turn, defer)
                elif fixed and not failed:
                    if issue.state != "resolved":
                        issue.state, issue.evidence = "done", _snippet(turn, fixed)
                elif failed and not fixed:
                    issue.state, issue.evidence = "failed", _snippet(turn, failed)
                elif issue.state in (None, "failed"):
                    issue.state, issue.evidence = "answered", _snippet(turn, fixed or failed)
                continue
            if not answered:  # the customer is still describing the problem
                continue
            solved = CUSTOMER_SOLVED.search(turn.low)
            if solved:
                issue.state, issue.evidence = "resolved", _snippet(turn, solved)
                continue
            unhappy = None if turn is next_opening else CUSTOMER_UNHAPPY.search(turn.low)
            if not unhappy and issue.state not in ("done", "failed", "resolved"):
                continue  # praise or thanks would change nothing
            praise = CUSTOMER_PRAISE.search(turn.low)
            if unhappy and not praise:
                issue.state, issue.evidence = "failed", _snippet(turn, unhappy)
                continue
            if not praise and issue.state not in ("done", "failed"):
                continue  # only thanks could still count, and it would change nothing
            ack = None if praise else CUSTOMER_ACK.search(turn.low)
            if proposal:  # "sounds great" to an offer accepts it; nothing is done yet
                if (praise or ack) and issue.state == "failed":
                    issue.state, issue.evidence = "answered", _snippet(turn, praise or ack)
            elif praise and issue.state in ("done", "resolved"):
                issue.state, issue.evidence = "resolved", _snippet(turn, praise)
            elif ack and issue.state == "done":
                issue.state, issue.evidence = "resolved", _snippet(turn, ack)
            elif (praise or ack) and issue.state == "failed":
                issue.state, issue.evidence = "answered", _snippet(turn, praise or ack)
        if issue.state is None:
            issue.evidence = "no agent reply to this issue" if not answered else "no outcome"

    @staticmethod
    def _status(issue: _Issue) -> IssueStatus:
        return {
            "resolved": "resolved",
            "done": "partly",
            "deferred": "partly",
            "answered": "partly",
        }.get(issue.state or "", "not_resolved")  # type: ignore[return-value]

    # --- sentiment -----------------------------------------------------------------------------

    def _compound(self, text: str) -> float:
        """VADER compound; for several sentences, their mean (as VADER's authors advise)."""
        text = text[:VADER_MAX_CHARS]
        if COURTESY_HINT.search(text.lower()):
            text = COURTESY.sub(" ", text)
        sentences = [s for s in SENTENCE.split(text) if any(c.isalpha() for c in s)]
        if not sentences:
            return 0.0
        scores = [self._vader.compound(s) for s in sentences]
        weights = [NEGATIVITY_WEIGHT if score < 0 else 1.0 for score in scores]
        return float(sum(w * s for w, s in zip(weights, scores, strict=True)) / sum(weights))

    def _sentiment(
        self, turns: list[_Turn], customer: list[_Turn]
    ) -> tuple[float, float, Trajectory]:
        start = self._compound(customer[0].text)
        if len(customer) > 1:
            end = self._compound(customer[-1].text)
        else:
            end = start
            last = turns[-1]
            if last.role == "agent":
                end = start + SINGLE_MESSAGE_AGENT_WEIGHT * self._compound(last.text)
        start, end = (round(max(-1.0, min(1.0, v)), 4) for v in (start, end))
        delta = end - start
        trajectory: Trajectory = (
            "improved"
            if delta > TRAJECTORY_DELTA
            else "worsened"
            if delta < -TRAJECTORY_DELTA
            else "stable"
        )
        return start, end, trajectory

    # --- service -------------------------------------------------------------------------------

    def _tone(self, agent: list[_Turn], words: float) -> int:
        if not agent:
            return 1
        # One VADER call over the agent's last replies (a mood, not a per-sentence reading).
        recent = " ".join(t.text for t in agent[-3:])[:AGENT_MOOD_CHARS]
        mood = self._vader.compound(recent)
        empathy = any(t.cue(EMPATHY) for t in agent)
        warmth = empathy + (mood >= 0.5)
        if warmth:  # (politeness alone cannot reach the first step, 2)
            warmth += _count(POLITE, agent, most=(len(agent) + 1) // 2) * 2 >= len(agent)
        value = 3 + (warmth >= 2) + (warmth >= 3)
        value -= 2 * _count(RUDE, agent, most=2) + (words < 4) + (mood <= -0.3)
        return max(1, min(5, round_half_up(value)))

    @staticmethod
    def _knowledge(agent: list[_Turn], words: float) -> int:
        if not agent:
            return 1
        text = " ".join(t.text for t in agent)
        low = " ".join(t.low for t in agent)
        value = 2.5
        value += 0.5 if NUMBER.search(text) else 0.0
        value += 1.0 if LINK.search(low) else 0.0
        value += 0.5 if len(list(islice(STEPS.finditer(low), 2))) >= 2 else 0.0
        value += 0.5 if _distinct(NAME, text, most=2) >= 2 else 0.0
        value += 0.5 if words >= 12 else -0.5 if words < 5 else 0.0
        value -= min(2.0, 1.0 * len(list(islice(VAGUE.finditer(low), 2))))
        value -= 0.5 if DEFLECT.search(low) else 0.0
        return max(1, min(5, round_half_up(value)))

    @staticmethod
    def _timeliness(turns: list[_Turn]) -> int | None:
        if sum(1 for t in turns if t.sent_at is not None) < 2:
            return None
        delays: list[float] = []
        waiting_since: datetime | None = None
        for turn in turns:
            if turn.role == "customer":
                if waiting_since is None and turn.sent_at is not None:
                    waiting_since = turn.sent_at
            elif waiting_since is not None and turn.sent_at is not None:
                delays.append(max(0.0, (turn.sent_at - waiting_since).total_seconds()))
                waiting_since = None
        if not delays:
            return None
        median = statistics.median(delays)
        return next((score for limit, score in TIMELINESS_STEPS if median <= limit), 1)

    # --- friction ------------------------------------------------------------------------------

    @staticmethod
    def _repeats(turns: list[_Turn]) -> list[bool]:
        """Per turn, whether it repeats an earlier message of the same speaker (closings aside)."""
        repeats: list[bool] = []
        # each speaker's earlier messages long enough to compare: tokens, count, threshold * count
        earlier: dict[str, list[tuple[frozenset[str], int, float]]] = {"customer": [], "agent": []}
        for turn in turns:
            tokens = turn.tokens
            size = len(tokens)
            if size < LOOP_MIN_TOKENS:
                repeats.append(False)
                continue
            threshold = AGENT_LOOP_JACCARD if turn.role == "agent" else LOOP_JACCARD
            least = threshold * size
            history = earlier[turn.role]
            repeated = False
            for other, other_size, other_least in history:
                # Jaccard <= smaller size / larger size: skip pairs too different to pass
                if other_size < least or size < other_least:
                    continue
                shared = len(tokens & other)
                if shared >= threshold * (size + other_size - shared):
                    repeated = True
                    break
            if repeated and turn.role == "agent" and CLOSING.search(turn.low):
                repeated = False
            repeats.append(repeated)
            history.append((tokens, size, least))
        return repeats

    @staticmethod
    def _needless_clarifications(turns: list[_Turn]) -> tuple[int, set[int]]:
        """Agent questions for a slot the customer already named; returns count and positions."""
        seen: set[str] = set()
        found: set[int] = set()
        for position, turn in enumerate(turns):
            if turn.role == "customer":
                seen |= turn.tokens
                continue
            if "?" not in turn.low or not seen:
                continue
            for match in CLARIFY.finditer(turn.low):
                slot = [w for w in match.groups() if w and w not in CLARIFY_SKIP][:2]
                if slot and all(word in seen for word in slot):
                    found.add(position)
                    break
        return len(found), found

    @staticmethod
    def _broken_handoffs(
        turns: list[_Turn], issues: list[_Issue], needless_at: set[int], repeats: list[bool]
    ) -> int:
        broken = 0
        last_resolved = bool(issues) and issues[-1].state == "resolved"
        counted_ai_handoff = False
        for position, turn in enumerate(turns):
            if turn.role != "agent" or not turn.cue(HANDOFF):
                continue
            later = turns[position + 1 :]
            repeated = any(
                t.role == "customer"
                and (repeats[position + 1 + k] or CUSTOMER_UNHAPPY.search(t.low))
                for k, t in enumerate(later)
            )
            progressed = any(
                (t.role == "agent" and (t.cue(AGENT_RESOLVED) or LINK.search(t.low))
                 and not t.cue(AGENT_DEFER))
                or (t.role == "customer" and CUSTOMER_SOLVED.search(t.low))
                for t in later
            )  # fmt: skip
            if repeated or not (progressed or last_resolved):
                broken += 1
                counted_ai_handoff = counted_ai_handoff or turn.kind == "ai"
        # An AI -> human switch where the human asks again, or the customer has to repeat.
        previous_kind = None  # of the agent's latest message so far
        for position, turn in enumerate(turns):
            if turn.role != "agent":
                continue
            if turn.kind != "human" or previous_kind != "ai":
                previous_kind = turn.kind
                continue
            human_asks_again = any(
                p in needless_at for p in range(position, len(turns)) if turns[p].kind == "human"
            )
            customer_repeats = any(
                turns[p].role == "customer" and repeats[p] for p in range(position + 1, len(turns))
            )
            if (human_asks_again or customer_repeats) and not counted_ai_handoff:
                broken += 1
            break  # only the first switch
        return min(broken, 3)

    # --- rationale -----------------------------------------------------------------------------

    @staticmethod
    def _rationale(
        issues: list[_Issue],
        statuses: list[IssueStatus],
        sentiment: tuple[float, float, Trajectory],
        tone: int,
        knowledge: int,
        timeliness: int | None,
        friction: tuple[int, int, int],
        topic: str,
        any_agent: bool,
    ) -> str:
        counts = {s: statuses.count(s) for s in ("resolved", "partly", "not_resolved")}
        parts = [f"{counts[k]} {k.replace('_', ' ')}" for k in counts if counts[k]]
        notes = []
        if not any_agent:
            notes.append("no agent reply")
        elif any(i.deferred for i in issues):
            notes.append("agent deferred/handed off")
        if any(i.state == "failed" for i in issues):
            notes.append("customer still unhappy or agent could not help")
        note = f" ({'; '.join(notes)})" if notes else ""
        start, end, trajectory = sentiment
        loops, needless, handoffs = friction
        text = (
            f"{_plural(len(issues), 'issue')}: {', '.join(parts)}{note}. "
            f"Customer sentiment {start:+.2f} -> {end:+.2f} ({trajectory}). "
            f"Tone {tone}, knowledge {knowledge}, "
            f"timeliness {timeliness if timeliness is not None else 'n/a'}. "
            f"{_plural(loops, 'loop')}, {_plural(needless, 'needless clarification')}, "
            f"{_plural(handoffs, 'broken hand-off')}. Topic: {topic}."
        )
        return text[:600]
