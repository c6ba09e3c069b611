"""Training stage [torch]: cross-fitted training (`train --folds K`).

    for each fold i       a network trained on the other folds, stopped on fold i (its best epoch kept);
                          its probabilities on fold i are out-of-fold (OOF): together they cover every text
    final network         refit: one network trained on all the texts for the folds' median best epoch
                          (AutoGluon's refit_full); distilled: the same towards the fold networks' OOF
                          probabilities mixed with the labels (Hinton et al. 2015); or members: the K fold
                          networks averaged in one graph
    linear n-gram model   C and its share chosen on the OOF probabilities of every text, refitted on all
                          (textrnn.training.linear.mix_linear_crossfitted)

Everything chosen after the networks (the share, thresholds, the validation scores that `report`
shows) sees the OOF predictions of all N texts instead of a 10% split. Ctrl-C during a fold ends
the run with nothing saved (the choices need every fold); during the refit it keeps the finished
fold networks as members, a complete model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from textrnn.config import FoldModel, TrainConfig
from textrnn.training.batches import member_seed
from textrnn.training.loop import FitCallback, FitHooks, FitResult, PretrainedLayers, fit_members, predict_logits

if TYPE_CHECKING:
    from torch import nn

    from textrnn.tasks import Task


DISTILL_LABEL_SHARE = 0.5  # distilled: targets = this x the labels + the rest x the fold networks' OOF probabilities


@dataclass
class CrossFitted:
    """The networks of a cross-fitted run and what they predicted out of fold."""

    network: Any  # the final network: the refit one, or an Ensemble of the fold networks
    fits: list[FitResult]  # the final network's fits: [the refit], or each fold network's
    folds: list[FitResult]  # each fold network's fit (its best epoch on its held-out fold)
    oof: np.ndarray  # (texts, classes) probabilities of each text from the network that did not see it
    refit_epochs: int | None  # epochs of the refit (None: the fold networks were kept)
    kept: str  # what the final network is: "refit", "distilled" or "members"
    note: str | None = None


def refit_epochs(folds: list[FitResult]) -> int:
    """Epochs for the network refitted on all texts: the folds' median best epoch (AutoGluon uses the
    mean; a median ignores one fold that stopped early or late)."""
    return max(1, int(round(float(np.median([f.best_epoch for f in folds])))))


def fit_folds(make_member: Callable[[], nn.Module], task: Task, ids: list[np.ndarray], y: np.ndarray,
              folds: np.ndarray, config: TrainConfig, kept: FoldModel, progress: Any | None = None,
              hooks: FitHooks | None = None, pretrained: PretrainedLayers | None = None) -> CrossFitted:
    """Train a network per fold and the final network (see the module's docstring)."""
    from textrnn.model import Ensemble

    k = int(folds.max()) + 1
    stage: Callable[[str], None] = getattr(progress, "on_stage", None) or (lambda text: None)
    callback: FitCallback | None = progress
    oof = np.zeros((len(ids), len(task.labels)), dtype=np.float32)
    networks, results = [], []
    for i in range(k):
        held, train = np.flatnonzero(folds == i), np.flatnonzero(folds != i)
        stage(f"Fold {i + 1} of {k}: training on {len(train):,} texts, stopping on {len(held):,}")
        fold_config = replace(config, seed=member_seed(config.seed, i, k))
        try:
            models, fits = fit_members(make_member, 1, task, [ids[j] for j in train], y[train],
                                       [ids[j] for j in held], y[held], fold_config, callback, None, hooks, pretrained)
        except KeyboardInterrupt:
            models, fits = [], []
        if not fits or fits[0].stopped == "interrupted":
            stage(f"Interrupted in fold {i + 1} of {k}: nothing is kept (the model's choices need every fold's "
                  "out-of-fold predictions; --folds 1 trains one network on a validation split)")
            raise KeyboardInterrupt
        networks.append(models[0])
        results.append(fits[0])
        oof[held] = task.probabilities(predict_logits(models[0], [ids[j] for j in held]))
    members = CrossFitted(Ensemble(networks, task), results, results, oof, None, "members")
    if kept == FoldModel.members:
        return members
    epochs = refit_epochs(results)
    targets = y
    if kept == FoldModel.distilled:  # towards the fold networks' out-of-fold probabilities, mixed with the labels
        hard = np.eye(len(task.labels), dtype=np.float32)[y] if y.ndim == 1 else y.astype(np.float32)
        targets = DISTILL_LABEL_SHARE * hard + (1 - DISTILL_LABEL_SHARE) * oof
    how = "distilling" if kept == FoldModel.distilled else "refitting"
    stage(f"{how.capitalize()} one network on all {len(ids):,} texts for {epochs} epochs "
          "(the folds' median best epoch)")
    try:
        models, fits = fit_members(make_member, 1, task, ids, targets, [], y[:0], replace(config, epochs=epochs),
                                   callback, None, hooks, pretrained, float(np.median([f.ema_decay for f in results])))
    except KeyboardInterrupt:
        models, fits = [], []
    if not fits or fits[0].stopped == "interrupted":
        members.note = f"interrupted while {how}: the {k} fold networks are kept as members (K times slower)"
        return members
    return CrossFitted(models[0], fits, results, oof, epochs, str(kept))
