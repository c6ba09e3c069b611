"""Evaluation: single-label scores (accuracy, F1, log-loss, per-class scores, confusion) with scikit-learn.

Records are frozen dataclasses stored in the model folder (see textrnn.folder.records).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from textrnn.schema import from_json, to_json


@dataclass(frozen=True)
class ClassScore:
    """Precision, recall, F1 and support of one class."""

    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Metrics:
    """Scores of predictions against true labels; `confusion[i][j]` counts true i predicted j."""

    n: int
    accuracy: float
    macro_f1: float
    weighted_f1: float
    log_loss: float
    labels: tuple[str, ...]
    per_class: tuple[ClassScore, ...]
    confusion: tuple[tuple[int, ...], ...]
    metric: str = "accuracy"  # the task's score: accuracy or macro_f1

    @property
    def score(self) -> float:
        """The task's score (the one that picked the kept epoch)."""
        return getattr(self, self.metric)

    def headline(self) -> list[tuple[str, float, str, bool]]:
        """The scores a report leads with: (name, value, format, higher is better)."""
        return [("accuracy", self.accuracy, "{:.2%}", True), ("macro F1", self.macro_f1, "{:.4f}", True),
                ("weighted F1", self.weighted_f1, "{:.4f}", True), ("log-loss", self.log_loss, "{:.4f}", False)]

    def to_dict(self) -> dict:
        return to_json(self)

    @classmethod
    def from_dict(cls, d: dict) -> Metrics:
        return from_json(cls, d)


def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray, classes: int) -> np.ndarray:
    """The confusion matrix (classes, classes): [i][j] counts the texts of class i predicted j."""
    counts = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return counts


def compute_metrics(y_true: np.ndarray, probs: np.ndarray, labels: list[str], metric: str = "accuracy",
                    y_pred: np.ndarray | None = None) -> Metrics:
    """Metrics from true class indices and predicted probabilities (n, classes) (the predicted classes
    are the most probable unless given); `metric` names the score that picks the kept epoch."""
    from sklearn.metrics import accuracy_score, f1_score, log_loss, precision_recall_fscore_support

    y_pred = probs.argmax(axis=1) if y_pred is None else y_pred
    classes = list(range(len(labels)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=classes, zero_division=0)
    return Metrics(
        n=int(len(y_true)),
        accuracy=float(accuracy_score(y_true, y_pred)),
        macro_f1=float(f1_score(y_true, y_pred, labels=classes, average="macro", zero_division=0)),
        weighted_f1=float(f1_score(y_true, y_pred, labels=classes, average="weighted", zero_division=0)),
        log_loss=float(log_loss(y_true, np.clip(probs, 1e-7, 1.0), labels=classes)),
        labels=tuple(labels),
        per_class=tuple(ClassScore(lab, float(p[i]), float(r[i]), float(f[i]), int(s[i]))
                        for i, lab in enumerate(labels)),
        confusion=tuple(tuple(row) for row in confusion_counts(y_true, y_pred, len(labels)).tolist()),
        metric=metric,
    )
