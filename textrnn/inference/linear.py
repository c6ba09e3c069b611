"""Inference stage: the linear n-gram part of a model (the TF-IDF model, textrnn.model.tfidf) as the
exported graph holds it, and a text's exact terms of its logits (for explanations and the report's
per-class n-grams). No torch.

The linear part is a sum over n-grams: its logit for a label is bias + the sum over the text's n-grams
of tfidf(n-gram) x weight(n-gram, label), read here from the graph's own initialisers, so its terms
are exact, not estimated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from textrnn.data.tokens import bigram_keys


@dataclass(frozen=True)
class NgramTerm:
    """One n-gram of the linear part: its characters and its exact term of the label's logit."""

    ngram: str
    start: int
    end: int
    weight: float


@dataclass(frozen=True)
class LinearTerms:
    """The linear part for one text and label: its share of the mix, logit = bias + sum of the terms."""

    share: float
    logit: float
    bias: float
    ngrams: tuple[NgramTerm, ...]


@dataclass(frozen=True)
class LinearTables:
    """The linear n-gram part's tables, as the graph holds them (see textrnn.model.tfidf)."""

    keep: np.ndarray  # (vocab,) bool: content tokens
    rows: np.ndarray  # (vocab + buckets,) feature row of each key (0: not a feature)
    idf: np.ndarray  # (features + 1,)
    weight: np.ndarray  # (features + 1, classes)
    bias: np.ndarray  # (classes,)
    share: float  # alpha: its share of the mixed probabilities
    sublinear: bool = False  # a feature's count weighs 1 + ln(count) (textrnn.model.tfidf)

    @property
    def vocab_size(self) -> int:
        return len(self.keep)

    @property
    def buckets(self) -> int:
        return len(self.rows) - len(self.keep)

    @classmethod
    def from_onnx(cls, paths: Sequence[Path], share: float, sublinear: bool = False) -> LinearTables | None:
        """The tables from the first of `paths` that holds them as floats (an int8 model may hold
        them quantized: then the fp32 file's); None when none has a linear part."""
        import onnx
        from onnx import numpy_helper

        names = ("linear.keep", "linear.rows", "linear.idf", "linear.bias")
        tables = ("linear.weight", "linear.cols", "linear.vals")  # dense (earlier folders) or sparse
        for path in paths:
            graph = onnx.load(str(path)).graph
            found = {i.name: numpy_helper.to_array(i) for i in graph.initializer if i.name in names + tables}
            if not all(name in found for name in names):
                continue
            if "linear.cols" in found and "linear.vals" in found and found["linear.vals"].dtype == np.float16:
                cols, vals = found["linear.cols"].astype(np.int64), found["linear.vals"].astype(np.float32)
                weight = np.zeros((len(cols), len(found["linear.bias"])), np.float32)  # as model/table.py's dense()
                np.add.at(weight, (np.arange(len(cols))[:, None], cols), vals)
            elif "linear.weight" in found and found["linear.weight"].dtype == np.float32:
                weight = found["linear.weight"]
            else:
                continue
            return cls(found["linear.keep"].astype(bool), found["linear.rows"].astype(np.int64),
                       found["linear.idf"].astype(np.float64), weight.astype(np.float64),
                       found["linear.bias"].astype(np.float64), float(share), sublinear)
        return None

    def terms(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The text's n-grams: (first token position, last token position, terms (grams, classes));
        n-grams that are not features have zero terms. Their sum plus the bias is the graph's logits."""
        ids = np.asarray(ids, dtype=np.int64)
        kept = self.keep[ids]
        uni, pairs = np.flatnonzero(kept), np.flatnonzero(kept[:-1] & kept[1:])
        rows = self.rows[np.concatenate([ids[uni], bigram_keys(ids[pairs], ids[pairs + 1], self.vocab_size,
                                                                 self.buckets)])]
        # as the graph: sublinear, each occurrence of a feature seen c times carries (1 + ln c) / c of it
        count = (rows[:, None] == rows[None, :]).sum(axis=1) if self.sublinear else np.ones(len(rows))
        idf = self.idf[rows] * (1.0 + np.log(count)) / count if self.sublinear else self.idf[rows]
        norm = max(float(np.sqrt(np.sum(idf**2 * count))), 1e-6)
        terms = (idf / norm)[:, None] * self.weight[rows]
        return np.concatenate([uni, pairs]), np.concatenate([uni, pairs + 1]), terms


def label_direction(kind: str, classes: int, label: int) -> np.ndarray:
    """The combination of logits explained for `label`: its own (multi-label), or its own against the
    mean of the others' (single-label: for two classes, the log-odds)."""
    d = np.zeros(classes)
    d[label] = 1.0
    if kind != "multi_label" and classes > 1:
        d[np.arange(classes) != label] = -1.0 / (classes - 1)
    return d
