"""Training stage [torch, scikit-learn]: the TF-IDF model (`--linear`, "the linear n-gram model")
beside the fitted network; its one owner for training (textrnn.model.tfidf is its graph).

    TfidfFeatures       the learned feature space: which n-gram keys are features, their idf
    TfidfModel          the estimator: parameters in (the task, C, the seed); `fit` returns the
                        learned weights, `fitted_state` the whole TfidfState the graph is built from
    choose_tfidf        C, then its share alpha of the mixed probabilities, chosen on validation
    choose_tfidf_crossfitted   the same on out-of-fold probabilities (`--folds`)
    choose_share        the share alpha and the geometric pool's scale (a temperature), for either
    TfidfChoice         what was chosen (the record, the fitted state, held-out probabilities)

After the network is fitted, a logistic regression learns from TF-IDF features of the training
texts' token unigrams and hashed bigrams (textrnn.model.tfidf computes them identically in the
graph); how it is fitted and its loss depend on the task's kind (Task.fit_linear, Task.log_loss).
C and the share are chosen by the task's metric (multi-label: with thresholds tuned per candidate,
as the saved model will be; ties, common on a small validation set, go to the lower log loss).
A share of 0 leaves the network alone.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from textrnn.data.tokens import bigram_keys
from textrnn.folder.records import LinearInfo
from textrnn.model.table import sparse as sparse_table
from textrnn.model.tfidf import BUCKET_SIZES, TfidfState

if TYPE_CHECKING:
    import scipy.sparse as sp
    from torch import nn

    from textrnn.tasks import Task

MAX_TEXTS = 200_000  # beyond this many training texts, the TF-IDF model learns from a random sample of them
MAX_WEIGHTS = 32_000_000  # features x classes: the weight table stays under ~128 MB (most frequent features kept)
MIN_DF = 1  # a feature is an n-gram of at least this many training texts (2: cooking -1.0 micro-F1, -1.7 P@1)
C_GRID = (4.0, 16.0)  # logistic regression strengths tried (measured best on the shared sets: 4 to 16)
ALPHAS = np.round(np.linspace(0.0, 1.0, 11), 2)
# a feature's count weighs 1 + ln(count), as scikit-learn's sublinear_tf (500-row samples of the six shared sets,
# 3 seeds, the TF-IDF model alone: agnews +0.8, mr +0.5, subj +0.5, sst2 +0.4, sst5 0.0, trec -0.1 test accuracy)
SUBLINEAR_TF = True
# the mix pools the network's and the TF-IDF model's probabilities geometrically (Task.pool): a weak,
# confident network pulls a weighted mean off the TF-IDF model's answer, a geometric pool less (500-row
# samples, the same networks and out-of-fold choice of the share: see benchmarks/RESULTS-500-folds.md)
POOLING = "geometric"
# with the share, a temperature of the geometric pool: both weights times a scale, chosen by log loss. The share
# alone, chosen by log loss, also has to correct the parts' confidence: a weak network sure of its answers
# is given less weight than its ranking merits, and an under-confident TF-IDF model (regularised, on a few
# hundred texts) less than its (500-row samples, the same networks: see benchmarks/results-mix-pooling.md)
SCALES = (0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0)
SMALL_VALIDATION = 1_000  # texts: below this, C and the share are chosen by log loss first (see _score)


def content_tokens(vocab: dict[str, int], size: int, word_level: bool) -> np.ndarray:
    """Which token ids the TF-IDF model counts: those with a letter or digit, not special tokens (in
    brackets), and in a word vocabulary not single characters (scikit-learn's TF-IDF tokens: on
    cooking, +0.8 micro-F1 and +1.1 P@1 for the TF-IDF model alone, measured)."""
    keep = np.zeros(size, dtype=bool)
    for token, i in vocab.items():
        text = token.removeprefix("##")
        special = token.startswith("[") and token.endswith("]")
        keep[i] = not special and any(ch.isalnum() for ch in text) and (len(text) > 1 or not word_level)
    return keep


def content_tokens_of(tokenizer: Any, word_level: bool) -> np.ndarray:
    """`content_tokens` of a tokenizer's vocabulary."""
    return content_tokens(tokenizer.get_vocab(), tokenizer.get_vocab_size(), word_level)


