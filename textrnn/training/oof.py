"""Training stage [torch]: every training text's out-of-fold probabilities from cross-fitted networks,
for `textrnn check --deep` (textrnn.checks judges the labels by them instead of its k-fold linear model).

The training data is split into K folds as `train --folds K` splits it (textrnn.data.folds); the
tokenizer and, where `train` would pretrain one, the language model are prepared as `train` prepares
them (textrnn.training.start, from the texts alone: no label is seen); fold network i trains on the
other folds and stops on fold i, whose probabilities it gives (`fit_folds`, kept as members: no
refit); then `train`'s TF-IDF model is chosen and mixed in on the same folds, as `train` does. The
probabilities of that mix, out of fold for every row, are what confident learning judges the labels
by (textrnn.checks.labels). The cost is about that of `train --folds K` without its final refit.

Ctrl-C during a fold raises KeyboardInterrupt: nothing is kept (the search needs every row's
out-of-fold probabilities).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from textrnn.config import FoldModel, Settings
from textrnn.data import Dataset


@dataclass(frozen=True)
class DeepProbabilities:
    """Out-of-fold probabilities of every training row, columns in the order of `labels`."""

    labels: tuple[str, ...]
    mixed: np.ndarray  # of the fold networks mixed with the TF-IDF model (what --deep judges labels by)
    networks: np.ndarray  # of the fold networks alone
    epochs: tuple[int, ...]  # each fold network's best epoch


def deep_settings(data: Dataset, folds: int, seed: int, settings: Settings | None = None) -> Settings:
    """`train`'s default settings (or `settings`) for `folds` folds, seeded, keeping the fold networks."""
    settings = settings or Settings()
    return replace(settings, data=replace(settings.data, folds=str(folds), fold_model=FoldModel.members,
                                          multi_label=data.multi_label),
                   train=replace(settings.train, seed=seed))


def deep_probabilities(data: Dataset, folds: int = 5, seed: int = 0, progress: Any | None = None,
                       settings: Settings | None = None) -> DeepProbabilities:
    """Every row's out-of-fold probabilities from cross-fitted networks (see the module's docstring).
    `progress`: a textrnn.training.loop.Progress (stages, among them "Fold i of K: ...", and epochs)."""
    from textrnn.data.folds import choose_folds, fold_of_each_text
    from textrnn.tasks import task_for
    from textrnn.training.crossfit import fit_cross_fitted
    from textrnn.training.splits import Splits
    from textrnn.training.start import member_factory, prepare_start

    settings = deep_settings(data, folds, seed, settings)
    k, _ = choose_folds(settings.data.folds, data, False)  # a class with fewer rows than folds: ConfigError
    task = task_for(data)
    splits = Splits(task, data, data, None, {}, folds=fold_of_each_text(data, k, seed))
    stage: Callable[[str], None] = getattr(progress, "on_stage", None) or (lambda name: None)
    stage("Preparing the tokenizer")
    start = prepare_start(splits, settings, progress)
    make_member, pretrained = member_factory(splits, start)
    _, _, cross_fit, _ = fit_cross_fitted(splits, start, make_member, pretrained, progress, None)
    fitted = cross_fit.fitted
    return DeepProbabilities(tuple(task.labels), np.asarray(cross_fit.oof, dtype=np.float64),
                             np.asarray(fitted.oof, dtype=np.float64), tuple(f.best_epoch for f in fitted.folds))
