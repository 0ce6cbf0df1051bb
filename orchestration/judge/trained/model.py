"""The trained model: cues + word n-grams -> P(rated 4-5), expected score, and sub-scores.

    families    one model per source family (`family_of`: the helpdesk set; USS with its four
                subsets), each with everything below fitted on that family's conversations
                only, and a router sending a conversation to the family whose customers' words
                it resembles most (`TrainedModel`). Pooled, USS's 3,500 dialogues set the
                helpdesk threads' weights: out-of-fold F1 on the helpdesk set 0.60 pooled, 0.72
                per family (mean of 5 grouped 5-fold splits).

Per family:

    features    the rule judge's named cues (`features.CUE_NAMES`, standardised) and TF-IDF
                words of three texts (`TEXT_NGRAMS`): all the customer wrote and all the agent
                wrote (single words), the customer's last message (words and word pairs);
                terms seen at least twice, the most frequent few thousand per text.
    classifier  logistic regression (L2, `C`, classes balanced, liblinear) for "rated 4-5".
    threshold   the probability above which a conversation is called 4-5, chosen on the training
                data only: out-of-fold probabilities of an inner `INNER_FOLDS`-fold split, cut so
                the predicted share of 4-5 equals the human share, per training set (sources
                differ); a conversation gets the cut of the training set whose mean text
                features it is closest to (cosine), i.e. the source it resembles.
    regressor   ridge regression of the raters' mean score; the overall score is its rounding,
                at least 4 when the classifier says 4-5 and at most 3 when it does not.
    sub-scores  ridge regressions of the raters' resolution (A) and efficiency (E) on the rows
                that carry them (the helpdesk set); absent when no training row has them.
    unfamiliar  the share of a conversation's customer words the family's customer vocabulary
                holds (`familiarity`); under the `UNFAMILIAR_QUANTILE` of the family's training
                conversations' (out of fold, on the inner folds) the rubric rule scores the
                conversation instead (`Prediction.unfamiliar`): held out, a cut learnt on other
                sources transferred badly (the USS-trained model called 2.7% of the helpdesk
                threads 4-5 for the humans' 13.8%; with the gate 15.8%, F1 0.20 -> 0.39).

Across families, where training rows carry per-turn ratings (USS: the raters' satisfaction at
every user turn, 41,552 turns):

    turn model  ridge regression of a turn's rating from the customer's message, words and word
                pairs (`TurnModel`); its predictions, summarised per conversation
                (`TURN_NAMES`: mean, last, last three, min, max, later turns weighted, shares
                above and below the training turns' 90th/10th percentiles), join the cues. Rows it
                was trained on get cross-fitted summaries (`TURN_FOLDS` folds), so the
                classifier never learns from predictions of turns the turn model has seen.

Everything is linear, so a score is explained by its largest contributions
(`FamilyModel.explain`).
Deterministic: same data and seed, same model (the seed drives the inner split).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.preprocessing import StandardScaler

from orchestration.judge.rubric import round_half_up, rubric_score
from orchestration.judge.trained.features import (
    CUE_NAMES,
    TEXT_FIELDS,
    Observed,
    cue_matrix,
    customer_words,
    words,
    words_and_pairs,
)

__all__ = [
    "SOFT_LABEL_FAMILIES",
    "SUBSCORES",
    "TURN_NAMES",
    "FamilyModel",
    "Prediction",
    "Targets",
    "TrainedModel",
    "TurnModel",
    "family_of",
    "fit_model",
]

C = 0.3  # the classifier's inverse regularisation where no inner folds can choose it
#: The candidates a family's classifier chooses from on its own inner folds (the C whose
#: out-of-fold probabilities order the family's training rows best, ROC AUC; ties to the
#: smaller), when it has at least `MIN_POSITIVE_FOR_C` rows rated 4-5: with fewer, the inner
#: AUC is too noisy to choose by (the helpdesk set's ~33 per training split chose the grid's
#: edge, 0.03, and its F1 fell 0.731 -> 0.702 on split seeds 0-2), and C stays `C`. USS
#: (~480 per split) chooses 0.03-0.1: `--repeats 5` F1 0.365 -> 0.378 on split seeds 0-4,
#: 0.365 -> 0.375 on seeds 5-9 (trained-6).
C_GRID = (0.03, 0.1, 0.3, 1.0)
MIN_POSITIVE_FOR_C = 100
#: Per text: n-gram range and vocabulary cap. Unigrams for the long texts keep scoring fast.
TEXT_NGRAMS = {
    "customer": ((1, 1), 5_000),
    "last_customer": ((1, 2), 20_000),
    "agent": ((1, 1), 5_000),
}
INNER_FOLDS = 3
ROUTER_TERMS = 5_000
RIDGE_ALPHA = 3.0
MIN_SUBSCORE_ROWS = 30
SUBSCORES = ("resolution", "efficiency")
#: The turn model's per-conversation summaries, in column order after `CUE_NAMES`.
TURN_NAMES = (
    "turn_mean",
    "turn_last",
    "turn_last3",
    "turn_min",
    "turn_max",
    "turn_weighted",
    "turn_high_share",
    "turn_low_share",
)
TURN_FOLDS = 5
#: The turn model's n-gram range and vocabulary cap. The agent's reply before the turn added
#: nothing (USS, five folds: AUC of the summaries 0.716 with its words, 0.715 without) and cost
#: half the scoring time.
TURN_NGRAMS = ((1, 2), 20_000)
#: Families whose classifier learns from the raters' share of 4-5 ratings (each conversation
#: once as 4-5, weighted by that share, once as not, weighted by the rest) instead of the
#: consensus label alone. USS (3 raters per dialogue), `--repeats 5` (trained-5): F1 0.358 ->
#: 0.365 on split seeds 0-4, 0.350 -> 0.365 on seeds 5-9, AUC 0.71 -> 0.72 on both. The helpdesk
#: set's F1 fell with it (0.731 -> 0.695, before the turn model), so it keeps the consensus label.
SOFT_LABEL_FAMILIES = frozenset({"uss"})
#: A conversation is unfamiliar to its family's model when the model's customer vocabulary holds
#: a smaller share of the customer's words than it held for all but this quantile of the
#: family's own training conversations (out of fold, on the inner folds). The model's P(4-5) is
#: then not used: the rubric rule, which needs no training data, decides the score.
UNFAMILIAR_QUANTILE = 0.01


@dataclass(frozen=True, slots=True)
class Targets:
    """What the model learns, one entry per training conversation."""

    positive: np.ndarray  # bool: consensus rated 4-5
    mean: np.ndarray  # raters' mean score
    subscores: dict[str, np.ndarray] = field(default_factory=dict)  # NaN where unlabelled
    sets: np.ndarray | None = None  # the labelled set of each row (per-set thresholds)
    #: Per row, the raters' mean at each customer turn (NaN unrated; empty without turn labels).
    turns: list[np.ndarray] | None = None
    #: Per row, the share of raters who gave 4 or 5 (the label itself without raters).
    share: np.ndarray | None = None

    def take(self, rows: np.ndarray) -> Targets:
        """These rows' targets only."""
        return Targets(
            positive=self.positive[rows],
            mean=self.mean[rows],
            subscores={name: values[rows] for name, values in self.subscores.items()},
            sets=None if self.sets is None else self.sets[rows],
            turns=None if self.turns is None else [self.turns[i] for i in rows],
            share=None if self.share is None else self.share[rows],
        )


