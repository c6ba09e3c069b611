"""Training stage: the data of a run. `read_splits` reads the training, validation and test files,
holds out validation rows or (`--folds`) assigns every training text a fold, and defines the task
(textrnn.tasks) from the training labels; `Splits` carries them and each split's targets."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from textrnn.config import Settings, parse_folds
from textrnn.data import Dataset, check_trainable, file_sha256, stratified_split
from textrnn.data.stream import read_any
from textrnn.errors import ConfigError
from textrnn.folder.records import DataInfo
from textrnn.tasks import Task, task_for


@dataclass(frozen=True)
class Splits:
    """The data of a run, with the task it defines and each split's targets."""

    task: Task
    train: Dataset
    val: Dataset
    test: Dataset | None
    info: dict[str, DataInfo]
    notes: list[str] = field(default_factory=list)
    folds: np.ndarray | None = None  # cross-fitting: the fold each training text validates in

    @property
    def cross_fitted(self) -> bool:
        return self.folds is not None

    def targets(self, split: str) -> np.ndarray:
        return self.task.targets(getattr(self, split))


def read_splits(train_path: Path, val_path: Path | None, test_path: Path | None, settings: Settings,
                cross_fit: bool = True) -> Splits:
    """Read the files; with no validation file, hold out validation rows or (`--folds`) assign every
    training text a fold to validate in. `cross_fit` False: folds are not used (tune, torchrun)."""
    from textrnn.data.folds import choose_folds, fold_of_each_text

    cfg = settings.data
    cols = {"text_column": cfg.text_column, "label_column": cfg.label_column, "label_sep": cfg.label_sep,
            "multi_label": cfg.multi_label}
    train = read_any(train_path, **cols)  # streamed into compact storage (data/stream.py)
    check_trainable(train)
    notes = []
    k, note = choose_folds(cfg.folds, train, val_path is not None)
    if not cross_fit and k > 1:
        if parse_folds(cfg.folds) is not None:
            raise ConfigError("--folds needs one process that trains every fold: not with tune or torchrun (--folds 1)")
        k, note = 1, "one validation split, not cross-fitting (--folds auto): tune and torchrun do not cross-fit"
    notes += [note] if note else []
    folds = fold_of_each_text(train, k, settings.train.seed) if k > 1 else None
    if val_path is not None:
        val = read_any(val_path, **cols)
    elif folds is not None:
        val = train  # every training text validates once, out of fold
    else:
        train, val = stratified_split(train, cfg.val_split, settings.train.seed)
    test = read_any(test_path, **cols) if test_path is not None else None
    val_source = ("file" if val_path else f"cross-validated ({k} folds of train)" if folds is not None
                  else f"split of train ({cfg.val_split:g})")
    info = {"train": describe_data(train, train_path, "file"), "val": describe_data(val, val_path, val_source)}
    if test is not None:
        info["test"] = describe_data(test, test_path, "file")
    task = task_for(train, None if settings.train.metric == "auto" else settings.train.metric.value,
                    settings.train.class_weight == "balanced")
    splits = Splits(task, train, val, test, info, notes, folds)
    for split in ("val", "test"):  # unknown labels are an error now (single-label), not after training
        if getattr(splits, split) is not None:
            splits.targets(split)
            if hasattr(task, "unknown"):
                labels, count = task.unknown(getattr(splits, split))
                if count:
                    splits.notes.append(f"{split}: {count:,} occurrences of {len(labels):,} labels not in the training "
                                        "data are left out of its targets (the model cannot predict them)")
    return splits


def describe_data(data: Dataset, path: Path | None, source: str) -> DataInfo:
    cardinality = round(data.cardinality, 4) if data.multi_label else None
    if path is None:
        return DataInfo(len(data), data.label_counts(), source, cardinality=cardinality)
    return DataInfo(len(data), data.label_counts(), source, str(Path(path).resolve()), file_sha256(path),
                    cardinality)
