"""Evaluation: what a single-label model's validation predictions say beyond accuracy. numpy only.

Computed once at train time from the ONNX model's validation probabilities and stored compactly in
the model folder, so `textrnn report` can show calibration, the most confused pairs and
misclassified examples without re-reading the data or running the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from textrnn.evaluation.metrics import confusion_counts
from textrnn.schema import from_json, to_json

RELIABILITY_BINS = 10
TOP_PAIRS = 5
EXAMPLES = 5
EXAMPLE_CHARS = 200


@dataclass(frozen=True)
class Bin:
    """Texts whose top-class probability falls in [lo, hi]: how sure, and how often right."""

    lo: float
    hi: float
    count: int
    confidence: float
    accuracy: float


@dataclass(frozen=True)
class Pair:
    """How often texts of one class were predicted as another, and the share of the true class."""

    true: str
    pred: str
    count: int
    share: float


@dataclass(frozen=True)
class Mistake:
    """A misclassified text (shortened) with the probability of the wrong and of the true label."""

    text: str
    true: str
    pred: str
    probability: float
    true_probability: float


@dataclass(frozen=True)
class Analysis:
    """Calibration (expected calibration error and bins), most confused pairs, confident mistakes."""

    n: int
    ece: float
    reliability: tuple[Bin, ...]
    confused_pairs: tuple[Pair, ...]
    misclassified: tuple[Mistake, ...]

    def to_dict(self) -> dict:
        return to_json(self)

    @classmethod
    def from_dict(cls, d: dict) -> Analysis:
        return from_json(cls, d)


def reliability(y_true: np.ndarray, probs: np.ndarray, bins: int = RELIABILITY_BINS) -> dict[str, Any]:
    """Expected calibration error and the non-empty confidence bins of the top prediction.

    ECE is the count-weighted mean gap between confidence and accuracy over equal-width bins of
    the top class probability (Guo et al., 2017). Bins with no predictions are left out.
    """
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y_true
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)  # (n,) bin index
    rows, ece = [], 0.0
    for b in range(bins):
        sel = which == b
        count = int(sel.sum())
        if not count:
            continue
        c, a = float(conf[sel].mean()), float(correct[sel].mean())
        ece += count / len(y_true) * abs(c - a)
        rows.append({"lo": round(float(edges[b]), 3), "hi": round(float(edges[b + 1]), 3), "count": count,
                     "confidence": round(c, 4), "accuracy": round(a, 4)})
    return {"ece": round(float(ece), 4), "reliability": rows}


def confused_pairs(confusion: Sequence[Sequence[int]], labels: list[str], k: int = TOP_PAIRS) -> list[dict[str, Any]]:
    """The k largest off-diagonal cells: true label, predicted label, count, share of the true class."""
    cm = np.asarray(confusion)
    pairs = []
    for i in range(len(labels)):
        total = int(cm[i].sum())
        for j in range(len(labels)):
            if i != j and cm[i, j]:
                pairs.append({"true": labels[i], "pred": labels[j], "count": int(cm[i, j]),
                              "share": round(float(cm[i, j] / total), 4)})
    pairs.sort(key=lambda p: (-p["count"], -p["share"], p["true"], p["pred"]))
    return pairs[:k]


def shorten(text: str, limit: int = EXAMPLE_CHARS) -> str:
    """One line of at most `limit` characters, with an ellipsis when cut."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def misclassified(texts: list[str], y_true: np.ndarray, probs: np.ndarray, labels: list[str], k: int = EXAMPLES,
                  limit: int = EXAMPLE_CHARS, pred: np.ndarray | None = None) -> list[dict[str, Any]]:
    """The k most confident mistakes (the most instructive ones), texts shortened to `limit` chars.

    Repeated texts (common in real data sets) are shown once.
    """
    pred = probs.argmax(axis=1) if pred is None else pred
    wrong = np.flatnonzero(pred != y_true)
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i in wrong[np.argsort(-probs[wrong, pred[wrong]], kind="stable")]:
        text = shorten(texts[i], limit)
        if text in seen:
            continue
        seen.add(text)
        out.append({"text": text, "true": labels[int(y_true[i])], "pred": labels[int(pred[i])],
                    "probability": round(float(probs[i, pred[i]]), 4),
                    "true_probability": round(float(probs[i, y_true[i]]), 4)})
        if len(out) == k:
            break
    return out


def analyze_predictions(texts: list[str], y_true: np.ndarray, probs: np.ndarray, labels: list[str],
                        pred: np.ndarray | None = None, confusion: Sequence[Sequence[int]] | None = None) -> Analysis:
    """Calibration, most confused pairs and misclassified examples (predictions: the most probable
    class unless given). `confusion`: these predictions' confusion matrix where it is already counted
    (Metrics.confusion), else counted here."""
    y_true = np.asarray(y_true)
    pred = probs.argmax(axis=1) if pred is None else pred
    if confusion is None:
        confusion = confusion_counts(y_true, pred, len(labels)).tolist()
    return Analysis.from_dict({"n": int(len(y_true)), **reliability(y_true, probs),
                               "confused_pairs": confused_pairs(confusion, labels),
                               "misclassified": misclassified(texts, y_true, probs, labels, pred=pred)})
