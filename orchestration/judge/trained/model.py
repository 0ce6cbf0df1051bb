"""The trained model: cues + turn estimates + word n-grams -> P(rated 4-5), score, sub-scores.

    turn model  where training rows carry per-message ratings (USS: the raters' satisfaction
                after each customer message), a ridge regression of that rating on the TF-IDF
                words of the customer message alone (`CustomerWords`). Every conversation gets
                six cues from its estimates over its customer messages (`TURN_NAMES`: last, max,
                min, mean, mean of the last three, share above `TURN_HIGH`); the training rows get
                cross-fitted estimates (`INNER_FOLDS` folds by conversation), never their own.
    features    the rule judge's named cues (`features.CUE_NAMES`) and the turn cues,
                standardised, TF-IDF words of all the customer wrote (`CustomerWords`: counted
                once per message, summed per conversation, so the turn model and these share one
                pass) and of the customer's last message (words and word pairs, `TEXT_NGRAMS`);
                every term seen in at least two training conversations.
    experts     a logistic regression (L2, `C`, classes balanced, liblinear) for "rated 4-5" per
                source family of the training sets (`family`: the helpdesk set, USS), fitted on
                that family's rows only, its cues standardised over those rows (sources rate
                differently: one pooled model cost the helpdesk set 0.05 F1 out of fold), and one
                pooled over every row. A family without rated messages gives turn cues no weight.
    routing     a conversation goes to the training set whose mean text features it is closest
                to (cosine): that set's family expert and that set's threshold. One less similar
                to every set than nearly all of that set's own rows (`NOVELTY_QUANTILE`) is from
                an unseen source: the pooled expert and the pooled threshold score it.
    thresholds  chosen on training data only: out-of-fold probabilities of an inner
                `INNER_FOLDS`-fold split of each expert's rows, cut so the predicted share of 4-5
                equals the human share, per training set (the pooled one over all rows).
    regressor   ridge regression of the raters' mean score; the overall score is its rounding,
                at least 4 when the expert says 4-5 and at most 3 when it does not.
    sub-scores  ridge regressions of the raters' resolution (A) and efficiency (E) on the rows
                that carry them (the helpdesk set); absent when no training row has them.

Everything is linear, so a score is explained by its largest contributions (`explain`).
Deterministic: same data and seed, same model (the seed drives the inner splits).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.preprocessing import StandardScaler

from orchestration.judge.trained.features import CUE_NAMES, Observed, cue_matrix

__all__ = [
    "POOLED",
    "SUBSCORES",
    "TURN_NAMES",
    "CustomerWords",
    "Prediction",
    "Targets",
    "TrainedModel",
    "TurnModel",
    "family",
    "fit_model",
]

C = 0.3
#: Per text besides the customer's single words (`CustomerWords`): n-gram range and vocabulary
#: cap (none: a family's expert needs its own terms, which a cap over the pooled rows would cut).
#: The agent's words are left out (out of fold they added nothing and cost 0.07 ms a
#: conversation).
TEXT_NGRAMS = {"last_customer": ((1, 2), None)}
INNER_FOLDS = 3
RIDGE_ALPHA = 3.0
MIN_SUBSCORE_ROWS = 30
SUBSCORES = ("resolution", "efficiency")
#: The turn model: its ridge penalty, the fewest rated messages it is fitted on, and the rating
#: above which a message counts as a satisfied one.
TURN_ALPHA = 10.0
MIN_TURN_LABELS = 50
TURN_HIGH = 3.3
TURN_NAMES = (
    "turn_last",
    "turn_max",
    "turn_min",
    "turn_mean",
    "turn_last3",
    "turn_share_satisfied",
)
NEUTRAL_TURN = 3.0  # the turn cues when there is no turn model
#: A conversation less similar to its nearest training set than this quantile of that set's own
#: rows is from an unseen source.
NOVELTY_QUANTILE = 0.01
POOLED = "*"


def family(set_name: str) -> str:
    """The source a training set belongs to: `uss_SGD` -> `uss`, `stc3_dev` -> `stc3`."""
    return set_name.split("_", 1)[0]


@dataclass(frozen=True, slots=True)
class Targets:
    """What the model learns, one entry per training conversation."""

    positive: np.ndarray  # bool: consensus rated 4-5
    mean: np.ndarray  # raters' mean score
    subscores: dict[str, np.ndarray] = field(default_factory=dict)  # NaN where unlabelled
    sets: np.ndarray | None = None  # the labelled set of each row (per-set experts, thresholds)
    #: Per row: message index -> the raters' rating after that customer message (or None).
    turns: Sequence[Mapping[int, float] | None] | None = None


@dataclass(frozen=True, slots=True)
class Prediction:
    probability: np.ndarray  # P(rated 4-5), from the row's expert
    positive: np.ndarray  # bool, probability >= threshold
    threshold: np.ndarray  # the threshold applied
    nearest_set: list[str]  # the training set it resembles most, "" for an unseen source
    expert: list[str]  # the expert that scored it (a family, or POOLED)
    score: np.ndarray  # int 1-5
    expected: np.ndarray  # the regressor's expected mean score
    subscores: dict[str, np.ndarray]


@dataclass(slots=True)
class CustomerWords:
    """The customer's single words, counted once per message (`counts`): the turn model reads
    the rows of single messages, the conversation's `customer` features their sums."""

    counter: CountVectorizer  # vocabulary: words of at least two training conversations
    tfidf: TfidfTransformer  # the conversation-level weighting

    def counts(
        self, items: Sequence[Observed]
    ) -> tuple[sparse.csr_matrix, sparse.csr_matrix, np.ndarray]:
        """(word counts per customer message, per conversation, messages per conversation)."""
        texts = [text for item in items for text in item.customer_turns]
        messages = np.fromiter((len(i.customer_turns) for i in items), np.int64, len(items))
        per_message = self.counter.transform(texts)
        owner = np.repeat(np.arange(len(items)), messages)
        summing = sparse.csr_matrix(
            (np.ones(len(texts)), (owner, np.arange(len(texts)))), shape=(len(items), len(texts))
        )
        return per_message, (summing @ per_message).tocsr(), messages


