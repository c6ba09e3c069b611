"""The task head for single-label classification (one label per text): softmax, cross-entropy with
optional class weights, accuracy or macro-F1 to pick the kept epoch, per-class metrics and the
confusion matrix. textrnn.tasks.multi subclasses it for multi-label data."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from textrnn.errors import ConfigError, DataError, ModelFolderError

if TYPE_CHECKING:
    import torch

    from textrnn.data import Dataset


@dataclass(frozen=True)
class Prediction:
    """What the model says of one text: its labels, most probable first (the top k)."""

    text: str
    top: tuple[tuple[str, float], ...]

    @property
    def label(self) -> str:
        return self.top[0][0] if self.top else ""

    @property
    def probability(self) -> float:
        return self.top[0][1] if self.top else 0.0


class ScoreCounter:
    """The training score accumulated over an epoch's batches (torch tensors in, a float out)."""

    def __init__(self) -> None:
        self.hits, self.n = 0, 0

    def add(self, logits: torch.Tensor, targets: torch.Tensor) -> None:
        if targets.ndim == 2:  # soft targets (distillation): their most probable class
            targets = targets.argmax(1)
        self.hits += int((logits.argmax(1) == targets).sum())
        self.n += len(targets)

    def value(self) -> float:
        return self.hits / max(self.n, 1)


