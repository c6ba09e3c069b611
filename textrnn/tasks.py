"""The task head: everything that depends on the kind of problem, in one object.

A Task turns labels into training targets, owns the loss and how ensemble members combine (for the
training stage, torch imported when called), turns the model's logits into probabilities and
predicted labels (numpy only: the prediction path never imports torch), computes the validation
score that picks the kept epoch, the full metrics and analysis stored in the model folder, and
names the result sections `textrnn report` shows. Training, export and inference call the task and
know nothing of softmax, argmax or accuracy.

Single-label classification (one label per text: softmax, cross-entropy, accuracy) is the kind
there is today; a second kind is a subclass that overrides what differs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from textrnn.errors import DataError, ModelFolderError

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
        return self.top[0][0]

    @property
    def probability(self) -> float:
        return self.top[0][1]


class ScoreCounter:
    """The training score accumulated over an epoch's batches (torch tensors in, a float out)."""

    def __init__(self) -> None:
        self.hits, self.n = 0, 0

    def add(self, logits: torch.Tensor, targets: torch.Tensor) -> None:
        self.hits += int((logits.argmax(1) == targets).sum())
        self.n += len(targets)

    def value(self) -> float:
        return self.hits / max(self.n, 1)


class Task:
    """Single-label classification: each text has exactly one of `labels`."""

    kind: ClassVar[str] = "single_label"
    metric: ClassVar[str] = "accuracy"  # the validation score that picks the kept epoch
    activation: ClassVar[str] = "softmax"  # what `probabilities` applies to the logits
    # the result sections `textrnn report` shows for each scored split, in order (see textrnn.views)
    views: ClassVar[tuple[str, ...]] = ("per_class", "confusion", "confused_pairs", "calibration", "mistakes")

    def __init__(self, labels: Sequence[str]) -> None:
        self.labels = tuple(labels)
        self._index = {label: i for i, label in enumerate(self.labels)}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self.labels)} labels)"

    # ------------------------------------------------------------ data

    @classmethod
    def from_training_data(cls, data: Dataset) -> Task:
        """The task for a training set: its labels, sorted."""
        return cls(sorted(set(data.labels)))

    def targets(self, data: Dataset) -> np.ndarray:
        """Training targets of a dataset: class indices (n,) int64."""
        unknown = sorted(set(data.labels) - self._index.keys())
        if unknown:
            shown = ", ".join(repr(u) for u in unknown[:5])
            raise DataError(f"{data.source} has labels not in the training data: {shown} "
                            f"(the model's labels: {', '.join(self.labels[:10])}"
                            f"{', ...' if len(self.labels) > 10 else ''})")
        return np.array([self._index[label] for label in data.labels], dtype=np.int64)

    # ------------------------------------------------------------ training [torch]

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        return F.cross_entropy(logits, targets)

    def target_tensor(self, targets: np.ndarray) -> torch.Tensor:
        import torch

        return torch.from_numpy(targets.astype(np.int64))

    def combine(self, member_logits: list[torch.Tensor]) -> torch.Tensor:
        """An ensemble's output from its members' logits: the log of their mean probability, so
        that `probabilities` of it is the averaged probabilities."""
        import torch

        log_probs = torch.stack([m.float().log_softmax(dim=-1) for m in member_logits])
        return torch.logsumexp(log_probs, dim=0) - math.log(len(member_logits))

    def running_score(self) -> ScoreCounter:
        return ScoreCounter()

    def validation(self, targets: np.ndarray, logits: np.ndarray) -> tuple[float, float]:
        """(loss, score) of logits against targets, as the fit loop compares epochs."""
        import torch

        loss = self.loss(torch.from_numpy(logits), torch.from_numpy(targets)).item()
        return loss, float((logits.argmax(1) == targets).mean())

    def torch_score(self, targets: np.ndarray, logits: np.ndarray) -> float:
        """The score of PyTorch's logits (to compare with ONNX Runtime's on test)."""
        return float((logits.argmax(1) == targets).mean())

    # ------------------------------------------------------------ prediction [numpy]

    @staticmethod
    def probabilities(logits: np.ndarray) -> np.ndarray:
        """Softmax over the classes: (n, classes)."""
        z = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def decode(self, texts: Sequence[str], probs: np.ndarray, top_k: int = 1) -> list[Prediction]:
        """The top_k labels of each text, most probable first."""
        labels = self.labels
        k = max(1, min(top_k, len(labels)))
        if k == 1:  # the common case, vectorised
            best = probs.argmax(axis=1)
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

        return compute_metrics(targets, probs, list(self.labels))

    def analyze(self, texts: Sequence[str], targets: np.ndarray, probs: np.ndarray) -> Any:
        """What the predictions say beyond the scores (`analysis_type`): calibration, mistakes."""
        from textrnn.evaluation.analysis import analyze_predictions

        return analyze_predictions(list(texts), targets, probs, list(self.labels))

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
        return {"kind": self.kind, "labels": list(self.labels)}


TASKS: dict[str, type[Task]] = {Task.kind: Task}


def task_from_dict(data: Any, where: str = "task") -> Task:
    """The task a model folder records (kind and labels), checked."""
    if not isinstance(data, dict):
        raise ModelFolderError(f"{where} must be an object (got {type(data).__name__})")
    kind, labels = data.get("kind"), data.get("labels")
    if kind not in TASKS:
        raise ModelFolderError(f"{where}.kind {kind!r} is not one this textrnn knows ({', '.join(TASKS)}): "
                               "upgrade textrnn")
    if (not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(x, str) and x for x in labels)
            or len(set(labels)) != len(labels)):
        raise ModelFolderError(f"labels must be a list of at least 2 different names (got {str(labels)[:80]})")
    return TASKS[kind](labels)