@dataclass(frozen=True, slots=True)
class Prediction:
    probability: np.ndarray  # P(rated 4-5)
    positive: np.ndarray  # bool, probability >= threshold
    threshold: np.ndarray  # the threshold applied (that of the nearest training set)
    nearest_set: list[str]  # the training set whose texts this conversation resembles most
    score: np.ndarray  # int 1-5
    expected: np.ndarray  # the regressor's expected mean score
    subscores: dict[str, np.ndarray]  # NaN where the row's family has no such model
    family: list[str] = field(default_factory=list)  # the family model that scored each row
    #: Per row: the share of the customer's words the family's vocabulary knows, and whether
    #: that is under the family's `FamilyModel.familiar_min` (then `positive` and `score` are
    #: the rubric rule's; `probability` stays the model's).
    familiarity: np.ndarray | None = None
    unfamiliar: np.ndarray | None = None
    #: Per row, with `explain=True`: the features that moved P(4-5) most (`FamilyModel.explain`).
    drivers: list[list[tuple[str, float]]] = field(default_factory=list)


@dataclass(slots=True)
class TurnModel:
    """The raters' satisfaction at one customer turn, from the turn's words and word pairs (ridge
    regression; fitted on every training turn with a rating), summarised per conversation as
    `TURN_NAMES`."""

    vectorizer: TfidfVectorizer
    regressor: Ridge
    high: float  # the training turns' 90th percentile of predictions
    low: float  # and 10th
    default: float  # the training turns' mean rating: the summary of a conversation with no turn

    def predict_turns(self, items: Sequence[Observed]) -> tuple[np.ndarray, np.ndarray]:
        """Every customer turn's predicted rating, conversation after conversation, and the
        number of turns of each conversation."""
        counts = np.array([len(i.customer_turns) for i in items], dtype=np.int64)
        texts = [t for i in items for t in i.customer_turns]
        if not texts:
            return np.zeros(0), counts
        return self.regressor.predict(self.vectorizer.transform(texts)), counts

    def summaries(self, items: Sequence[Observed]) -> np.ndarray:
        """One row of `TURN_NAMES` per conversation."""
        predicted, counts = self.predict_turns(items)
        return _summarise(predicted, counts, self.high, self.low, self.default)


