"""Training stage [torch, scikit-learn]: the linear n-gram model beside the fitted network.

After the network is fitted, a logistic regression learns from TF-IDF features of the training
texts' token unigrams and hashed bigrams (textrnn.model.linear defines them, identically in the
graph); its strength C, then its share alpha of the mixed probabilities, are chosen on validation by
the task's metric (multi-label: with thresholds tuned per candidate, as the saved model will be;
ties, common on a small validation set, go to the lower log loss).
A share of 0 leaves the network alone.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from textrnn.folder.records import LinearInfo
from textrnn.model.linear import BUCKET_SIZES, Mixed, NgramLinear
from textrnn.model.table import sparse as sparse_table

if TYPE_CHECKING:
    import scipy.sparse as sp
    from torch import nn

    from textrnn.tasks import Task

MAX_TEXTS = 200_000  # beyond this many training texts, the linear model learns from a random sample of them
MAX_WEIGHTS = 32_000_000  # features x classes: the weight table stays under ~128 MB (most frequent features kept)
MIN_DF = 1  # a feature is an n-gram of at least this many training texts (2: cooking -1.0 micro-F1, -1.7 P@1)
C_GRID = (4.0, 16.0)  # logistic regression strengths tried (measured best on the shared sets: 4 to 16)
ALPHAS = np.round(np.linspace(0.0, 1.0, 11), 2)
SMALL_VALIDATION = 1_000  # texts: below this, C and the share are chosen by log loss first (see _score)


def content_tokens(vocab: dict[str, int], size: int, word_level: bool) -> np.ndarray:
    """Which token ids the linear model counts: those with a letter or digit, not special tokens (in
    brackets), and in a word vocabulary not single characters (scikit-learn's TF-IDF tokens: on
    cooking, +0.8 micro-F1 and +1.1 P@1 for the linear model alone, measured)."""
    keep = np.zeros(size, dtype=bool)
    for token, i in vocab.items():
        text = token.removeprefix("##")
        special = token.startswith("[") and token.endswith("]")
        keep[i] = not special and any(ch.isalnum() for ch in text) and (len(text) > 1 or not word_level)
    return keep


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
    bigrams = vocab_size + (flat[starts] * vocab_size + flat[starts + 1]) % buckets
    return np.concatenate([text[unigrams], text[starts]]), np.concatenate([flat[unigrams], bigrams])


def _buckets(tokens: tuple[np.ndarray, ...], vocab_size: int) -> int:
    flat, _, _, starts = tokens
    distinct = len(np.unique(flat[starts] * vocab_size + flat[starts + 1]))
    return next((b for b in BUCKET_SIZES if b >= 4 * distinct), BUCKET_SIZES[-1])


def ngram_occurrences(ids: Sequence[np.ndarray], vocab_size: int, buckets: int,
                      keep: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(text index, n-gram key) of every content unigram and bigram of `ids`, keys as `ngram_keys` computes them."""
    return _keys(_tokens(ids, keep), vocab_size, buckets)


def bucket_count(ids: Sequence[np.ndarray], vocab_size: int, keep: np.ndarray | None = None) -> int:
    """Hash buckets for the bigrams: the first of BUCKET_SIZES with room for 4 times the training texts'
    distinct bigrams (few collisions), so a small model keeps a small key table."""
    return _buckets(_tokens(ids, keep), vocab_size)


def tfidf_matrix(texts: np.ndarray, keys: np.ndarray, n: int, rows: np.ndarray, idf: np.ndarray) -> sp.csr_matrix:
    """The feature matrix (n, features) that NgramLinear computes in the graph."""
    import scipy.sparse as sp

    row = rows[keys].astype(np.int64)
    weight = idf[row]
    norm = np.sqrt(np.bincount(texts, weights=weight**2, minlength=n))
    keep = row > 0
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


def _features(ids: Sequence[np.ndarray], keep: np.ndarray, vocab_size: int, classes: int) -> tuple[np.ndarray, ...]:
    """(text index, key) of every n-gram of `ids`, the bigram buckets, each key's row and each row's idf."""
    tokens = _tokens(ids, keep)
    buckets = _buckets(tokens, vocab_size)
    texts, keys = _keys(tokens, vocab_size, buckets)
    return (texts, keys, buckets, *_vocabulary(texts, keys, len(ids), classes, vocab_size, buckets))


