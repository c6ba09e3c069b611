"""Evaluation of multi-label predictions: the scores people compare (micro, macro and samples F1,
precision and recall, fastText's P@1 and R@1, Hamming loss, subset accuracy), a per-label table
with each label's threshold, label co-occurrence, and the texts the model gets most wrong.

P@1 and R@1 are computed as fastText's `test` does: the top label of each text is right or not;
P@1 = right / texts, R@1 = right / gold labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from textrnn.evaluation.analysis import shorten
from textrnn.schema import from_json, to_json

TOP_PAIRS = 10
MISTAKES = 5


@dataclass(frozen=True)
class LabelScore:
    """Precision, recall, F1, support and decision threshold of one label."""

    label: str
    precision: float
    recall: float
    f1: float
    support: int
    predicted: int
    threshold: float


@dataclass(frozen=True)
class MultiLabelMetrics:
    """Scores of multi-label predictions (labels chosen by threshold) against the true label sets."""

    n: int
    micro_f1: float
    macro_f1: float
    samples_f1: float
    micro_precision: float
    micro_recall: float
    macro_precision: float
    macro_recall: float
    p_at_1: float
    r_at_1: float
    hamming_loss: float
    subset_accuracy: float
    log_loss: float  # mean binary cross-entropy per label
    cardinality: float  # true labels per text
    predicted_cardinality: float
    labels: tuple[str, ...]
    per_label: tuple[LabelScore, ...]
    metric: str = "micro_f1"

    @property
    def score(self) -> float:
        return getattr(self, self.metric)

    @property
    def accuracy(self) -> float:  # the closest single number to accuracy: exact set match
        return self.subset_accuracy

    def headline(self) -> list[tuple[str, float, str, bool]]:
        first = [("micro F1", self.micro_f1), ("macro F1", self.macro_f1)]
        if self.metric == "macro_f1":
            first.reverse()
        return [(name, value, "{:.4f}", True) for name, value in first] + [
            ("samples F1", self.samples_f1, "{:.4f}", True), ("P@1", self.p_at_1, "{:.4f}", True),
            ("R@1", self.r_at_1, "{:.4f}", True), ("subset accuracy", self.subset_accuracy, "{:.2%}", True),
            ("Hamming loss", self.hamming_loss, "{:.5f}", False), ("log-loss", self.log_loss, "{:.4f}", False)]

    def to_dict(self) -> dict:
        return to_json(self)

    @classmethod
    def from_dict(cls, d: dict) -> MultiLabelMetrics:
        return from_json(cls, d)


def compute_multilabel_metrics(gold: np.ndarray, probs: np.ndarray, pred: np.ndarray, labels: list[str],
                               thresholds: np.ndarray, metric: str = "micro_f1") -> MultiLabelMetrics:
    """Metrics from boolean gold (n, labels), probabilities and the chosen labels (n, labels)."""
    from sklearn.metrics import f1_score, hamming_loss, precision_recall_fscore_support

    n, k = gold.shape
    cols = list(range(k))
    p, r, f, s = precision_recall_fscore_support(gold, pred, labels=cols, zero_division=0)
    micro = precision_recall_fscore_support(gold, pred, average="micro", zero_division=0)
    seen = (s > 0) | (pred.sum(0) > 0)  # macro over labels that occur (in gold or predictions)
    top = probs.argmax(1)
    right = gold[np.arange(n), top].sum()
    clipped = np.clip(probs, 1e-7, 1 - 1e-7)
    bce = -(gold * np.log(clipped) + (~gold) * np.log1p(-clipped)).mean()
    return MultiLabelMetrics(
        n=int(n), micro_f1=float(micro[2]), macro_f1=float(f[seen].mean()) if seen.any() else 0.0,
        samples_f1=float(f1_score(gold, pred, average="samples", zero_division=1)),
        micro_precision=float(micro[0]), micro_recall=float(micro[1]),
        macro_precision=float(p[seen].mean()) if seen.any() else 0.0,
        macro_recall=float(r[seen].mean()) if seen.any() else 0.0,
        p_at_1=float(right / max(n, 1)), r_at_1=float(right / max(gold.sum(), 1)),
        hamming_loss=float(hamming_loss(gold, pred)), subset_accuracy=float((gold == pred).all(1).mean()),
        log_loss=float(bce), cardinality=float(gold.sum() / max(n, 1)),
        predicted_cardinality=float(pred.sum() / max(n, 1)), labels=tuple(labels),
        per_label=tuple(LabelScore(lab, float(p[j]), float(r[j]), float(f[j]), int(s[j]), int(pred[:, j].sum()),
                                   round(float(thresholds[j]), 4)) for j, lab in enumerate(labels)),
        metric=metric)


@dataclass(frozen=True)
class Cooccurrence:
    """Two labels given to the same texts: how often, and the share of the rarer label's texts."""

    a: str
    b: str
    count: int
    share: float


@dataclass(frozen=True)
class LabelMistake:
    """A text the model got wrong: its true and predicted labels (with probabilities), its F1."""

    text: str
    true: tuple[str, ...]
    predicted: tuple[str, ...]
    probabilities: tuple[float, ...]
    f1: float


@dataclass(frozen=True)
class MultiLabelAnalysis:
    """Label co-occurrence in the true sets, and the texts with the most confident wrong label sets."""

    n: int
    cooccurrence: tuple[Cooccurrence, ...]
    mistakes: tuple[LabelMistake, ...]

    def to_dict(self) -> dict:
        return to_json(self)

    @classmethod
    def from_dict(cls, d: dict) -> MultiLabelAnalysis:
        return from_json(cls, d)


def cooccurrence(gold: np.ndarray, labels: list[str], k: int = TOP_PAIRS) -> list[Cooccurrence]:
    counts = gold.T.astype(np.int64) @ gold.astype(np.int64)  # (labels, labels)
    support = np.diag(counts)
    i, j = np.triu_indices(len(labels), 1)
    order = np.argsort(-counts[i, j], kind="stable")[:k]
    return [Cooccurrence(labels[i[o]], labels[j[o]], int(counts[i[o], j[o]]),
                         round(float(counts[i[o], j[o]] / max(min(support[i[o]], support[j[o]]), 1)), 4))
            for o in order if counts[i[o], j[o]] > 0]


def analyze_multilabel(texts: list[str], gold: np.ndarray, probs: np.ndarray, pred: np.ndarray,
                       labels: list[str], k: int = MISTAKES) -> MultiLabelAnalysis:
    """Co-occurrence of the true labels and the k worst texts (lowest F1; most confident first)."""
    tp = (gold & pred).sum(1)
    f1 = 2 * tp / np.maximum(gold.sum(1) + pred.sum(1), 1)
    wrong = np.flatnonzero(f1 < 1)
    confidence = (probs * pred).max(1)
    order = wrong[np.lexsort((-confidence[wrong], f1[wrong]))]
    mistakes, seen = [], set()
    for row in order:
        text = shorten(texts[row])
        if text in seen:
            continue
        seen.add(text)
        chosen = np.flatnonzero(pred[row])
        chosen = chosen[np.argsort(-probs[row, chosen], kind="stable")]
        mistakes.append(LabelMistake(text, tuple(labels[j] for j in np.flatnonzero(gold[row])),
                                     tuple(labels[j] for j in chosen),
                                     tuple(round(float(probs[row, j]), 4) for j in chosen), round(float(f1[row]), 4)))
        if len(mistakes) == k:
            break
    return MultiLabelAnalysis(int(len(texts)), tuple(cooccurrence(gold, labels)), tuple(mistakes))
