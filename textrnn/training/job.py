"""Training stage [torch]: `textrnn train`, the whole job, stage by stage:

    read the data          textrnn.training.splits    (files -> train/validation/test, or folds; the task)
    where the model starts textrnn.training.start     (tokenizer; --init, --embeddings or a language model
                                                       pretrained on the training texts)
    fit                    textrnn.training.fitting   (the network(s), then the linear n-gram model)
    record                 textrnn.training.record    (export to ONNX + parity check, evaluate with ONNX
                                                       Runtime, metadata, int8, save)

`train_model` is what `textrnn train` calls (`textrnn tune` runs the same stages per trial).
Everything is written to a staging folder and moved into place only when complete, so an
interrupted or failed run never leaves a half model; only the writing process (FitHooks.is_writer) saves.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from textrnn.config import Settings
from textrnn.folder import saving
from textrnn.training.epochs import FitHooks, Progress
from textrnn.training.fitting import fit_model
from textrnn.training.record import TrainSummary, default_model_dir, finish, record_and_save
from textrnn.training.splits import read_splits
from textrnn.training.start import prepare_start


def train_model(train_path: str | Path, *, val_path: str | Path | None = None, test_path: str | Path | None = None,
                out: str | Path | None = None, force: bool = False, settings: Settings = Settings(),
                int8: bool = False, make_default: bool = True, progress: Progress | None = None,
                hooks: FitHooks | None = None) -> TrainSummary | None:
    """Train, export and evaluate a classifier; save it as a model folder and return a summary (None in
    the processes of a distributed run that do not write: see textrnn.training.distributed)."""
    hooks = hooks or FitHooks()
    stage: Callable[[str], None] = progress.on_stage if progress else (lambda name: None)
    started = time.perf_counter()
    train_path = Path(train_path)
    val_path, test_path = (Path(p) if p is not None else None for p in (val_path, test_path))
    stage("Reading data")
    from textrnn.training.distributed import is_launched

    splits = read_splits(train_path, val_path, test_path, settings, cross_fit=not is_launched())
    for note in splits.notes:
        stage(note)
    if progress is not None and hasattr(progress, "metric"):  # epoch lines name the task's score
        progress.metric = splits.task.metric
    if not hooks.is_writer:  # its part of the training; the writer saves
        fit_model(splits, prepare_start(splits, settings, progress, hooks), progress, hooks)
        return None
    final_dir = Path(out) if out is not None else default_model_dir(train_path)

    with saving.staging(final_dir, overwrite=force) as staged:
        stage("Training tokenizer" if not settings.init.encoder else "Loading the pretrained encoder")
        start = prepare_start(splits, settings, progress, hooks)
        for note in start.notes:
            stage(note)
        fitted = fit_model(splits, start, progress, hooks)
        meta = record_and_save(staged.path, splits, start, fitted, started, int8, stage)
    final_dir, notes = finish(staged, out, make_default)
    return TrainSummary(final_dir, fitted.fits[0], fitted.fits, meta, notes)
