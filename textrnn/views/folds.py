"""`textrnn report`, cross-fitted models (`train --folds K`): what each fold's network scored on the
texts it did not see, and what was chosen on them."""

from __future__ import annotations

import numpy as np
from rich.table import Table

from textrnn.folder.records import Metadata
from textrnn.views.common import PLAIN, SPLIT_TITLES, title


def cross_validated(meta: Metadata) -> bool:
    """Whether the validation scores are out-of-fold predictions of every training text."""
    val = meta.data.get("val")
    return bool(meta.training.folds) and val is not None and val.source != "file"


def split_title(meta: Metadata, split: str) -> str:
    """A split's name in the report: validation is "Cross-validated" when it is out of fold."""
    return "Cross-validated" if split == "val" and cross_validated(meta) else SPLIT_TITLES[split]


def folds_line(meta: Metadata) -> str:
    """The model card's line: folds, their kept epochs and scores, what the model is."""
    training = meta.training
    folds = training.folds
    scores = np.array([f.val_score for f in folds])
    metric = training.metric.replace("_", "-")
    how = {"refit": "refitted", "distilled": "distilled from the fold networks"}.get(training.fold_model)
    kept = (f"one network {how} on all {meta.data['train'].rows:,} texts for {training.refit_epochs} epochs "
            "(the folds' median best epoch)" if how else f"the {len(folds)} fold networks averaged in one graph")
    if training.fold_model == "first fold":
        kept = "the linear model alone (the mix gives the network no share: the first fold network, not refitted)"
    chosen = "the linear model's C and share, " if meta.linear is not None else ""
    return (f"{len(folds)} folds, each network stopped on its held-out fold: {metric} "
            f"{scores.mean():.2%} ± {scores.std(ddof=1) if len(scores) > 1 else 0:.2%}; model: {kept}; "
            f"{chosen}thresholds and the validation scores come from the out-of-fold predictions "
            "of every training text")


def folds_table(meta: Metadata) -> Table:
    """One row per fold network: its kept epoch, how it stopped, its score on its held-out fold."""
    training = meta.training
    metric = training.metric
    table = Table(title=title(f"Folds: {len(training.folds)} networks, each scored on the texts it did not see"),
                  title_justify="left", **PLAIN)
    for col in ("fold", "best epoch", "epochs", "stopped", f"val_{metric}", "val_loss", "seconds"):
        table.add_column(col, justify="right")
    for i, f in enumerate(training.folds, 1):
        table.add_row(str(i), str(f.best_epoch), str(f.epochs), f.stopped.split("_")[0], f"{f.val_score:.4f}",
                      f"{f.val_loss:.4f}", f"{f.train_seconds:.1f}")
    scores = np.array([f.val_score for f in training.folds])
    table.add_section()
    table.add_row("mean", f"{np.mean([f.best_epoch for f in training.folds]):.1f}", "", "",
                  f"{scores.mean():.4f}", f"± {scores.std(ddof=1) if len(scores) > 1 else 0:.4f}", "", style="bold")
    return table