def _summarise(
    predicted: np.ndarray, counts: np.ndarray, high: float, low: float, default: float
) -> np.ndarray:
    """`TURN_NAMES` per conversation from its turns' predictions (concatenated, `counts` each),
    vectorised over the batch; a conversation without turns gets `default` and no shares."""
    out = np.zeros((len(counts), len(TURN_NAMES)))
    out[:, :6] = default  # every summary but the two shares
    some = counts > 0
    if not some.any():
        return out
    n = counts[some]
    ends = np.cumsum(counts)[some]
    starts = ends - n
    total = np.concatenate([[0.0], np.cumsum(predicted)])
    position = np.arange(len(predicted)) - np.repeat(np.cumsum(counts) - counts, counts)
    length = np.repeat(counts, counts)
    # later turns weigh more: 0.2 for the first, 1.0 for the last
    weight = 0.2 + 0.8 * np.divide(position, length - 1, out=np.ones(len(predicted)),
                                   where=length > 1)  # fmt: skip
    weighted = np.concatenate([[0.0], np.cumsum(weight * predicted)])
    weights = np.concatenate([[0.0], np.cumsum(weight)])
    last3 = np.maximum(ends - 3, starts)
    out[some] = np.column_stack(
        [
            (total[ends] - total[starts]) / n,
            predicted[ends - 1],
            (total[ends] - total[last3]) / (ends - last3),
            np.minimum.reduceat(predicted, starts),
            np.maximum.reduceat(predicted, starts),
            (weighted[ends] - weighted[starts]) / (weights[ends] - weights[starts]),
            np.add.reduceat((predicted > high).astype(np.float64), starts) / n,
            np.add.reduceat((predicted < low).astype(np.float64), starts) / n,
        ]
    )
    return out


def _fit_turns(items: Sequence[Observed], ratings: Sequence[np.ndarray]) -> TurnModel:
    """The turn model, fitted on every rated turn of these conversations."""
    texts: list[str] = []
    values: list[float] = []
    for item, rated in zip(items, ratings, strict=True):
        if len(rated) != len(item.customer_turns):
            raise ValueError(
                f"{len(rated)} turn ratings for {len(item.customer_turns)} customer turns"
            )
        for text, value in zip(item.customer_turns, rated, strict=True):
            if np.isfinite(value):
                texts.append(text)
                values.append(float(value))
    vectorizer = _vectorizer(*TURN_NGRAMS, words)
    x = vectorizer.fit_transform(texts)
    target = np.asarray(values)
    regressor = Ridge(alpha=RIDGE_ALPHA).fit(x, target)
    fitted = regressor.predict(x)
    return TurnModel(
        vectorizer=vectorizer,
        regressor=regressor,
        high=float(np.quantile(fitted, 0.9)),
        low=float(np.quantile(fitted, 0.1)),
        default=float(target.mean()),
    )


