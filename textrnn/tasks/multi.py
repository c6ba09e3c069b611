"""The task head for multi-label classification (any number of labels per text, none included):
a sigmoid per label, binary cross-entropy with optional positive weights per label, micro-F1 (or
macro-F1) to pick the kept epoch, and a decision threshold per label tuned on validation.

Thresholds: each label's is the one that maximises its F1 on the validation set; a label with fewer
than MIN_POSITIVES validation texts takes one global threshold, tuned for micro-F1 over all labels
(a per-label threshold tuned on one or two examples is noise). Prediction gives every label at or
above its threshold, most probable first, and at least the most probable one (`min_labels`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from textrnn.errors import DataError, ModelFolderError
from textrnn.tasks.single import Prediction, Task, checked

if TYPE_CHECKING:
    import torch

    from textrnn.data import Dataset

MIN_POSITIVES = 5  # validation texts a label needs for a threshold of its own
DEFAULT_THRESHOLD = 0.5
LINEAR_THREADS = 4  # most threads fitting the TF-IDF model's labels (at most one per core)
MAX_POS_WEIGHT = 100.0  # a label seen once in 10,000 texts would otherwise weigh 10,000


class MicroF1Counter:
    """Micro-F1 at threshold 0.5 accumulated over an epoch's batches."""

    def __init__(self) -> None:
        self.tp = self.fp = self.fn = 0

    def add(self, logits: torch.Tensor, targets: torch.Tensor) -> None:
        pred, gold = logits > 0, targets > 0.5
        self.tp += int((pred & gold).sum())
        self.fp += int((pred & ~gold).sum())
        self.fn += int((~pred & gold).sum())

    def value(self) -> float:
        return 2 * self.tp / max(2 * self.tp + self.fp + self.fn, 1)