def _fit(task: Task, x: Any, y: np.ndarray, c: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Logistic regression: (weights (features, classes), bias (classes,)) whose logits give its probabilities;
    the weights as the model folder stores them (textrnn.model.table), so that validation sees the saved model."""
    from sklearn.linear_model import LogisticRegression

    k = len(task.labels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter, labels without a positive
        if task.kind == "multi_label":  # one binary model per label
            weight, bias = np.zeros((x.shape[1], k), np.float32), np.full(k, -20.0, np.float32)
            gold = y > 0.5
            for j in np.flatnonzero(gold.any(0) & ~gold.all(0)):
                m = LogisticRegression(C=c, solver="liblinear", random_state=seed).fit(x, gold[:, j].astype(np.int64))
                weight[:, j], bias[j] = m.coef_[0], m.intercept_[0]
            return sparse_table(weight).dense()[1:], bias
        m = LogisticRegression(C=c, max_iter=300, random_state=seed).fit(x, y)
    weight, bias = np.zeros((x.shape[1], k), np.float32), np.zeros(k, np.float32)
    if m.coef_.shape[0] == 1:  # two classes: one logit, against the first class's 0
        weight[:, m.classes_[1]], bias[m.classes_[1]] = m.coef_[0], m.intercept_[0]
    else:
        weight[:, m.classes_], bias[m.classes_] = m.coef_.T, m.intercept_
    return sparse_table(weight).dense()[1:], bias


def _probabilities(task: Task, x: Any, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    return task.probabilities(np.asarray(x @ weight) + bias)


def _score(task: Task, y: np.ndarray, probs: np.ndarray) -> tuple[tuple[float, float], float]:
    """(what to compare, the task's metric). Compared: (the metric, minus the log loss); on fewer than SMALL_VALIDATION
    texts (minus the log loss, the metric): the metric of a few hundred texts moves in coarse steps
    and favours the network, whose epoch was picked on the same texts (500-row samples of the six
    shared sets, 3 seeds each: mean test accuracy 64.7 choosing by the metric, 65.4 by the log loss).
    The metric comes with decision thresholds tuned on these texts where the task has them."""
    p = np.clip(probs, 1e-7, 1 - 1e-7)
    if task.kind == "multi_label":
        loss = -float(np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))
    else:
        loss = -float(np.mean(np.log(p[np.arange(len(y)), y])))
    metric = task.calibrate(y, probs).score(y, probs)
    return ((-loss, metric) if len(y) < SMALL_VALIDATION else (metric, -loss)), metric


def mix_linear(network: nn.Module, task: Task, train_ids: Sequence[np.ndarray], y_train: np.ndarray,
               val_ids: Sequence[np.ndarray], y_val: np.ndarray, vocab_size: int, seed: int = 0,
               keep: np.ndarray | None = None, refit: bool = False) -> nn.Module:
    """The network Mixed with a linear n-gram model fitted on the training texts, or the network alone
    when validation gives the linear model no share. The Mixed model's `info` records the choice.

    `refit`: once C and the share are chosen, fit the linear model again on the training and
    validation texts (as scikit-learn's GridSearchCV refits); the Mixed model's `held_out_val_probs`
    keep the mix's validation probabilities from before, for thresholds and honest validation scores."""

    from textrnn.training.loop import predict_logits

    t0 = time.perf_counter()
    n = len(train_ids)
    if n > MAX_TEXTS:
        pick = np.sort(np.random.default_rng(seed).choice(n, MAX_TEXTS, replace=False))
        train_ids, y_train, n = [train_ids[i] for i in pick], y_train[pick], MAX_TEXTS
    keep = np.ones(vocab_size, dtype=bool) if keep is None else keep
    texts, keys, buckets, rows, idf = _features(train_ids, keep, vocab_size, len(task.labels))
    x_train = tfidf_matrix(texts, keys, n, rows, idf)
    x_val = tfidf_matrix(*ngram_occurrences(val_ids, vocab_size, buckets, keep), len(val_ids), rows, idf)
    network_probs = task.probabilities(predict_logits(network, val_ids))
    best = None
    for c in C_GRID:
        weight, bias = _fit(task, x_train, y_train, c, seed)
        probs = _probabilities(task, x_val, weight, bias)
        score = _score(task, y_val, probs)
        if best is None or score > best[0]:
            best = (score, c, weight, bias, probs)
    (_, linear_score), c, weight, bias, linear_probs = best
    scores = [_score(task, y_val, (1 - a) * network_probs + a * linear_probs) for a in ALPHAS]
    best_at = max(range(len(ALPHAS)), key=lambda i: scores[i][0])  # the first best: the smallest share
    alpha = float(ALPHAS[best_at])
    if alpha == 0.0:
        return network
    held_out = ((1 - alpha) * network_probs + alpha * linear_probs).astype(np.float32)
    refit_texts = 0
    if refit:
        val_texts, val_keys = ngram_occurrences(val_ids, vocab_size, buckets, keep)
        texts, keys = np.concatenate([texts, val_texts + n]), np.concatenate([keys, val_keys])
        refit_texts = n + len(val_ids)
        rows, idf = _vocabulary(texts, keys, refit_texts, len(task.labels), vocab_size, buckets)
        weight, bias = _fit(task, tfidf_matrix(texts, keys, refit_texts, rows, idf),
                            np.concatenate([y_train, y_val]), c, seed)
    linear = NgramLinear.fitted(vocab_size, buckets, keep, rows, idf, weight, bias)
    mixed = Mixed(network, linear, alpha, task)
    mixed.info = LinearInfo(len(idf) - 1, buckets, alpha, c, round(scores[0][1], 6), round(linear_score, 6),
                            round(scores[best_at][1], 6), round(time.perf_counter() - t0, 2), refit_texts)
    mixed.held_out_val_probs = held_out if refit else None
    return mixed.eval()


CROSSFIT_C_GRID = (1.0, 4.0, 16.0, 64.0)  # out-of-fold choices see every text: a wider grid costs seconds


def mix_linear_crossfitted(network: nn.Module, task: Task, ids: Sequence[np.ndarray], y: np.ndarray,
                           folds: np.ndarray, network_oof: np.ndarray, vocab_size: int, seed: int = 0,
                           keep: np.ndarray | None = None) -> tuple[nn.Module, np.ndarray]:
    """Cross-fitted (`train --folds K`): the linear model's C and its share are chosen on out-of-fold
    probabilities of every training text (the linear model's own, from the same folds as the networks'
    `network_oof`), then it is fitted on all the texts at that C. Returns (the network, Mixed with it
    unless the share is 0; the out-of-fold probabilities of that choice, for thresholds and scores).
    The idf weights are counted over all the texts (no labels involved)."""
    t0 = time.perf_counter()
    n, k = len(ids), int(folds.max()) + 1
    keep = np.ones(vocab_size, dtype=bool) if keep is None else keep
    texts, keys, buckets, rows, idf = _features(ids, keep, vocab_size, len(task.labels))
    x = tfidf_matrix(texts, keys, n, rows, idf)
    best = None
    for c in CROSSFIT_C_GRID:
        oof = np.zeros_like(network_oof)
        for f in range(k):
            held = folds == f
            weight, bias = _fit(task, x[~held], y[~held], c, seed)
            oof[held] = _probabilities(task, x[held], weight, bias)
        score = _score(task, y, oof)
        if best is None or score > best[0]:
            best = (score, c, oof)
    (_, linear_score), c, linear_oof = best
    scores = [_score(task, y, (1 - a) * network_oof + a * linear_oof) for a in ALPHAS]
    best_at = max(range(len(ALPHAS)), key=lambda i: scores[i][0])
    alpha = float(ALPHAS[best_at])
    if alpha == 0.0:
        return network, network_oof.astype(np.float32)
    weight, bias = _fit(task, x, y, c, seed)
    mixed = Mixed(network, NgramLinear.fitted(vocab_size, buckets, keep, rows, idf, weight, bias), alpha, task)
    mixed.info = LinearInfo(len(idf) - 1, buckets, alpha, c, round(scores[0][1], 6), round(linear_score, 6),
                            round(scores[best_at][1], 6), round(time.perf_counter() - t0, 2), n)
    return mixed.eval(), ((1 - alpha) * network_oof + alpha * linear_oof).astype(np.float32)