def _turn_summaries(
    items: Sequence[Observed], targets: Targets, rated: np.ndarray, seed: int
) -> tuple[TurnModel | None, np.ndarray | None]:
    """The turn model of these training rows (None when fewer than `TURN_FOLDS` rows have turn
    ratings: `rated`, bool per row) and every row's summaries: cross-fitted for the rows it
    learns from (each from a model that never saw that conversation), from the whole model for
    the others."""
    learn = np.flatnonzero(rated)
    if learn.size < TURN_FOLDS or targets.turns is None:
        return None, None
    turns = targets.turns
    model = _fit_turns([items[i] for i in learn], [turns[i] for i in learn])
    summaries = np.zeros((len(items), len(TURN_NAMES)))
    others = np.flatnonzero(~rated)
    if others.size:
        summaries[others] = model.summaries([items[i] for i in others])
    for train, test in KFold(TURN_FOLDS, shuffle=True, random_state=seed).split(learn):
        fold = _fit_turns([items[i] for i in learn[train]], [turns[i] for i in learn[train]])
        summaries[learn[test]] = fold.summaries([items[i] for i in learn[test]])
    return model, summaries


@dataclass(slots=True)
class FamilyModel:
    """The model of one source family (its own vocabulary, scaler, weights and cuts)."""

    scaler: StandardScaler
    vectorizers: dict[str, TfidfVectorizer]
    classifier: LogisticRegression
    regressor: Ridge
    subscore_models: dict[str, Ridge]
    threshold: float  # over all of the family's training data
    feature_names: list[str]
    #: Per training set: its threshold, and the unit centroid of its rows' text features.
    set_names: list[str] = field(default_factory=list)
    set_thresholds: np.ndarray | None = None
    set_centroids: np.ndarray | None = None
    training_sets: list[str] = field(default_factory=list)
    uses_turns: bool = False  # the turn model's summaries follow the cues
    soft_labels: bool = False  # the classifier learnt from the raters' shares of 4-5
    c: float = C  # the classifier's inverse regularisation (chosen on the inner folds)
    #: The familiarity (`familiarity`) under which a conversation is unfamiliar to this model:
    #: the `UNFAMILIAR_QUANTILE` of its training conversations', out of fold (0: never).
    familiar_min: float = 0.0

    def familiarity(self, items: Sequence[Observed]) -> np.ndarray:
        """Per conversation, the share of the customer's words this model's customer vocabulary
        holds (1.0 when the customer wrote no word)."""
        return familiarity(self.vectorizers["customer"].vocabulary_, items)

    def features(
        self, items: Sequence[Observed], summaries: np.ndarray | None = None
    ) -> sparse.csr_matrix:
        if self.uses_turns and summaries is None:
            raise ValueError("this family model needs the turn model's summaries")
        return _features(
            items, self.scaler, self.vectorizers, summaries if self.uses_turns else None
        )

    def predict_features(self, x: sparse.csr_matrix) -> Prediction:
        probability = self.classifier.predict_proba(x)[:, 1]
        if self.set_centroids is not None and self.set_thresholds is not None:
            text = x[:, self.scaler.n_features_in_ :]
            nearest = np.asarray(text @ self.set_centroids.T).argmax(axis=1)
            threshold = self.set_thresholds[nearest]
            nearest_set = [self.set_names[i] for i in nearest]
        else:
            threshold = np.full(probability.shape, self.threshold)
            nearest_set = [""] * len(probability)
        positive = probability >= threshold
        expected = self.regressor.predict(x)
        rounded = np.array([round_half_up(float(v)) for v in expected], dtype=np.int64)
        score = np.where(positive, np.clip(rounded, 4, 5), np.clip(rounded, 1, 3))
        subscores = {
            name: np.clip(model.predict(x), 1.0, 5.0)
            for name, model in self.subscore_models.items()
        }
        return Prediction(probability, positive, threshold, nearest_set, score, expected, subscores)

    def explain(self, x: sparse.csr_matrix, row: int, top: int = 3) -> list[tuple[str, float]]:
        """The `top` features that pushed row `row` of `x` towards or away from 4-5 the most.

        (feature name, contribution to the log-odds: coefficient x value), largest first.
        """
        start, stop = x.indptr[row], x.indptr[row + 1]
        indices = x.indices[start:stop]
        contributions = x.data[start:stop] * self.classifier.coef_[0][indices]
        order = np.argsort(-np.abs(contributions), kind="stable")[:top]
        return [
            (self.feature_names[indices[i]], float(contributions[i]))
            for i in order
            if contributions[i] != 0
        ]


