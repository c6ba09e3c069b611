"""Training stage [torch]: cross-fitted training (`train --folds K`).

    for each fold i       a network trained on the other folds, stopped on fold i (its best epoch kept);
                          its probabilities on fold i are out-of-fold (OOF): together they cover every text
    TF-IDF model          C and its share chosen on the OOF probabilities of every text, refitted on all
                          (textrnn.training.tfidf.choose_tfidf_crossfitted)
    final network         refit: one network trained on all the texts for the folds' median best epoch
                          (AutoGluon's refit_full); distilled: the same towards the fold networks' OOF
                          probabilities mixed with the labels (Hinton et al. 2015); or members: the K fold
                          networks averaged in one graph. Where the TF-IDF model's share is 1 (the network
                          gets none), no refit: the first fold network stays in the graph with weight 0

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

from textrnn.config import AUTO_PATIENCE, FoldModel, TrainConfig
from textrnn.folder.records import Training
from textrnn.training.batches import member_seed
from textrnn.training.epochs import FitCallback, FitHooks, FitResult
from textrnn.training.loop import PretrainedLayers, describe_members, fit_members, predict_logits

if TYPE_CHECKING:
    from torch import nn

    from textrnn.tasks import Task
    from textrnn.training.tfidf import TfidfChoice


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


# A fold network waits this many optimizer steps for a better epoch (a single split waits
# MIN_PATIENCE_STEPS, 600): its epoch is only a vote for the refit's (the median), and every extra
# epoch searched on a fold's 100 texts makes its out-of-fold probabilities more optimistic. Measured
# on 500-row samples (seed 0, test accuracy): agnews 78.6 -> 81.3 in half the time, sst2 66.7 -> 67.1.
FOLD_PATIENCE_STEPS = 300


def fold_patience(config: TrainConfig, texts: int) -> int:
    """Patience of a fold network trained on `texts` texts: the config's where given."""
    steps = max(1, -(-texts // config.batch_size))
    return config.patience or max(AUTO_PATIENCE, -(-FOLD_PATIENCE_STEPS // steps))


def refit_epochs(folds: list[FitResult]) -> int:
    """Epochs for the network refitted on all texts: the folds' median best epoch (AutoGluon uses the
    mean; a median ignores one fold that stopped early or late)."""
    return max(1, int(round(float(np.median([f.best_epoch for f in folds])))))


def fit_folds(make_member: Callable[[], nn.Module], task: Task, ids: list[np.ndarray], y: np.ndarray,
              folds: np.ndarray, config: TrainConfig, kept: FoldModel, progress: Any | None = None,
              hooks: FitHooks | None = None, pretrained: PretrainedLayers | None = None) -> CrossFitted:
    """Train a network per fold and the final network (see the module's docstring)."""
    members = fit_fold_networks(make_member, task, ids, y, folds, config, progress, hooks, pretrained)
    return members if kept == FoldModel.members else fit_final(members, make_member, task, ids, y, config, kept,
                                                               progress, hooks, pretrained)


def fit_fold_networks(make_member: Callable[[], nn.Module], task: Task, ids: list[np.ndarray], y: np.ndarray,
                      folds: np.ndarray, config: TrainConfig, progress: Any | None = None,
                      hooks: FitHooks | None = None, pretrained: PretrainedLayers | None = None) -> CrossFitted:
    """A network per fold, each stopped on its held-out fold: kept as members, with their out-of-fold
    probabilities. Ctrl-C in any fold ends the run (KeyboardInterrupt): the choices need every fold."""
    from textrnn.model import Ensemble

    k = int(folds.max()) + 1
    stage: Callable[[str], None] = getattr(progress, "on_stage", None) or (lambda text: None)
    callback: FitCallback | None = progress
    oof = np.zeros((len(ids), len(task.labels)), dtype=np.float32)
    networks, results = [], []
    for i in range(k):
        held, train = np.flatnonzero(folds == i), np.flatnonzero(folds != i)
        stage(f"Fold {i + 1} of {k}: training on {len(train):,} texts, stopping on {len(held):,}")
        fold_config = replace(config, seed=member_seed(config.seed, i, k), patience=fold_patience(config, len(train)))
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
    return CrossFitted(Ensemble(networks, task), results, results, oof, None, "members")


def fit_final(members: CrossFitted, make_member: Callable[[], nn.Module], task: Task, ids: list[np.ndarray],
              y: np.ndarray, config: TrainConfig, kept: FoldModel, progress: Any | None = None,
              hooks: FitHooks | None = None, pretrained: PretrainedLayers | None = None) -> CrossFitted:
    """The final network from the fold networks (`fit_fold_networks`): refit or distilled on all the
    texts for the folds' median best epoch. Ctrl-C keeps the fold networks as members, a complete model."""
    k, results, oof = len(members.folds), members.folds, members.oof
    stage: Callable[[str], None] = getattr(progress, "on_stage", None) or (lambda text: None)
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
                                   progress, None, hooks, pretrained, float(np.median([f.ema_decay for f in results])))
    except KeyboardInterrupt:
        models, fits = [], []
    if not fits or fits[0].stopped == "interrupted":
        return replace(members, note=f"interrupted while {how}: the {k} fold networks are kept as members "
                                     "(K times slower)")
    return CrossFitted(models[0], fits, results, oof, epochs, str(kept))


def first_fold_network(members: CrossFitted) -> CrossFitted:
    """The final network where the mix gives the network no share (the TF-IDF model's share is 1): the
    first fold network, kept in the graph with weight 0, instead of a refit that would not change one
    prediction (it cost up to a fifth of the run: AG News 500 rows, 198 -> 164 s)."""
    first = members.folds[0]
    return CrossFitted(members.network.members[0], [first], members.folds, members.oof, None, "first fold",
                       "the mix gives the network no share: no refit (the first fold network stays in the graph, "
                       "with weight 0)")


@dataclass(frozen=True)
class CrossFit:
    """What a cross-fitted fit chose on: every training text's targets and the out-of-fold probabilities
    of the final mix (thresholds and validation scores come from them), and the networks' fits."""

    targets: np.ndarray
    oof: np.ndarray
    fitted: CrossFitted

    def describe(self, metric: str, fits: list[FitResult], seed: int) -> Training:
        """The training record: the folds; the history shown is the first fold's (a refit has no validation)."""
        fitted = self.fitted
        folds = describe_members(fitted.folds, seed, len(fitted.folds))
        first = fitted.folds[0]
        seconds = sum(f.seconds for f in fitted.folds + (fits if fitted.kept in ("refit", "distilled") else []))
        return Training(metric=metric, history=tuple(first.history), best_epoch=first.best_epoch,
                        planned_epochs=first.epochs, patience=first.patience, stopped=fits[0].stopped,
                        members=folds if fitted.kept == "members" else (), planned_members=len(fits),
                        seconds=round(seconds, 2), precision=first.precision, folds=folds, fold_model=fitted.kept,
                        refit_epochs=fitted.refit_epochs)


def fit_cross_fitted(splits: Any, start: Any, make_member: Callable[[], nn.Module],
                     pretrained: PretrainedLayers | None, progress: Any | None,
                     hooks: FitHooks | None) -> tuple[Any, TfidfChoice | None, CrossFit, list[str]]:
    """Cross-fitted (`--folds K`): a network per fold and the final network (`fit_folds`), then the
    TF-IDF model chosen on out-of-fold predictions. (the model; the TF-IDF model's choice, if mixed in;
    what was chosen on, with the final network's fits; notes for the user)."""
    from textrnn.config import TokenizerKind
    from textrnn.data.tokens import encode_compact
    from textrnn.model.tfidf import compose
    from textrnn.training.tfidf import choose_tfidf_crossfitted, content_tokens_of

    tokenizer, settings, task = start.tokenizer, start.settings, splits.task
    compact = encode_compact(tokenizer, splits.train.texts)
    ids = [compact[i] for i in range(len(compact))]
    y = splits.targets("train")
    kept = settings.data.fold_model
    fitted = fit_fold_networks(make_member, task, ids, y, splits.folds, settings.train, progress, hooks, pretrained)
    oof, choice, vocab = fitted.oof, None, tokenizer.get_vocab_size()
    if settings.model.linear:  # chosen on the fold networks' out-of-fold probabilities: before the final network
        if progress:
            progress.on_stage("Fitting the linear n-gram model on the folds")
        choice = choose_tfidf_crossfitted(task, ids, y, splits.folds, oof, vocab, settings.train.seed,
                                          content_tokens_of(tokenizer, settings.tokenizer.kind == TokenizerKind.word))
        if choice is not None:
            oof = choice.held_out_probs
    if kept != FoldModel.members:
        no_share = choice is not None and choice.info.alpha >= 1.0
        fitted = first_fold_network(fitted) if no_share else fit_final(fitted, make_member, task, ids, y,
                                                                       settings.train, kept, progress, hooks,
                                                                       pretrained)
    model = fitted.network if choice is None else compose(fitted.network, task, vocab, choice.info, choice.state)
    return model, choice, CrossFit(y, oof.astype(np.float32), fitted), [fitted.note] if fitted.note else []