class Task:
    """Single-label classification: each text has exactly one of `labels`."""

    kind: ClassVar[str] = "single_label"
    metrics: ClassVar[tuple[str, ...]] = ("accuracy", "macro_f1")  # what may pick the kept epoch
    activation: ClassVar[str] = "softmax"  # what `probabilities` applies to the logits
    # the result sections `textrnn report` shows for each scored split, in order (see textrnn.views)
    views: ClassVar[tuple[str, ...]] = ("per_class", "confusion", "confused_pairs", "calibration", "mistakes")

    def __init__(self, labels: Sequence[str], metric: str | None = None, weights: np.ndarray | None = None,
                 threshold: float | None = None) -> None:
        self.labels = tuple(labels)
        # two classes only: the second is predicted when its probability reaches this (else the likelier one)
        self.threshold = threshold if len(self.labels) == 2 else None
        self._index = {label: i for i, label in enumerate(self.labels)}
        self.metric = metric or self.metrics[0]  # the validation score that picks the kept epoch
        if self.metric not in self.metrics:
            raise ConfigError(f"--metric {self.metric} does not fit {self.kind.replace('_', '-')} data "
                              f"(choose {' or '.join(self.metrics)})")
        self.weights = weights  # per class (loss weights for imbalanced data); training only

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self.labels)} labels)"

    # ------------------------------------------------------------ data

    @classmethod
    def from_training_data(cls, data: Dataset, metric: str | None = None, balanced: bool = False) -> Task:
        """The task for a training set: its labels, sorted; with `balanced`, loss weights
        n / (classes * count) per class (scikit-learn's "balanced")."""
        labels = sorted(set(data.labels))
        weights = None
        if balanced:
            counts = data.label_counts()
            weights = np.array([len(data) / (len(labels) * counts[lab]) for lab in labels], dtype=np.float32)
        return cls(labels, metric, weights)

    def check_kind(self, data: Dataset) -> None:
        if data.multi_label:
            raise DataError(f"{data.source} is multi-label data but the model is single-label "
                            "(one label per text)")

    def targets(self, data: Dataset) -> np.ndarray:
        """Training targets of a dataset: class indices (n,) int64."""
        self.check_kind(data)
        unknown = sorted(set(data.labels) - self._index.keys())
        if unknown:
            shown = ", ".join(repr(u) for u in unknown[:5])
            raise DataError(f"{data.source} has labels not in the training data: {shown} "
                            f"(the model's labels: {', '.join(self.labels[:10])}"
                            f"{', ...' if len(self.labels) > 10 else ''})")
        return np.array([self._index[label] for label in data.labels], dtype=np.int64)

    # ------------------------------------------------------------ training [torch]

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        import torch
        import torch.nn.functional as F

        if self.weights is None:
            return F.cross_entropy(logits, targets)
        return F.cross_entropy(logits, targets, weight=torch.from_numpy(self.weights).to(logits.device))

    def target_tensor(self, targets: np.ndarray) -> torch.Tensor:
        """Class indices (n,), or soft targets (n, classes): probabilities that cross-entropy takes as they are
        (a network distilled from others, textrnn.training.crossfit)."""
        import torch

        if targets.ndim == 2:
            return torch.from_numpy(targets.astype(np.float32))
        return torch.from_numpy(targets.astype(np.int64))

    def combine(self, member_logits: list[torch.Tensor], weights: Sequence[float] | None = None) -> torch.Tensor:
        """An ensemble's output from its members' logits: the log of their mean probability (weighted
        by `weights`, which sum to 1), so that `probabilities` of it is the averaged probabilities."""
        import torch

        log_probs = torch.stack([m.float().log_softmax(dim=-1) for m in member_logits])
        if weights is None:
            return torch.logsumexp(log_probs, dim=0) - math.log(len(member_logits))
        logw = torch.tensor([math.log(max(w, 1e-12)) for w in weights]).view(-1, 1, 1)
        return torch.logsumexp(log_probs + logw, dim=0)

    def pool(self, logits: list[torch.Tensor], weights: Sequence[float]) -> torch.Tensor:
        """Weighted geometric pooling: the weighted sum of the parts' log probabilities, whose softmax is
        their weighted geometric mean, renormalised (the TF-IDF model's mix, textrnn.model.tfidf)."""
        return sum(w * m.float().log_softmax(dim=-1) for m, w in zip(logits, weights, strict=True))

    @staticmethod
    def pool_probabilities(probs: list[np.ndarray], weights: Sequence[float]) -> np.ndarray:
        """`pool` of parts given as probabilities."""
        z = sum(w * np.log(np.clip(p, 1e-7, 1.0)) for p, w in zip(probs, weights, strict=True))
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def fit_linear(self, x: Any, targets: np.ndarray, c: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """A logistic regression (scikit-learn, strength `c`) on features `x`: (weights (features, classes),
        bias (classes,)) whose logits give its probabilities (the TF-IDF model, textrnn.training.tfidf)."""
        from sklearn.linear_model import LogisticRegression

        k = len(self.labels)
        m = LogisticRegression(C=c, max_iter=300, random_state=seed).fit(x, targets)
        weight, bias = np.zeros((x.shape[1], k), np.float32), np.zeros(k, np.float32)
        if m.coef_.shape[0] == 1:  # two classes: one logit, against the first class's 0
            weight[:, m.classes_[1]], bias[m.classes_[1]] = m.coef_[0], m.intercept_[0]
        else:
            weight[:, m.classes_], bias[m.classes_] = m.coef_.T, m.intercept_
        return weight, bias

    def log_loss(self, targets: np.ndarray, probs: np.ndarray) -> float:
        """The mean log loss of probabilities (clipped to [1e-7, 1 - 1e-7]) against targets."""
        p = np.clip(probs, 1e-7, 1 - 1e-7)
        return -float(np.mean(np.log(p[np.arange(len(targets)), targets])))

    def running_score(self) -> ScoreCounter:
        return ScoreCounter()

    def validation(self, targets: np.ndarray, logits: np.ndarray) -> tuple[float, float]:
        """(loss, score) of logits against targets, as the fit loop compares epochs."""
        import torch
        import torch.nn.functional as F

        loss = F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(targets)).item()  # unweighted
        return loss, self.torch_score(targets, logits)

    def torch_score(self, targets: np.ndarray, logits: np.ndarray) -> float:
        """The score of logits (the validation score; also PyTorch's test score beside ONNX Runtime's)."""
        return self.score(targets, self.probabilities(logits))

    def score(self, targets: np.ndarray, probs: np.ndarray) -> float:
        """The task's metric of probabilities against targets."""
        pred = self.predict_classes(probs)
        if self.metric == "accuracy":
            return float((pred == targets).mean())
        return self._macro_f1(targets, pred)

    def calibrate(self, targets: np.ndarray, probs: np.ndarray) -> Task:
        """The task with its decision threshold tuned on validation: for two classes picked by macro-F1
        (skewed binary data), the cut on the second class's probability that maximises it; otherwise
        the most probable class is the prediction and there is nothing to tune."""
        if len(self.labels) != 2 or self.metric != "macro_f1":
            return self
        grid = np.round(np.arange(0.05, 0.96, 0.01), 2)
        scores = [self._macro_f1(targets, (probs[:, 1] >= t).astype(np.int64)) for t in grid]
        return type(self)(self.labels, self.metric, self.weights, float(grid[int(np.argmax(scores))]))

    def with_threshold(self, threshold: float) -> Task:
        """The task predicting the second of two classes at this probability (predict --threshold)."""
        if len(self.labels) != 2:
            raise ConfigError("--threshold applies to multi-label models and to single-label ones with two classes "
                              f"(this one has {len(self.labels)})")
        return type(self)(self.labels, self.metric, self.weights, threshold)

    def predict_classes(self, probs: np.ndarray) -> np.ndarray:
        """The predicted class of each text: the most probable, or by the binary threshold."""
        if self.threshold is not None:
            return (probs[:, 1] >= self.threshold).astype(np.int64)
        return probs.argmax(axis=1)

    def _macro_f1(self, targets: np.ndarray, pred: np.ndarray) -> float:
        k = len(self.labels)  # per class 2TP / (2TP + FP + FN), averaged
        tp = np.bincount(targets[pred == targets], minlength=k)
        both = np.bincount(pred, minlength=k) + np.bincount(targets, minlength=k)
        return float(np.mean(2 * tp / np.maximum(both, 1)))

    # ------------------------------------------------------------ prediction [numpy]

    @staticmethod
    def probabilities(logits: np.ndarray) -> np.ndarray:
        """Softmax over the classes: (n, classes)."""
        z = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def decode(self, texts: Sequence[str], probs: np.ndarray, top_k: int | None = 1,
               min_labels: int = 1) -> list[Prediction]:
        """The top_k labels of each text, most probable first."""
        labels = self.labels
        k = max(1, min(top_k or 1, len(labels)))
        if k == 1:  # the common case, vectorised
            best = self.predict_classes(probs)
            return [Prediction(t, ((labels[j], float(p)),))
                    for t, j, p in zip(texts, best.tolist(), probs[np.arange(len(texts)), best].tolist(),
                                       strict=True)]
        out = []
        for text, p in zip(texts, probs, strict=True):
            best = np.argsort(-p, kind="stable")[:k]
            out.append(Prediction(text, tuple((labels[j], float(p[j])) for j in best)))
        return out

    # ------------------------------------------------------------ evaluation

    def evaluate(self, targets: np.ndarray, probs: np.ndarray) -> Any:
        """Every score of the model on a labelled set (`metrics_type`)."""
        from textrnn.evaluation.metrics import compute_metrics

        return compute_metrics(targets, probs, list(self.labels), self.metric, self.predict_classes(probs))

    def analyze(self, texts: Sequence[str], targets: np.ndarray, probs: np.ndarray, metrics: Any) -> Any:
        """What the predictions say beyond the scores (`analysis_type`): calibration, mistakes; `metrics`:
        what `evaluate` gave for the same predictions (its confusion matrix is not counted again)."""
        from textrnn.evaluation.analysis import analyze_predictions

        return analyze_predictions(list(texts), targets, probs, list(self.labels), self.predict_classes(probs),
                                   confusion=metrics.confusion)

    @property
    def metrics_type(self) -> type:
        from textrnn.evaluation.metrics import Metrics

        return Metrics

    @property
    def analysis_type(self) -> type:
        from textrnn.evaluation.analysis import Analysis

        return Analysis

    # ------------------------------------------------------------ record

    def to_dict(self) -> dict[str, Any]:
        out = {"kind": self.kind, "labels": list(self.labels), "metric": self.metric}
        if self.threshold is not None:
            out["threshold"] = self.threshold
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "task") -> Task:
        labels, metric = checked(cls, data, where)
        threshold = data.get("threshold")
        if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                                      or not 0 <= threshold <= 1 or len(labels) != 2):
            raise ModelFolderError(f"{where}.threshold must be a number in [0, 1], for two classes only "
                                   f"(got {threshold!r})")
        return cls(labels, metric, None, threshold)


def checked(cls: type[Task], data: dict[str, Any], where: str) -> tuple[list[str], str | None]:
    """The labels and metric of a recorded task, checked."""
    labels, metric = data.get("labels"), data.get("metric")
    if (not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(x, str) and x for x in labels)
            or len(set(labels)) != len(labels)):
        raise ModelFolderError(f"labels must be a list of at least 2 different names (got {str(labels)[:80]})")
    if metric is not None and metric not in cls.metrics:
        raise ModelFolderError(f"{where}.metric {metric!r} is not one of {', '.join(cls.metrics)}")
    return labels, metric