@dataclass(slots=True)
class TurnModel:
    """Estimated satisfaction after each customer message, summarised per conversation."""

    tfidf: TfidfTransformer
    ridge: Ridge

    def estimates(self, per_message: sparse.csr_matrix, messages: np.ndarray) -> np.ndarray:
        """`TURN_NAMES` per conversation (float64, one row each) from `CustomerWords.counts`."""
        values = (
            self.ridge.predict(self.tfidf.transform(per_message))
            if per_message.shape[0]
            else np.zeros(0)
        )
        return _summarise(values, messages)


def _summarise(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    out = np.full((counts.size, len(TURN_NAMES)), NEUTRAL_TURN)
    has = counts > 0
    if not has.any():
        return out
    ends = np.cumsum(counts)
    starts = ends - counts
    s, e, n = starts[has], ends[has], counts[has]
    total = np.concatenate(([0.0], np.cumsum(values)))
    satisfied = np.concatenate(([0], np.cumsum(values > TURN_HIGH)))
    tail = np.minimum(n, 3)
    out[has] = np.column_stack(
        [
            values[e - 1],
            np.maximum.reduceat(values, s),
            np.minimum.reduceat(values, s),
            (total[e] - total[s]) / n,
            (total[e] - total[e - tail]) / tail,
            (satisfied[e] - satisfied[s]) / n,
        ]
    )
    return out


@dataclass(slots=True)
class TrainedModel:
    scaler: StandardScaler
    words: CustomerWords
    vectorizers: dict[str, TfidfVectorizer]
    turn_model: TurnModel | None
    #: family name (or POOLED) -> its classifier; `threshold` is the pooled one's.
    classifiers: dict[str, LogisticRegression]
    regressor: Ridge
    subscore_models: dict[str, Ridge]
    threshold: float
    feature_names: list[str]
    #: Per training set: its expert, threshold, unit centroid of its rows' text features and
    #: the similarity below which a conversation is from an unseen source.
    set_names: list[str] = field(default_factory=list)
    set_experts: list[str] = field(default_factory=list)
    set_thresholds: np.ndarray | None = None
    set_centroids: np.ndarray | None = None
    set_floors: np.ndarray | None = None

    @property
    def n_cues(self) -> int:
        return len(CUE_NAMES) + len(TURN_NAMES)

    def features(self, items: Sequence[Observed]) -> sparse.csr_matrix:
        per_message, per_conversation, messages = self.words.counts(items)
        turns = _turn_estimates(self.turn_model, per_message, messages)
        cues = np.hstack([cue_matrix(items), turns])
        blocks = [
            sparse.csr_matrix(self.scaler.transform(cues)),
            self.words.tfidf.transform(per_conversation),
        ]
        for name in TEXT_NGRAMS:
            blocks.append(self.vectorizers[name].transform([getattr(i, name) for i in items]))
        return sparse.hstack(blocks, format="csr", dtype=np.float64)

    def turn_estimates(self, items: Sequence[Observed]) -> np.ndarray:
        """`TURN_NAMES` per conversation (neutral without a turn model)."""
        per_message, _, messages = self.words.counts(items)
        return _turn_estimates(self.turn_model, per_message, messages)

    def predict(self, items: Sequence[Observed]) -> Prediction:
        return self.predict_features(self.features(items))

    def predict_features(self, x: sparse.csr_matrix) -> Prediction:
        rows = x.shape[0]
        expert = np.full(rows, POOLED, dtype=object)
        threshold = np.full(rows, self.threshold)
        nearest_set = [""] * rows
        if self.set_centroids is not None and self.set_thresholds is not None:
            similarity = np.asarray(x[:, self.n_cues :] @ self.set_centroids.T)
            nearest = similarity.argmax(axis=1)
            known = similarity[np.arange(rows), nearest] >= self.set_floors[nearest]  # type: ignore[index]
            experts = np.array(self.set_experts, dtype=object)
            expert[known] = experts[nearest[known]]
            threshold[known] = self.set_thresholds[nearest[known]]
            nearest_set = [
                self.set_names[n] if k else "" for n, k in zip(nearest, known, strict=True)
            ]
        probability = np.zeros(rows)
        for name, classifier in self.classifiers.items():
            mine = expert == name
            if mine.any():
                probability[mine] = classifier.predict_proba(x[mine])[:, 1]
        positive = probability >= threshold
        expected = self.regressor.predict(x)
        rounded = np.floor(expected + 0.5).astype(np.int64)  # half up, as rubric.round_half_up
        score = np.where(positive, np.clip(rounded, 4, 5), np.clip(rounded, 1, 3))
        subscores = {
            name: np.clip(model.predict(x), 1.0, 5.0)
            for name, model in self.subscore_models.items()
        }
        return Prediction(
            probability, positive, threshold, nearest_set, expert.tolist(), score, expected,
            subscores,
        )  # fmt: skip

    def explain(
        self, x: sparse.csr_matrix, experts: Sequence[str], top: int = 3
    ) -> list[list[tuple[str, float]]]:
        """Per row of `x`: the `top` features that pushed it towards or away from 4-5 the most
        in the classifier of its expert (`experts[row]`): (feature name, coefficient x value),
        largest first, ties in column order; zero contributions left out."""
        names = sorted(self.classifiers)
        weights = np.vstack([self.classifiers[n].coef_[0] for n in names])
        which = np.searchsorted(names, np.asarray(experts, dtype=str))
        lengths = np.diff(x.indptr)
        rows = np.repeat(np.arange(x.shape[0]), lengths)
        contributions = x.data * weights[which[rows], x.indices]
        order = np.lexsort((-np.abs(contributions), rows))  # by row, then largest first
        out: list[list[tuple[str, float]]] = []
        for row, start in enumerate(x.indptr[:-1].tolist()):
            picked = order[start : start + min(top, int(lengths[row]))]
            out.append(
                [
                    (self.feature_names[x.indices[i]], float(contributions[i]))
                    for i in picked.tolist()
                    if contributions[i] != 0
                ]
            )
        return out


def _turn_estimates(
    model: TurnModel | None, per_message: sparse.csr_matrix, messages: np.ndarray
) -> np.ndarray:
    if model is None:
        return np.full((messages.size, len(TURN_NAMES)), NEUTRAL_TURN)
    return model.estimates(per_message, messages)


def _classifier() -> LogisticRegression:
    return LogisticRegression(
        C=C, class_weight="balanced", solver="liblinear", tol=1e-3, random_state=0
    )


def _share_threshold(probability: np.ndarray, share: float) -> float:
    """The probability cut that calls `share` of these conversations 4-5."""
    if share <= 0:
        return 1.0
    return float(np.quantile(probability, 1.0 - share, method="higher"))


def _fit_turn_model(per_message: sparse.csr_matrix, ratings: np.ndarray) -> TurnModel | None:
    """Ridge of the rated messages' ratings (NaN: unrated) on their TF-IDF words."""
    rated = ~np.isnan(ratings)
    if rated.sum() < MIN_TURN_LABELS:
        return None
    tfidf = TfidfTransformer(sublinear_tf=True)
    x = tfidf.fit_transform(per_message[rated])
    return TurnModel(tfidf, Ridge(alpha=TURN_ALPHA).fit(x, ratings[rated]))


def _turn_cues(
    items: Sequence[Observed],
    targets: Targets,
    per_message: sparse.csr_matrix,
    messages: np.ndarray,
    seed: int,
) -> tuple[TurnModel | None, np.ndarray]:
    """The turn model on every training row, and cross-fitted turn cues of the training rows."""
    neutral = np.full((len(items), len(TURN_NAMES)), NEUTRAL_TURN)
    if targets.turns is None:
        return None, neutral
    ratings = np.array(
        [
            (rated or {}).get(index, np.nan)
            for item, rated in zip(items, targets.turns, strict=True)
            for index in item.customer_indices
        ],
        dtype=np.float64,
    )
    model = _fit_turn_model(per_message, ratings)
    if model is None:
        return None, neutral
    if len(items) < INNER_FOLDS:
        return model, model.estimates(per_message, messages)
    owner = np.repeat(np.arange(len(items)), messages)
    out = neutral
    for _, shuffled in KFold(INNER_FOLDS, shuffle=True, random_state=seed).split(out):
        test = np.sort(shuffled)  # the order of the held-out messages' rows
        held = np.isin(owner, test)
        part = _fit_turn_model(per_message, np.where(held, np.nan, ratings)) or model
        out[test] = part.estimates(per_message[held], messages[test])
    return model, out


def _fit_expert(
    x: sparse.csr_matrix, positive: np.ndarray, seed: int
) -> tuple[LogisticRegression, np.ndarray]:
    """A classifier on these rows and out-of-fold probabilities of an inner split of them."""
    folds = min(INNER_FOLDS, int(positive.sum()), int((~positive).sum()))
    inner = np.zeros(x.shape[0])
    if folds >= 2:
        split = StratifiedKFold(folds, shuffle=True, random_state=seed)
        for train, test in split.split(np.zeros(x.shape[0]), positive):
            inner[test] = _classifier().fit(x[train], positive[train]).predict_proba(x[test])[:, 1]
        return _classifier().fit(x, positive), inner
    classifier = _classifier().fit(x, positive)  # too few of one class to hold any out
    return classifier, classifier.predict_proba(x)[:, 1]


def fit_model(items: Sequence[Observed], targets: Targets, seed: int = 0) -> TrainedModel:
    """Fit every part on these conversations only (nothing is tuned on data held out)."""
    positive = np.asarray(targets.positive, dtype=bool)
    if positive.all() or not positive.any():
        raise ValueError("training data needs conversations rated 4-5 and conversations not")
    counter = CountVectorizer(min_df=2, lowercase=False)  # `features` lower-cases once
    counter.fit([i.customer for i in items])
    words = CustomerWords(counter, TfidfTransformer(sublinear_tf=True))
    per_message, per_conversation, messages = words.counts(items)
    turn_model, turns = _turn_cues(items, targets, per_message, messages, seed)
    cues = np.hstack([cue_matrix(items), turns])
    scaler = StandardScaler().fit(cues)
    cues_z = scaler.transform(cues)
    blocks = [sparse.csr_matrix(cues_z), words.tfidf.fit_transform(per_conversation)]
    vectorizers: dict[str, TfidfVectorizer] = {}
    for name in TEXT_NGRAMS:
        ngrams, terms = TEXT_NGRAMS[name]
        vectorizer = TfidfVectorizer(
            ngram_range=ngrams,
            min_df=2,
            max_features=terms,
            sublinear_tf=True,
            lowercase=False,  # `features` lower-cases every text once
            dtype=np.float64,
        )
        blocks.append(vectorizer.fit_transform([getattr(i, name) for i in items]))
        vectorizers[name] = vectorizer
    x = sparse.hstack(blocks, format="csr", dtype=np.float64)  # as `features` builds it
    n_cues = len(CUE_NAMES) + len(TURN_NAMES)

    pooled, pooled_inner = _fit_expert(x, positive, seed)
    classifiers = {POOLED: pooled}
    threshold = _share_threshold(pooled_inner, float(positive.mean()))
    set_names: list[str] = []
    set_experts: list[str] = []
    thresholds: list[float] = []
    centroids: list[np.ndarray] = []
    floors: list[float] = []
    if targets.sets is not None:
        sets = np.asarray(targets.sets).astype(str)
        families = np.array([family(s) for s in sets])
        inner_of = {POOLED: pooled_inner}
        rows_of = {POOLED: np.ones(len(items), dtype=bool)}
        rated = np.array([bool(t) for t in targets.turns or [None] * len(items)])
        for name in sorted(set(families.tolist())):
            rows = families == name
            if positive[rows].all() or not positive[rows].any() or rows.all():
                continue  # no expert of its own: the pooled one scores this family
            # The expert sees its family's cues standardised over its own rows (the pooled
            # scale would regularise them by another source's spread); the affine map is folded
            # into its weights afterwards, so it scores the pooled feature rows directly.
            z = cues_z[rows]
            centre, spread = z.mean(axis=0), z.std(axis=0)
            spread[spread == 0] = 1.0
            if turn_model is not None and not rated[rows].any():
                # Turn cues learnt on other sources' ratings: this family's expert does without.
                centre[len(CUE_NAMES) :], spread[len(CUE_NAMES) :] = 0.0, np.inf
            own = sparse.hstack(
                [sparse.csr_matrix((z - centre) / spread), x[rows][:, n_cues:]], format="csr"
            )
            expert, inner_of[name] = _fit_expert(own, positive[rows], seed)
            weights = expert.coef_[0, :n_cues] / spread
            expert.intercept_ = expert.intercept_ - float(weights @ centre)
            expert.coef_[0, :n_cues] = weights
            classifiers[name] = expert
            rows_of[name] = rows
        text = x[:, n_cues:]
        for name in sorted(set(sets.tolist())):
            rows = sets == name
            centroid = np.asarray(text[rows].mean(axis=0)).ravel()
            norm = float(np.linalg.norm(centroid))
            if not positive[rows].any() or norm == 0:
                continue
            expert = family(name) if family(name) in classifiers else POOLED
            inner = np.zeros(len(items))
            inner[rows_of[expert]] = inner_of[expert]
            set_names.append(name)
            set_experts.append(expert)
            thresholds.append(_share_threshold(inner[rows], float(positive[rows].mean())))
            centroids.append(centroid / norm)
            own = np.asarray(text[rows] @ centroids[-1]).ravel()
            floors.append(float(np.quantile(own, NOVELTY_QUANTILE)))

    regressor = Ridge(alpha=RIDGE_ALPHA).fit(x, np.asarray(targets.mean, dtype=np.float64))
    subscore_models: dict[str, Ridge] = {}
    for name in SUBSCORES:
        values = targets.subscores.get(name)
        if values is None:
            continue
        known = ~np.isnan(values)
        if known.sum() >= MIN_SUBSCORE_ROWS:
            subscore_models[name] = Ridge(alpha=RIDGE_ALPHA).fit(x[known], values[known])
    names = [f"cue:{n}" for n in (*CUE_NAMES, *TURN_NAMES)]
    names.extend(f"customer:{term}" for term in counter.get_feature_names_out())
    for name in TEXT_NGRAMS:
        names.extend(f"{name}:{term}" for term in vectorizers[name].get_feature_names_out())
    return TrainedModel(
        scaler=scaler,
        words=words,
        vectorizers=vectorizers,
        turn_model=turn_model,
        classifiers=classifiers,
        regressor=regressor,
        subscore_models=subscore_models,
        threshold=threshold,
        feature_names=names,
        set_names=set_names,
        set_experts=set_experts,
        set_thresholds=np.array(thresholds) if set_names else None,
        set_centroids=np.vstack(centroids) if set_names else None,
        set_floors=np.array(floors) if set_names else None,
    )
