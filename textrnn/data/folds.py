"""Data stage: k-fold assignments for cross-fitted training (`train --folds K`).

Single-label data: stratified folds (scikit-learn's StratifiedKFold, shuffled and seeded).
Multi-label data: iterative stratification (Sechidis, Tsoumakas and Vlahavas 2011): the rarest
label's texts are placed first, each in the fold that still wants most of that label, so that every
label is spread over the folds as evenly as its count allows.
"""

from __future__ import annotations

import numpy as np

from textrnn.config import SMALL_DATA_TEXTS, parse_folds
from textrnn.data.dataset import Dataset
from textrnn.errors import ConfigError

AUTO_FOLDS = 5  # what --folds auto uses where it turns cross-fitting on
# --folds auto cross-fits below this many training texts (measured: benchmarks/RESULTS-500.md); above it
# a 10% validation split already holds hundreds of texts per choice, and K trainings cost minutes
AUTO_MAX_TEXTS = SMALL_DATA_TEXTS


def smallest_class(data: Dataset) -> tuple[str, int]:
    """The class (single-label) or label (multi-label) with the fewest training texts, and that count."""
    counts = data.label_counts()
    label = min(counts, key=lambda name: (counts[name], name))
    return label, counts[label]


def choose_folds(setting: str | int, data: Dataset, has_val_file: bool) -> tuple[int, str | None]:
    """(folds to use, a note for the user or None). Auto: AUTO_FOLDS below AUTO_MAX_TEXTS training texts
    with no --val file, else 1; a class with fewer texts than folds lowers auto's count visibly (to 1 if
    it has fewer than 2) and is an error when the folds were asked for."""
    asked = parse_folds(setting)
    if asked is not None:
        if asked > 1 and not data.multi_label:
            label, count = smallest_class(data)
            if count < asked:
                raise ConfigError(f"--folds {asked} needs at least {asked} texts of each class; class {label!r} "
                                  f"has {count} (use --folds {max(count, 1)} or fewer)")
        return asked, None
    if has_val_file or len(data) >= AUTO_MAX_TEXTS:
        return 1, None
    if data.multi_label:
        return AUTO_FOLDS, None
    label, count = smallest_class(data)
    if count >= AUTO_FOLDS:
        return AUTO_FOLDS, None
    k = count if count >= 2 else 1
    what = f"{k} folds" if k > 1 else "one validation split instead of folds"
    return k, f"class {label!r} has only {count} texts: cross-fitting with {what} (--folds auto uses {AUTO_FOLDS})"


def fold_of_each_text(data: Dataset, k: int, seed: int) -> np.ndarray:
    """Which of `k` folds each text validates in (int array of len(data))."""
    if data.multi_label:
        return _iterative_folds(data, k, seed)
    from sklearn.model_selection import StratifiedKFold

    labels = np.asarray(data.labels)
    folds = np.zeros(len(labels), dtype=np.int64)
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    for i, (_, held) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        folds[held] = i
    return folds


def _iterative_folds(data: Dataset, k: int, seed: int) -> np.ndarray:
    """Iterative stratification of a multi-label set (Sechidis et al. 2011, algorithm 1)."""
    rng = np.random.default_rng(seed)
    names = sorted(data.label_counts())
    index = {name: j for j, name in enumerate(names)}
    sets = [[index[x] for x in labels] for labels in data.labels]
    y = np.zeros((len(sets), len(names)), dtype=bool)
    for i, labels in enumerate(sets):
        y[i, labels] = True
    wanted = np.tile(y.sum(0) / k, (k, 1))  # (fold, label): how many more texts of the label each fold wants
    size = np.full(k, len(sets) / k)  # how many more texts each fold wants
    folds = np.full(len(sets), -1, dtype=np.int64)
    left = y.copy()
    while left.any():
        remaining = left.sum(0)
        label = int(np.flatnonzero(remaining == remaining[remaining > 0].min())[0])
        for i in rng.permutation(np.flatnonzero(left[:, label])):
            best = np.flatnonzero(wanted[:, label] == wanted[:, label].max())
            if len(best) > 1:
                best = best[size[best] == size[best].max()]
            f = int(rng.choice(best))
            folds[i], left[i] = f, False
            wanted[f, y[i]] -= 1
            size[f] -= 1
    for i in rng.permutation(np.flatnonzero(folds < 0)):  # texts with no label: where most room is left
        f = int(rng.choice(np.flatnonzero(size == size.max())))
        folds[i] = f
        size[f] -= 1
    return folds
