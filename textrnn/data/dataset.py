"""Data stage, in memory: a Dataset of texts and string labels, its fingerprint, and the split that
holds out validation rows."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from textrnn.errors import DataError


@dataclass(frozen=True)
class Dataset:
    """Texts and their labels, with where they came from: one string label per text, or (multi-label
    data) a tuple of labels per text, possibly empty ("none of these")."""

    texts: list[str]
    labels: list  # list[str], or list[tuple[str, ...]] when multi_label
    source: str = ""
    multi_label: bool = False

    def __len__(self) -> int:
        return len(self.texts)

    def label_counts(self) -> dict[str, int]:
        """Texts per label."""
        flat = (lab for labels in self.labels for lab in labels) if self.multi_label else self.labels
        return dict(sorted(Counter(flat).items()))

    @property
    def cardinality(self) -> float:
        """Labels per text, on average."""
        return sum(len(x) for x in self.labels) / max(len(self), 1) if self.multi_label else 1.0

    def subset(self, index: np.ndarray | list[int]) -> Dataset:
        take = getattr(self.texts, "take", None)  # compact texts (data.tokens.TextList) stay compact
        texts = take(index) if take is not None else [self.texts[i] for i in index]
        return Dataset(texts, [self.labels[i] for i in index], self.source, self.multi_label)


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, to record which data a model was trained on."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_trainable(data: Dataset) -> None:
    """Raise DataError unless the data has at least two classes (labels)."""
    classes = set(data.label_counts())
    if len(classes) < 2:
        only = next(iter(classes)) if classes else "none"
        what = "label" if data.multi_label else "class"
        raise DataError(f"{data.source} has a single {what} ({only!r}); a classifier needs at least 2")


def stratified_split(data: Dataset, fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """Hold out about `fraction` of each class (at least one where a class has two or more rows);
    multi-label data: `fraction` of the texts, drawn at random."""
    rng = np.random.default_rng(seed)
    if data.multi_label:
        order = rng.permutation(len(data))
        n_val = min(max(int(round(len(data) * fraction)), 1), len(data) - 1)
        if len(data) < 2:
            raise DataError(f"{data.source} is too small to hold out validation rows; pass --val FILE")
        return data.subset(sorted(order[n_val:].tolist())), data.subset(sorted(order[:n_val].tolist()))
    labels = np.array(data.labels)
    train_idx, val_idx = [], []
    for label in sorted(set(data.labels)):
        idx = np.flatnonzero(labels == label)
        rng.shuffle(idx)
        n_val = int(round(len(idx) * fraction))
        if len(idx) >= 2:
            n_val = min(max(n_val, 1), len(idx) - 1)
        else:
            n_val = 0
        val_idx.extend(idx[:n_val].tolist())
        train_idx.extend(idx[n_val:].tolist())
    train_idx.sort()
    val_idx.sort()
    if not val_idx:
        raise DataError(f"{data.source} is too small to hold out validation rows; pass --val FILE")
    return data.subset(train_idx), data.subset(val_idx)