def familiarity(vocabulary: dict[str, int], items: Sequence[Observed]) -> np.ndarray:
    """Per conversation, the share of the customer's words (`customer_words`) that are terms of
    `vocabulary` (1.0 when the customer wrote no word)."""
    out = np.ones(len(items))
    for row, item in enumerate(items):
        tokens = customer_words(item.customer)
        if tokens:
            out[row] = sum(token in vocabulary for token in tokens) / len(tokens)
    return out


def _familiar_min(items: Sequence[Observed], parts: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """`UNFAMILIAR_QUANTILE` of the training conversations' familiarity, each measured against
    the customer vocabulary of the inner folds that left it out (in sample a row's own words
    count towards the vocabulary, so every row would look more familiar than a new one)."""
    ngrams, terms = TEXT_NGRAMS["customer"]
    known = np.ones(len(items))
    for train, test in parts:
        vectorizer = _vectorizer(ngrams, terms, customer_words)
        vectorizer.fit([items[i].customer for i in train])
        known[test] = familiarity(vectorizer.vocabulary_, [items[i] for i in test])
    return float(np.quantile(known, UNFAMILIAR_QUANTILE))


def _dense(items: Sequence[Observed], summaries: np.ndarray | None) -> np.ndarray:
    """The named numbers of each conversation: the cues, then the turn summaries if any."""
    cues = cue_matrix(items)
    return cues if summaries is None else np.hstack([cues, summaries])


def _features(
    items: Sequence[Observed],
    scaler: StandardScaler,
    vectorizers: dict[str, TfidfVectorizer],
    summaries: np.ndarray | None = None,
) -> sparse.csr_matrix:
    blocks = [sparse.csr_matrix(scaler.transform(_dense(items, summaries)))]
    for name in TEXT_FIELDS:
        blocks.append(vectorizers[name].transform([getattr(i, name) for i in items]))
    return sparse.hstack(blocks, format="csr", dtype=np.float64)


def _vectorizer(
    ngrams: tuple[int, int], terms: int, tokenizer: Callable[[str], Sequence[str]]
) -> TfidfVectorizer:
    """TF-IDF of n-grams seen in at least two conversations, the `terms` most frequent (words
    and word pairs of `words` through `words_and_pairs`: the same terms, faster)."""
    common: dict[str, Any] = {
        "min_df": 2,
        "max_features": terms,
        "sublinear_tf": True,
        "dtype": np.float64,
    }
    if ngrams == (1, 2) and tokenizer is words:
        return TfidfVectorizer(analyzer=words_and_pairs, **common)
    return TfidfVectorizer(
        tokenizer=tokenizer, token_pattern=None, lowercase=False, ngram_range=ngrams, **common
    )


def _unit_mean(x: sparse.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """The mean of these rows of `x`, scaled to unit length (all zeros when the mean is): the
    centroid a conversation's features are compared with by cosine."""
    centroid = np.asarray(x[rows].mean(axis=0)).ravel()
    norm = float(np.linalg.norm(centroid))
    return centroid / norm if norm > 0 else centroid


def _classifier(c: float = C) -> LogisticRegression:
    return LogisticRegression(
        C=c, class_weight="balanced", solver="liblinear", tol=1e-3, random_state=0
    )


def _fit_classifier(
    x: sparse.csr_matrix, positive: np.ndarray, share: np.ndarray | None, c: float = C
) -> LogisticRegression:
    """The classifier on the consensus label, or with `share` (each row's raters' share of 4-5)
    on soft labels: every row once as 4-5 weighted by its share and once as not, weighted by the
    rest (rows with weight 0 left out). Shares of exactly 0 and 1 give the hard fit."""
    if share is None:
        return _classifier(c).fit(x, positive)
    share = np.clip(np.asarray(share, dtype=np.float64), 0.0, 1.0)
    weight = np.concatenate([share, 1.0 - share])
    label = np.concatenate([np.ones(len(share), dtype=bool), np.zeros(len(share), dtype=bool)])
    keep = weight > 0
    doubled = sparse.vstack([x, x], format="csr")[keep]
    return _classifier(c).fit(doubled, label[keep], sample_weight=weight[keep])


def _share_threshold(probability: np.ndarray, share: float) -> float:
    """The probability cut that calls `share` of these conversations 4-5."""
    if share <= 0:
        return 1.0
    return float(np.quantile(probability, 1.0 - share, method="higher"))


def _fit_family(
    items: Sequence[Observed],
    targets: Targets,
    seed: int,
    summaries: np.ndarray | None = None,
    soft: bool = False,
) -> FamilyModel:
    """One family's model, every part fitted on these conversations only (`summaries`: the turn
    model's, cross-fitted where it learnt from the row; None for no turn features; `soft`: the
    classifier learns from the raters' shares of 4-5, `_fit_classifier`)."""
    positive = np.asarray(targets.positive, dtype=bool)
    share = targets.share if soft else None
    if soft and share is None:
        raise ValueError("soft labels need the raters' share of 4-5 (Targets.share)")
    if positive.all() or not positive.any():
        raise ValueError("training data needs conversations rated 4-5 and conversations not")
    dense = _dense(items, summaries)
    scaler = StandardScaler().fit(dense)
    blocks = [sparse.csr_matrix(scaler.transform(dense))]
    vectorizers: dict[str, TfidfVectorizer] = {}
    for name in TEXT_FIELDS:
        ngrams, terms = TEXT_NGRAMS[name]
        vectorizer = _vectorizer(ngrams, terms, customer_words if name == "customer" else words)
        blocks.append(vectorizer.fit_transform([getattr(i, name) for i in items]))
        vectorizers[name] = vectorizer
    x = sparse.hstack(blocks, format="csr", dtype=np.float64)  # as `_features` builds it

    # The threshold: inner out-of-fold probabilities of the training data, cut at its share.
    folds = min(INNER_FOLDS, int(positive.sum()), int((~positive).sum()))
    inner = np.zeros(len(items))
    c = C
    familiar_min = 0.0
    choose_c = int(positive.sum()) >= MIN_POSITIVE_FOR_C
    if folds >= 2:
        # The same folds choose C (`C_GRID`) and give the probabilities the cut is made on.
        parts = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, positive))
        familiar_min = _familiar_min(items, parts)
        best_auc = -1.0
        for candidate in C_GRID if choose_c else (C,):
            oof = np.zeros(len(items))
            for train, test in parts:
                fold_share = None if share is None else share[train]
                fold = _fit_classifier(x[train], positive[train], fold_share, candidate)
                oof[test] = fold.predict_proba(x[test])[:, 1]
            auc = float(roc_auc_score(positive, oof))
            if auc > best_auc + 1e-9:
                best_auc, c, inner = auc, candidate, oof
    else:  # too few examples of one class to hold any out: in-sample (said in the card)
        inner = _fit_classifier(x, positive, share).predict_proba(x)[:, 1]
    threshold = _share_threshold(inner, float(positive.mean()))
    # Sources differ in how often people rate 4-5 (the helpdesk set 14%, USS ReDial 25%): each
    # training set gets its own cut, and a conversation the cut of the set its words resemble
    # most (cosine to the set's mean text features). Still training data only.
    set_names: list[str] = []
    thresholds: list[float] = []
    centroids: list[np.ndarray] = []
    if targets.sets is not None:
        text = x[:, dense.shape[1] :]
        for name in sorted(set(targets.sets.tolist())):
            rows = targets.sets == name
            centroid = _unit_mean(text, rows)
            if not positive[rows].any() or not centroid.any():
                continue
            set_names.append(str(name))
            thresholds.append(_share_threshold(inner[rows], float(positive[rows].mean())))
            centroids.append(centroid)

    classifier = _fit_classifier(x, positive, share, c)
    regressor = Ridge(alpha=RIDGE_ALPHA).fit(x, np.asarray(targets.mean, dtype=np.float64))
    subscore_models: dict[str, Ridge] = {}
    for name in SUBSCORES:
        values = targets.subscores.get(name)
        if values is None:
            continue
        known = ~np.isnan(values)
        if known.sum() >= MIN_SUBSCORE_ROWS:
            subscore_models[name] = Ridge(alpha=RIDGE_ALPHA).fit(x[known], values[known])
    names = [f"cue:{n}" for n in CUE_NAMES]
    if summaries is not None:
        names.extend(f"cue:{n}" for n in TURN_NAMES)
    for name in TEXT_FIELDS:
        names.extend(f"{name}:{term}" for term in vectorizers[name].get_feature_names_out())
    return FamilyModel(
        scaler=scaler,
        vectorizers=vectorizers,
        classifier=classifier,
        regressor=regressor,
        subscore_models=subscore_models,
        threshold=threshold,
        feature_names=names,
        set_names=set_names,
        set_thresholds=np.array(thresholds) if set_names else None,
        set_centroids=np.vstack(centroids) if set_names else None,
        training_sets=[] if targets.sets is None else sorted(set(targets.sets.tolist())),
        uses_turns=summaries is not None,
        soft_labels=share is not None,
        c=c,
        familiar_min=familiar_min,
    )


