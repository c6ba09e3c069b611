"""Inference stage: what each class responds to, for `textrnn report`, without torch.

Two views of a model:
- occlusion over texts (the validation texts when they can be rebuilt, else the test file): each
  token's weight for every label, the mean of its removal and of it alone (Explainer.run: every
  token, all labels from the same runs), and a word's weight for a label is its mean over the word's
  occurrences (words seen at least MIN_COUNT times);
- the linear n-gram part's weights, where the model has one: a unigram or bigram's weight for a label
  (against the mean of the other labels' for a single-label model) times its idf, the term it adds
  to the logit of a text where it is the only n-gram. Bigram features are hashed: they are named
  from the texts' own bigrams (most frequent name of a feature row), so without texts only unigrams
  are named.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from textrnn.data.tokens import bigram_keys
from textrnn.errors import DataError
from textrnn.inference.explain import label_direction, log_odds
from textrnn.inference.predictor import Predictor
from textrnn.tokenizer import UNK_ID, encode

MAX_TEXTS = 500  # texts explained for the report (a seeded sample beyond)
MIN_COUNT = 3  # occurrences a word needs before its mean weight is ranked (1 below 100 texts)
TOP = 8  # n-grams kept per class and view
MAX_CLASSES = 20  # classes shown (the most frequent in training beyond)


@dataclass(frozen=True)
class Driver:
    """An n-gram and how hard it pushes towards a class; `count`: its occurrences in the texts."""

    ngram: str
    weight: float
    count: int = 0


@dataclass(frozen=True)
class ClassDrivers:
    """One class: the words whose removal lowers it most (occlusion), and the linear part's n-grams."""

    label: str
    words: tuple[Driver, ...]
    linear: tuple[Driver, ...]


@dataclass(frozen=True)
class Drivers:
    """Every class shown; `texts`: how many were explained, from `source` (or why none)."""

    classes: tuple[ClassDrivers, ...]
    texts: int
    source: str
    share: float | None  # the linear part's share of the mix (None: no linear part)


def report_texts(predictor: Predictor) -> tuple[list[str], str]:
    """The validation texts (rebuilt from the metadata), else the test file's, else none; and whence."""
    folder = predictor.folder
    try:
        texts = folder.validation_data().texts
        return list(texts), "validation texts"
    except DataError as err:
        why = str(err).split(";")[0]
    test = folder.metadata.data.get("test")
    if test is not None and test.path is not None:
        from textrnn.data import file_sha256

        try:
            if file_sha256(test.path) == test.sha256:
                return list(folder.load_dataset(test.path).texts), "test texts"
        except (OSError, DataError):
            pass
    return [], why


def occlusion_means(predictor: Predictor, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per token id: the summed occlusion weight for every label (vocab, classes), and occurrences (vocab,)."""
    vocab, classes = predictor.tokenizer.get_vocab_size(), len(predictor.labels)
    sums, counts = np.zeros((vocab, classes)), np.zeros(vocab, dtype=np.int64)
    for ids in encode(predictor.tokenizer, texts):
        known = ids != UNK_ID
        if not known.any():
            continue
        probs, alone = predictor.explainer.run(ids)  # every token's removal and alone, every label at once
        weights = (log_odds(probs[:1]) - log_odds(probs[1:]) + log_odds(alone[:-1]) - log_odds(alone[-1:])) / 2
        np.add.at(sums, ids[known], weights[known])
        np.add.at(counts, ids[known], 1)
    return sums, counts


def bigram_names(predictor: Predictor, texts: list[str]) -> tuple[dict[int, str], Counter]:
    """The most frequent name of each bigram feature row seen in `texts`, and each row's count."""
    lin = predictor.explainer.linear
    names: dict[int, Counter] = {}
    vocab = predictor.tokenizer
    v = lin.vocab_size
    for ids in encode(vocab, texts):
        kept = lin.keep[ids]
        for i in np.flatnonzero(kept[:-1] & kept[1:]):
            row = int(lin.rows[bigram_keys(int(ids[i]), int(ids[i + 1]), v, lin.buckets)])
            if row:
                names.setdefault(row, Counter())[(int(ids[i]), int(ids[i + 1]))] += 1
    out, counts = {}, Counter()
    for row, seen in names.items():
        (a, b), _ = seen.most_common(1)[0]
        out[row] = f"{vocab.id_to_token(a)} {vocab.id_to_token(b)}"
        counts[row] = sum(seen.values())
    return out, counts


def class_drivers(predictor: Predictor, seed: int = 0) -> Drivers:
    """What each class responds to (see the module's docstring)."""
    texts, source = report_texts(predictor)
    if len(texts) > MAX_TEXTS:
        pick = np.sort(np.random.default_rng(seed).choice(len(texts), MAX_TEXTS, replace=False))
        texts = [texts[i] for i in pick]
    labels = list(predictor.labels)
    counts_by_label = predictor.folder.metadata.data["train"].label_counts
    shown = sorted(range(len(labels)), key=lambda j: -counts_by_label.get(labels[j], 0))[:MAX_CLASSES]
    tok = predictor.tokenizer
    sums, counts = occlusion_means(predictor, texts) if texts else (None, None)
    min_count = MIN_COUNT if len(texts) >= 100 else 1
    lin = predictor.explainer.linear
    if lin is not None:
        names, bigram_counts = bigram_names(predictor, texts) if texts else ({}, Counter())
        row_names = {int(lin.rows[i]): tok.id_to_token(i) for i in np.flatnonzero(lin.keep) if lin.rows[i]}
        row_names.update(names)
        rows = np.array(sorted(row_names))
    out = []
    kind = predictor.task.kind
    for j in sorted(shown):
        words: tuple[Driver, ...] = ()
        if sums is not None:
            ok = np.flatnonzero(counts >= min_count)
            means = sums[ok, j] / counts[ok]
            best = ok[np.argsort(-means, kind="stable")[:TOP]]
            words = tuple(Driver(tok.id_to_token(int(i)), float(sums[i, j] / counts[i]), int(counts[i]))
                          for i in best if sums[i, j] > 0)
        linear: tuple[Driver, ...] = ()
        if lin is not None and len(rows):
            push = (lin.weight[rows] @ label_direction(kind, len(labels), j)) * lin.idf[rows]
            best = np.argsort(-push, kind="stable")[:TOP]
            linear = tuple(Driver(row_names[int(rows[b])], float(push[b]), int(bigram_counts.get(int(rows[b]), 0)))
                           for b in best if push[b] > 0)
        out.append(ClassDrivers(labels[j], words, linear))
    return Drivers(tuple(out), len(texts), source, lin.share if lin is not None else None)
