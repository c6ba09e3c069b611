"""Metrics stage: accuracy, F1, log-loss, per-class scores and confusion matrix (scikit-learn)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


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
    labels: list[str]
    per_class: list[ClassScore]
    confusion: list[list[int]]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Metrics:
        return cls(**{**d, "per_class": [ClassScore(**c) for c in d["per_class"]]})


def compute_metrics(y_true: np.ndarray, probs: np.ndarray, labels: list[str]) -> Metrics:
    """Metrics from true class indices and predicted probabilities (n, classes)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, log_loss, precision_recall_fscore_support

    y_pred = probs.argmax(axis=1)
    classes = list(range(len(labels)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=classes, zero_division=0)
    return Metrics(
        n=int(len(y_true)),
        accuracy=float(accuracy_score(y_true, y_pred)),
        macro_f1=float(f1_score(y_true, y_pred, labels=classes, average="macro", zero_division=0)),
        weighted_f1=float(f1_score(y_true, y_pred, labels=classes, average="weighted", zero_division=0)),
        log_loss=float(log_loss(y_true, np.clip(probs, 1e-7, 1.0), labels=classes)),
        labels=list(labels),
        per_class=[ClassScore(lab, float(p[i]), float(r[i]), float(f[i]), int(s[i]))
                   for i, lab in enumerate(labels)],
        confusion=confusion_matrix(y_true, y_pred, labels=classes).tolist(),
    )