def family_of(set_name: str) -> str:
    """The source family of a training set: `uss_SGD` -> `uss`; a set without subsets is its
    own family (`stc3_dev`)."""
    return set_name.split("_", 1)[0] if set_name.startswith("uss_") else set_name


@dataclass(slots=True)
class TrainedModel:
    """One `FamilyModel` per source family, and a router that sends each conversation to the
    family whose customers' words it resembles most.

    Sources label differently (the helpdesk set's raters give 4-5 to 14%, ReDial's to 25%) and
    talk differently (complaints on Weibo, task dialogues): pooled, the 3,500 USS dialogues set
    the weights and the vocabulary, and the 298 helpdesk threads are fitted poorly. The router is
    a TF-IDF of everything the customer wrote and one unit centroid per family (cosine, as the
    per-set thresholds inside a family). With one family there is no router.
    """

    families: dict[str, FamilyModel]
    router: TfidfVectorizer | None = None
    router_centroids: np.ndarray | None = None
    turns: TurnModel | None = None  # where training rows had turn ratings

    @property
    def subscore_names(self) -> list[str]:
        return sorted({n for f in self.families.values() for n in f.subscore_models})

    def route(self, items: Sequence[Observed]) -> np.ndarray:
        """The index (into `families`, in order) of the family each conversation goes to."""
        if self.router is None or self.router_centroids is None:
            return np.zeros(len(items), dtype=np.int64)
        x = self.router.transform([i.customer for i in items])
        return np.asarray(x @ self.router_centroids.T).argmax(axis=1)

    def predict(self, items: Sequence[Observed], explain: bool = False) -> Prediction:
        n = len(items)
        names = list(self.families)
        route = self.route(items)
        probability, threshold, expected = np.zeros(n), np.zeros(n), np.zeros(n)
        positive = np.zeros(n, dtype=bool)
        score = np.zeros(n, dtype=np.int64)
        nearest_set = [""] * n
        subscores = {name: np.full(n, np.nan) for name in self.subscore_names}
        known = np.ones(n)
        unfamiliar = np.zeros(n, dtype=bool)
        drivers: list[list[tuple[str, float]]] = [[] for _ in range(n)] if explain else []
        for index, name in enumerate(names):
            rows = np.flatnonzero(route == index)
            if rows.size == 0:
                continue
            model = self.families[name]
            chosen = [items[i] for i in rows]
            summaries = None
            if model.uses_turns:
                if self.turns is None:
                    raise ValueError(f"family {name!r} needs a turn model; the model has none")
                summaries = self.turns.summaries(chosen)
            x = model.features(chosen, summaries)
            part = model.predict_features(x)
            probability[rows], threshold[rows] = part.probability, part.threshold
            positive[rows], score[rows], expected[rows] = part.positive, part.score, part.expected
            for subscore, values in part.subscores.items():
                subscores[subscore][rows] = values
            known[rows] = model.familiarity(chosen)
            strange = rows[known[rows] < model.familiar_min]
            if strange.size:  # the rubric rule decides; the model's P(4-5) is kept for reports
                unfamiliar[strange] = True
                rule = np.array([rubric_score(items[i].body) for i in strange], dtype=np.int64)
                score[strange], positive[strange] = rule, rule >= 4
            for k, row in enumerate(rows):
                nearest_set[row] = part.nearest_set[k]
                if explain:
                    drivers[row] = model.explain(x, k)
        family = [names[i] for i in route]
        return Prediction(
            probability=probability,
            positive=positive,
            threshold=threshold,
            nearest_set=nearest_set,
            score=score,
            expected=expected,
            subscores=subscores,
            family=family,
            drivers=drivers,
            familiarity=known,
            unfamiliar=unfamiliar,
        )