def f1_scores(gold: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    """(micro-F1, macro-F1) of boolean (n, labels) arrays; macro over the labels with any gold or prediction."""
    tp, fp, fn = (gold & pred).sum(0), (~gold & pred).sum(0), (gold & ~pred).sum(0)
    micro = 2 * tp.sum() / max(2 * tp.sum() + fp.sum() + fn.sum(), 1)
    seen = (tp + fp + fn) > 0
    macro = float(np.mean(2 * tp[seen] / (2 * tp[seen] + fp[seen] + fn[seen]))) if seen.any() else 0.0
    return float(micro), macro


def best_f1_threshold(gold: np.ndarray, probs: np.ndarray) -> tuple[float, float]:
    """(threshold, F1) that maximise one label's F1: every cut between sorted probabilities is tried."""
    order = np.argsort(-probs, kind="stable")
    p, g = probs[order], gold[order]
    tp = np.cumsum(g)
    k = np.arange(1, len(p) + 1)
    f1 = 2 * tp / (k + g.sum())
    best = int(np.argmax(f1))
    cut = (p[best] + p[best + 1]) / 2 if best + 1 < len(p) else p[best] / 2
    return float(cut), float(f1[best])


def _thresholds(gold: np.ndarray, probs: np.ndarray, own: bool) -> np.ndarray:
    """The best global threshold for every label; with `own`, each label's best where it has MIN_POSITIVES."""
    grid = np.arange(0.05, 0.96, 0.01)
    thresholds = np.full(gold.shape[1], max(grid, key=lambda t: f1_scores(gold, probs >= t)[0]), dtype=np.float32)
    if own:
        for j in np.flatnonzero(gold.sum(0) >= MIN_POSITIVES):
            thresholds[j] = best_f1_threshold(gold[:, j], probs[:, j])[0]
    return thresholds


class MultiLabelTask(Task):
    """Multi-label classification: each text has any subset of `labels`."""

    kind: ClassVar[str] = "multi_label"
    metrics: ClassVar[tuple[str, ...]] = ("micro_f1", "macro_f1")
    activation: ClassVar[str] = "sigmoid"
    views: ClassVar[tuple[str, ...]] = ("per_label", "cooccurrence", "label_mistakes")

    def __init__(self, labels: Sequence[str], metric: str | None = None, weights: np.ndarray | None = None,
                 thresholds: Sequence[float] | None = None) -> None:
        super().__init__(labels, metric, weights)
        self.thresholds = np.asarray(thresholds if thresholds is not None else [DEFAULT_THRESHOLD] * len(self.labels),
                                     dtype=np.float32)

    # ------------------------------------------------------------ data

    @classmethod
    def from_training_data(cls, data: Dataset, metric: str | None = None, balanced: bool = False) -> Task:
        """The labels of a training set, sorted; with `balanced`, a positive weight per label (texts
        without the label / texts with it, capped at MAX_POS_WEIGHT) for the loss."""
        counts = data.label_counts()
        labels = sorted(counts)
        weights = None
        if balanced:
            weights = np.array([min((len(data) - counts[lab]) / counts[lab], MAX_POS_WEIGHT) for lab in labels],
                               dtype=np.float32)
        return cls(labels, metric, weights)

    def check_kind(self, data: Dataset) -> None:
        if not data.multi_label:
            raise DataError(f"{data.source} is single-label data but the model is multi-label (read the file as "
                            "multi-label: --label-sep, --multi-label, JSON label lists or fastText lines)")

    def targets(self, data: Dataset) -> np.ndarray:
        """Training targets: (n, labels) float32, 1 where the text has the label (a text with no
        label is all zeros). Labels the model never saw cannot be predicted and are left out (as
        fastText and scikit-learn's MultiLabelBinarizer do); `unknown` counts them."""
        self.check_kind(data)
        y = np.zeros((len(data), len(self.labels)), dtype=np.float32)
        for row, labels in enumerate(data.labels):
            y[row, [self._index[lab] for lab in labels if lab in self._index]] = 1.0
        return y

    def unknown(self, data: Dataset) -> tuple[list[str], int]:
        """The labels of `data` the model does not know, and how many times they occur."""
        missing = [lab for labels in data.labels for lab in labels if lab not in self._index]
        return sorted(set(missing)), len(missing)

    # ------------------------------------------------------------ training [torch]

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        import torch
        import torch.nn.functional as F

        weight = None if self.weights is None else torch.from_numpy(self.weights).to(logits.device)
        return F.binary_cross_entropy_with_logits(logits, targets, pos_weight=weight)

    def target_tensor(self, targets: np.ndarray) -> torch.Tensor:
        import torch

        return torch.from_numpy(targets.astype(np.float32))

    def combine(self, member_logits: list[torch.Tensor], weights: Sequence[float] | None = None) -> torch.Tensor:
        """The logit of the members' mean probability per label (weighted by `weights`, which sum to 1),
        so `probabilities` averages them. Computed in log space with softplus (log sigmoid(m) =
        -softplus(-m)): ONNX Runtime's Sigmoid is far off for large negative logits (110% relative
        error at -16, measured), its Softplus is not (3e-7)."""
        import torch
        import torch.nn.functional as F

        w = weights if weights is not None else [1.0 / len(member_logits)] * len(member_logits)
        logits = [m.float() for m in member_logits]
        logw = torch.tensor([math.log(max(wi, 1e-12)) for wi in w]).view(-1, *([1] * logits[0].dim()))
        log_p = torch.logsumexp(torch.stack([-F.softplus(-m) for m in logits]) + logw, dim=0)
        log_q = torch.logsumexp(torch.stack([-F.softplus(m) for m in logits]) + logw, dim=0)
        return log_p - log_q

    def fit_linear(self, x: Any, targets: np.ndarray, c: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """One binary logistic regression per label (liblinear); a label always or never present keeps
        weight 0 and bias -20."""
        from concurrent.futures import ThreadPoolExecutor

        from sklearn.linear_model import LogisticRegression
        from threadpoolctl import threadpool_limits

        k = len(self.labels)
        weight, bias = np.zeros((x.shape[1], k), np.float32), np.full(k, -20.0, np.float32)
        gold = targets > 0.5
        x = x.astype(np.float64, copy=False)  # liblinear's type: converted once, not once per label

        def fit(j: int) -> None:
            m = LogisticRegression(C=c, solver="liblinear", random_state=seed).fit(x, gold[:, j].astype(np.int64))
            weight[:, j], bias[j] = m.coef_[0], m.intercept_[0]

        # labels are independent fits, and liblinear releases the GIL: one thread per core (same weights), with
        # BLAS held to one thread each (two threads calling a two-thread BLAS ran slower than one thread alone)
        workers = max(1, min(LINEAR_THREADS, len(os.sched_getaffinity(0))))
        with threadpool_limits(1), ThreadPoolExecutor(workers) as pool:
            list(pool.map(fit, np.flatnonzero(gold.any(0) & ~gold.all(0))))
        return weight, bias

    def log_loss(self, targets: np.ndarray, probs: np.ndarray) -> float:
        """The mean binary log loss over every (text, label)."""
        p = np.clip(probs, 1e-7, 1 - 1e-7)
        return -float(np.mean(targets * np.log(p) + (1 - targets) * np.log1p(-p)))

    def running_score(self) -> MicroF1Counter:
        return MicroF1Counter()

    def validation(self, targets: np.ndarray, logits: np.ndarray) -> tuple[float, float]:
        import torch
        import torch.nn.functional as F

        loss = F.binary_cross_entropy_with_logits(torch.from_numpy(logits), torch.from_numpy(targets)).item()
        return loss, self.torch_score(targets, logits)

    def torch_score(self, targets: np.ndarray, logits: np.ndarray) -> float:
        return self.score(targets, self.probabilities(logits))

    def score(self, targets: np.ndarray, probs: np.ndarray) -> float:
        micro, macro = f1_scores(targets > 0.5, self.decide(probs))
        return micro if self.metric == "micro_f1" else macro

    # ------------------------------------------------------------ prediction [numpy]

    def pool(self, logits: list[torch.Tensor], weights: Sequence[float]) -> torch.Tensor:
        """Weighted geometric pooling per label: the weighted sum of the parts' logits (log-odds)."""
        return sum(w * m.float() for m, w in zip(logits, weights, strict=True))

    @staticmethod
    def pool_probabilities(probs: list[np.ndarray], weights: Sequence[float]) -> np.ndarray:
        """`pool` of parts given as probabilities."""
        z = sum(w * (np.log(np.clip(p, 1e-7, 1.0)) - np.log(np.clip(1.0 - p, 1e-7, 1.0)))
                for p, w in zip(probs, weights, strict=True))
        return 1.0 / (1.0 + np.exp(-z))

    @staticmethod
    def probabilities(logits: np.ndarray) -> np.ndarray:
        """A sigmoid per label: (n, labels)."""
        return 1.0 / (1.0 + np.exp(-logits))

    def decide(self, probs: np.ndarray, min_labels: int = 1) -> np.ndarray:
        """Which labels each text gets: (n, labels) bool; a text with fewer than `min_labels` labels at or
        above their thresholds gets its `min_labels` most probable."""
        chosen = probs >= self.thresholds
        short = np.flatnonzero(chosen.sum(1) < min_labels)  # texts with fewer: their most probable labels
        if len(short):
            top = np.argsort(-probs[short], axis=1, kind="stable")[:, :min_labels]
            chosen[short[:, None], top] = True
        return chosen

    def decode(self, texts: Sequence[str], probs: np.ndarray, top_k: int | None = None,
               min_labels: int = 1) -> list[Prediction]:
        """Every label at or above its threshold (at least the `min_labels` most probable), most probable
        first, at most `top_k`."""
        chosen = self.decide(probs, min_labels)
        out = []
        for text, p, c in zip(texts, probs, chosen, strict=True):
            idx = np.flatnonzero(c)
            idx = idx[np.argsort(-p[idx], kind="stable")][: top_k or None]
            out.append(Prediction(text, tuple((self.labels[j], float(p[j])) for j in idx)))
        return out

    def with_threshold(self, threshold: float) -> MultiLabelTask:
        """The same task deciding with one threshold for every label (predict --threshold)."""
        return MultiLabelTask(self.labels, self.metric, self.weights, [threshold] * len(self.labels))

    def calibrate(self, targets: np.ndarray, probs: np.ndarray) -> MultiLabelTask:
        """Thresholds tuned on validation: one global threshold (best micro-F1), and each label's own where
        it has MIN_POSITIVES positives. The labels' own are kept only if they also win on texts they were
        not tuned on (each half of validation scored with thresholds tuned on the other half): on a small
        validation set they overfit (cooking: micro-F1 0.49 on validation but 0.43 on test, against 0.47
        and 0.47 with the global one)."""
        gold = targets > 0.5
        own = True
        halves = np.array_split(np.random.default_rng(0).permutation(len(gold)), 2)
        if min(map(len, halves)) >= MIN_POSITIVES:
            own = self._held_out_score(gold, probs, halves, True) > self._held_out_score(gold, probs, halves, False)
        return MultiLabelTask(self.labels, self.metric, self.weights, np.round(_thresholds(gold, probs, own), 4))

    def _held_out_score(self, gold: np.ndarray, probs: np.ndarray, halves: list[np.ndarray], own: bool) -> float:
        chosen = np.zeros_like(gold)
        for tune, score in (halves, halves[::-1]):
            task = MultiLabelTask(self.labels, thresholds=_thresholds(gold[tune], probs[tune], own))
            chosen[score] = task.decide(probs[score])
        micro, macro = f1_scores(gold, chosen)
        return micro if self.metric == "micro_f1" else macro

    # ------------------------------------------------------------ evaluation

    def evaluate(self, targets: np.ndarray, probs: np.ndarray) -> Any:
        from textrnn.evaluation.multilabel import compute_multilabel_metrics

        return compute_multilabel_metrics(targets > 0.5, probs, self.decide(probs), list(self.labels),
                                          self.thresholds, self.metric)

    def analyze(self, texts: Sequence[str], targets: np.ndarray, probs: np.ndarray, metrics: Any) -> Any:
        """Label co-occurrence and the worst texts (nothing here is in `metrics`)."""
        from textrnn.evaluation.multilabel import analyze_multilabel

        return analyze_multilabel(list(texts), targets > 0.5, probs, self.decide(probs), list(self.labels))

    @property
    def metrics_type(self) -> type:
        from textrnn.evaluation.multilabel import MultiLabelMetrics

        return MultiLabelMetrics

    @property
    def analysis_type(self) -> type:
        from textrnn.evaluation.multilabel import MultiLabelAnalysis

        return MultiLabelAnalysis

    # ------------------------------------------------------------ record

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "thresholds": [round(float(t), 4) for t in self.thresholds]}

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "task") -> Task:
        labels, metric = checked(cls, data, where)
        thresholds = data.get("thresholds")
        if (not isinstance(thresholds, list) or len(thresholds) != len(labels)
                or not all(isinstance(t, (int, float)) and not isinstance(t, bool) and 0 <= t <= 1
                           for t in thresholds)):
            raise ModelFolderError(f"{where}.thresholds must be a list of {len(labels)} numbers in [0, 1], "
                                   f"one per label (got {str(thresholds)[:60]})")
        return cls(labels, metric, None, thresholds)