def _tokens(ids: Sequence[np.ndarray], keep: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """(every token id, its text's index, the content positions, the positions that start a bigram of
    content tokens) of `ids`, as flat arrays."""
    flat = getattr(ids, "flat", None)
    if flat is None:
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        flat = np.concatenate([np.asarray(x, dtype=np.int64) for x in ids]) if len(ids) else np.zeros(0, np.int64)
    else:
        lengths = ids.lengths
    flat = flat.astype(np.int64)
    text = np.repeat(np.arange(len(lengths)), lengths)
    kept = np.ones(len(flat), dtype=bool) if keep is None else keep[flat]
    pair = kept.copy()  # position i starts a bigram if it and i + 1 are content tokens of the same text
    pair[np.cumsum(lengths)[lengths > 0] - 1] = False
    pair[:-1] &= kept[1:]
    return flat, text, np.flatnonzero(kept), np.flatnonzero(pair[:-1]) if len(flat) else np.zeros(0, np.int64)


def _keys(tokens: tuple[np.ndarray, ...], vocab_size: int, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    flat, text, unigrams, starts = tokens
    bigrams = bigram_keys(flat[starts], flat[starts + 1], vocab_size, buckets)
    return np.concatenate([text[unigrams], text[starts]]), np.concatenate([flat[unigrams], bigrams])


def _buckets(tokens: tuple[np.ndarray, ...], vocab_size: int) -> int:
    flat, _, _, starts = tokens
    distinct = len(np.unique(flat[starts] * vocab_size + flat[starts + 1]))
    return next((b for b in BUCKET_SIZES if b >= 4 * distinct), BUCKET_SIZES[-1])


def ngram_occurrences(ids: Sequence[np.ndarray], vocab_size: int, buckets: int,
                      keep: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(text index, n-gram key) of every content unigram and bigram of `ids`, keys as `tfidf_keys` computes them."""
    return _keys(_tokens(ids, keep), vocab_size, buckets)


def bucket_count(ids: Sequence[np.ndarray], vocab_size: int, keep: np.ndarray | None = None) -> int:
    """Hash buckets for the bigrams: the first of BUCKET_SIZES with room for 4 times the training texts'
    distinct bigrams (few collisions), so a small model keeps a small key table."""
    return _buckets(_tokens(ids, keep), vocab_size)


def tfidf_matrix(texts: np.ndarray, keys: np.ndarray, n: int, rows: np.ndarray, idf: np.ndarray,
                 sublinear: bool = False) -> sp.csr_matrix:
    """The feature matrix (n, features) that TfidfLayer computes in the graph: with `sublinear`, (1 + ln
    count) x idf per feature, L2-normalised; else (folders saved before) count x idf over the square root
    of the sum of idf squared over the text's n-grams."""
    import scipy.sparse as sp

    row = rows[keys].astype(np.int64)
    keep = row > 0
    if sublinear:
        x = sp.csr_matrix((np.ones(int(keep.sum())), (texts[keep], row[keep] - 1)), shape=(n, len(idf) - 1))
        x.sum_duplicates()
        x.data = (1.0 + np.log(x.data)) * idf[1:][x.indices]
        norm = np.sqrt(np.bincount(np.repeat(np.arange(n), np.diff(x.indptr)), weights=x.data**2, minlength=n))
        x.data /= np.maximum(norm, 1e-6)[np.repeat(np.arange(n), np.diff(x.indptr))]
        return x
    weight = idf[row]
    norm = np.sqrt(np.bincount(texts, weights=weight**2, minlength=n))
    data = weight[keep] / np.maximum(norm, 1e-6)[texts[keep]]
    return sp.csr_matrix((data, (texts[keep], row[keep] - 1)), shape=(n, len(idf) - 1))


def _vocabulary(texts: np.ndarray, keys: np.ndarray, n: int, classes: int, vocab_size: int,
                buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """The row of each key (0: not a feature) and the idf of each row (row 0: 0)."""
    space = vocab_size + buckets
    present = np.unique(texts * space + keys) % space  # each (text, key) once
    uniq, df = np.unique(present, return_counts=True)
    kept = np.flatnonzero(df >= MIN_DF)
    cap = max(1, MAX_WEIGHTS // max(classes, 1))
    if len(kept) > cap:  # the most frequent
        kept = np.sort(kept[np.argsort(-df[kept], kind="stable")[:cap]])
    rows = np.zeros(space, dtype=np.int32)
    rows[uniq[kept]] = np.arange(1, len(kept) + 1, dtype=np.int32)
    idf = np.concatenate([[0.0], np.log((1.0 + n) / (1.0 + df[kept])) + 1.0]).astype(np.float32)
    return rows, idf


@dataclass(frozen=True)
class TfidfFeatures:
    """The learned feature space: which tokens count (`content`), the bigrams' hash buckets, the feature
    row of each n-gram key (0: not a feature) and each row's idf (row 0 first: 0)."""

    content: np.ndarray
    vocab_size: int
    buckets: int
    key_rows: np.ndarray
    idf: np.ndarray
    sublinear: bool = SUBLINEAR_TF

    @classmethod
    def learn(cls, ids: Sequence[np.ndarray], content: np.ndarray, vocab_size: int,
              classes: int) -> tuple[TfidfFeatures, tuple[np.ndarray, np.ndarray]]:
        """The features of texts `ids`, and (text index, key) of their n-grams."""
        tokens = _tokens(ids, content)
        buckets = _buckets(tokens, vocab_size)
        texts, keys = _keys(tokens, vocab_size, buckets)
        return cls.counted(texts, keys, len(ids), classes, content, vocab_size, buckets), (texts, keys)

    @classmethod
    def counted(cls, texts: np.ndarray, keys: np.ndarray, n: int, classes: int, content: np.ndarray,
                vocab_size: int, buckets: int) -> TfidfFeatures:
        """The features of `n` texts' n-gram occurrences (text index, key), with the buckets given."""
        return cls(content, vocab_size, buckets, *_vocabulary(texts, keys, n, classes, vocab_size, buckets))

    def occurrences(self, ids: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        return ngram_occurrences(ids, self.vocab_size, self.buckets, self.content)

    def matrix(self, texts: np.ndarray, keys: np.ndarray, n: int) -> sp.csr_matrix:
        return tfidf_matrix(texts, keys, n, self.key_rows, self.idf, self.sublinear)

    def transform(self, ids: Sequence[np.ndarray]) -> sp.csr_matrix:
        """The TF-IDF matrix (texts, features) of `ids`."""
        return self.matrix(*self.occurrences(ids), len(ids))


@dataclass(frozen=True)
class TfidfModel:
    """The TF-IDF model's logistic regression, estimator style: parameters in (the task, whose kind
    decides how it is fitted, the strength `c`, the seed); `fit` returns what it learns."""

    task: Task
    c: float
    seed: int = 0

    def fit(self, x: Any, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(weights (features, classes), bias (classes,)) whose logits give its probabilities; the weights
        as the model folder stores them (textrnn.model.table), so that validation sees the saved model."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter, labels without a positive
            weight, bias = self.task.fit_linear(x, y, self.c, self.seed)
        return sparse_table(weight).dense()[1:], bias

    def fitted_state(self, features: TfidfFeatures, x: Any, y: np.ndarray) -> TfidfState:
        """The whole fitted model on feature matrix `x` of `features`."""
        weight, bias = self.fit(x, y)
        return TfidfState(features.content, features.buckets, features.key_rows, features.idf, weight, bias,
                          features.sublinear)

    def probabilities(self, x: Any, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
        return self.task.probabilities(np.asarray(x @ weight) + bias)


@dataclass(frozen=True)
class TfidfChoice:
    """What was chosen for the TF-IDF model: the record (C, share, scores: LinearInfo), the fitted state
    the graph is built from (textrnn.model.tfidf.compose), and the mix's probabilities on the texts it
    was chosen on where the fitted model has learnt from them since (validation before a refit, every
    text out of fold), for thresholds and honest scores; else None."""

    info: LinearInfo
    state: TfidfState
    held_out_probs: np.ndarray | None = None


def _score(task: Task, y: np.ndarray, probs: np.ndarray) -> tuple[tuple[float, float], float]:
    """(what to compare, the task's metric). Compared: (the metric, minus the log loss); on fewer than SMALL_VALIDATION
    texts (minus the log loss, the metric): the metric of a few hundred texts moves in coarse steps
    and favours the network, whose epoch was picked on the same texts (500-row samples of the six
    shared sets, 3 seeds each: mean test accuracy 64.7 choosing by the metric, 65.4 by the log loss).
    The metric comes with decision thresholds tuned on these texts where the task has them."""
    loss = task.log_loss(y, probs)
    metric = task.calibrate(y, probs).score(y, probs)
    return ((-loss, metric) if len(y) < SMALL_VALIDATION else (metric, -loss)), metric


def mix(task: Task, network_probs: np.ndarray, tfidf_probs: np.ndarray, alpha: float,
        scale: float = 1.0) -> np.ndarray:
    """The mix's probabilities at the TF-IDF model's share `alpha` (and the geometric pool's `scale`),
    pooled as POOLING says (as the graph does)."""
    if POOLING == "geometric":
        weights = [scale * (1 - alpha), scale * alpha]
        return task.pool_probabilities([network_probs, tfidf_probs], weights).astype(np.float32)
    return ((1 - alpha) * network_probs + alpha * tfidf_probs).astype(np.float32)


def _scale(task: Task, y: np.ndarray, network_probs: np.ndarray, tfidf_probs: np.ndarray, alpha: float,
           scales: Sequence[float]) -> float:
    """The geometric pool's scale at share `alpha`: the lowest log loss of `scales` (ties: the first)."""
    if POOLING != "geometric":
        return 1.0
    losses = [task.log_loss(y, mix(task, network_probs, tfidf_probs, alpha, s)) for s in scales]
    return float(scales[int(np.argmin(losses))])


def choose_share(task: Task, y: np.ndarray, network_probs: np.ndarray, tfidf_probs: np.ndarray,
                 scales: Sequence[float] = SCALES) -> tuple[float, float, list[tuple[tuple[float, float], float]], int]:
    """(the TF-IDF model's share, the pool's scale there, every share's score at its own scale, the index
    of the chosen share: the first best, the smallest). `scales` (1,): the pool before the scale."""
    scales = [_scale(task, y, network_probs, tfidf_probs, a, scales) for a in ALPHAS]
    scores = [_score(task, y, mix(task, network_probs, tfidf_probs, a, s)) for a, s in zip(ALPHAS, scales, strict=True)]
    best_at = max(range(len(ALPHAS)), key=lambda i: scores[i][0])
    return float(ALPHAS[best_at]), scales[best_at], scores, best_at


def choose_tfidf(network: nn.Module, task: Task, train_ids: Sequence[np.ndarray], y_train: np.ndarray,
                 val_ids: Sequence[np.ndarray], y_val: np.ndarray, vocab_size: int, seed: int = 0,
                 keep: np.ndarray | None = None, refit: bool = False) -> TfidfChoice | None:
    """The TF-IDF model fitted on the training texts, with C and its share chosen on validation; None
    when validation gives it no share (the network alone).

    `refit`: once C and the share are chosen, fit it again on the training and validation texts (as
    scikit-learn's GridSearchCV refits); the choice's `held_out_probs` keep the mix's validation
    probabilities from before, for thresholds and honest validation scores."""

    from textrnn.training.loop import predict_logits

    t0 = time.perf_counter()
    n = len(train_ids)
    if n > MAX_TEXTS:
        pick = np.sort(np.random.default_rng(seed).choice(n, MAX_TEXTS, replace=False))
        train_ids, y_train, n = [train_ids[i] for i in pick], y_train[pick], MAX_TEXTS
    keep = np.ones(vocab_size, dtype=bool) if keep is None else keep
    features, (texts, keys) = TfidfFeatures.learn(train_ids, keep, vocab_size, len(task.labels))
    x_train, x_val = features.matrix(texts, keys, n), features.transform(val_ids)
    network_probs = task.probabilities(predict_logits(network, val_ids))
    best = None
    for c in C_GRID:
        model = TfidfModel(task, c, seed)
        weight, bias = model.fit(x_train, y_train)
        probs = model.probabilities(x_val, weight, bias)
        score = _score(task, y_val, probs)
        if best is None or score > best[0]:
            best = (score, model, weight, bias, probs)
    (_, tfidf_score), model, weight, bias, tfidf_probs = best
    alpha, scale, scores, best_at = choose_share(task, y_val, network_probs, tfidf_probs)
    if alpha == 0.0:
        return None
    held_out = mix(task, network_probs, tfidf_probs, alpha, scale)
    state = TfidfState(keep, features.buckets, features.key_rows, features.idf, weight, bias, features.sublinear)
    refit_texts = 0
    if refit:
        val_texts, val_keys = features.occurrences(val_ids)
        texts, keys = np.concatenate([texts, val_texts + n]), np.concatenate([keys, val_keys])
        refit_texts = n + len(val_ids)
        features = TfidfFeatures.counted(texts, keys, refit_texts, len(task.labels), keep, vocab_size,
                                         features.buckets)
        state = model.fitted_state(features, features.matrix(texts, keys, refit_texts),
                                   np.concatenate([y_train, y_val]))
    info = LinearInfo(state.features, state.buckets, alpha, model.c, round(scores[0][1], 6), round(tfidf_score, 6),
                      round(scores[best_at][1], 6), round(time.perf_counter() - t0, 2), refit_texts,
                      state.sublinear, POOLING, scale)
    return TfidfChoice(info, state, held_out if refit else None)


CROSSFIT_C_GRID = (1.0, 4.0, 16.0, 64.0)  # out-of-fold choices see every text: a wider grid costs seconds


def choose_tfidf_crossfitted(task: Task, ids: Sequence[np.ndarray], y: np.ndarray, folds: np.ndarray,
                             network_oof: np.ndarray, vocab_size: int, seed: int = 0,
                             keep: np.ndarray | None = None) -> TfidfChoice | None:
    """Cross-fitted (`train --folds K`): C and the TF-IDF model's share are chosen on out-of-fold
    probabilities of every training text (its own, from the same folds as the networks'
    `network_oof`), then it is fitted on all the texts at that C. None when the share is 0; else the
    choice, whose `held_out_probs` are the out-of-fold probabilities of the mix (for thresholds and
    scores). The idf weights are counted over all the texts (no labels involved)."""
    t0 = time.perf_counter()
    n, k = len(ids), int(folds.max()) + 1
    keep = np.ones(vocab_size, dtype=bool) if keep is None else keep
    features, (texts, keys) = TfidfFeatures.learn(ids, keep, vocab_size, len(task.labels))
    x = features.matrix(texts, keys, n)
    best = None
    for c in CROSSFIT_C_GRID:
        model = TfidfModel(task, c, seed)
        oof = np.zeros_like(network_oof)
        for f in range(k):
            held = folds == f
            weight, bias = model.fit(x[~held], y[~held])
            oof[held] = model.probabilities(x[held], weight, bias)
        score = _score(task, y, oof)
        if best is None or score > best[0]:
            best = (score, model, oof)
    (_, tfidf_score), model, tfidf_oof = best
    alpha, scale, scores, best_at = choose_share(task, y, network_oof, tfidf_oof)
    if alpha == 0.0:
        return None
    state = model.fitted_state(features, x, y)
    info = LinearInfo(state.features, state.buckets, alpha, model.c, round(scores[0][1], 6), round(tfidf_score, 6),
                      round(scores[best_at][1], 6), round(time.perf_counter() - t0, 2), n, state.sublinear,
                      POOLING, scale)
    return TfidfChoice(info, state, mix(task, network_oof, tfidf_oof, alpha, scale))