def fit_model(items: Sequence[Observed], targets: Targets, seed: int = 0) -> TrainedModel:
    """Fit one model per source family (`family_of` the training sets) and the router, on these
    conversations only (nothing is tuned on data held out).

    A family with no conversation rated 4-5, or none rated below, cannot be fitted on its own and
    trains with the first family (by name) that can; the card's `families` lists each model's
    training sets. If no family can, the sets are pooled into one model.
    """
    positive = np.asarray(targets.positive, dtype=bool)
    if positive.all() or not positive.any():
        raise ValueError("training data needs conversations rated 4-5 and conversations not")
    sets = targets.sets if targets.sets is not None else np.full(len(items), "all")
    families = np.array([family_of(str(s)) for s in sets])
    fit_alone = [
        f
        for f in sorted(set(families.tolist()))
        if positive[families == f].any() and not positive[families == f].all()
    ]
    if not fit_alone:
        fit_alone = ["all"]
        families = np.full(len(items), "all")
    else:  # a family that cannot be fitted alone trains with the first that can
        families = np.where(np.isin(families, fit_alone), families, fit_alone[0])
    rated = np.array(
        [False] * len(items)
        if targets.turns is None
        else [np.isfinite(t).any() for t in targets.turns],
        dtype=bool,
    )
    turns, summaries = _turn_summaries(items, targets, rated, seed)
    models: dict[str, FamilyModel] = {}
    for name in fit_alone:
        rows = np.flatnonzero(families == name)
        # The turn features go to the families whose own conversations have rated turns (USS);
        # the helpdesk family keeps its own cues and words (with them: F1 0.717 -> 0.707).
        uses_turns = summaries is not None and bool(rated[rows].any())
        models[name] = _fit_family(
            [items[i] for i in rows],
            targets.take(rows),
            seed,
            summaries[rows] if uses_turns and summaries is not None else None,
            soft=name in SOFT_LABEL_FAMILIES and targets.share is not None,
        )
    if len(models) == 1:
        return TrainedModel(models, turns=turns)
    customer = [i.customer for i in items]
    router = _vectorizer((1, 1), ROUTER_TERMS, customer_words)
    x = router.fit_transform(customer)
    centroids = [_unit_mean(x, families == name) for name in models]
    return TrainedModel(models, router, np.vstack(centroids), turns)
