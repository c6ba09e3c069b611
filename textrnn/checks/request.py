"""Checks stage: what `textrnn check` is asked (CheckRequest: the files and where to write) and how to
check (CheckOptions), each option declared once, as a field (textrnn.options.setting) that the typer
command builds its options from. A light import (textrnn.checks loads the checks when first used);
textrnn.checks.run's `run_check` does a CheckRequest."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textrnn.errors import ConfigError
from textrnn.options import LABEL_COLUMN_HELP, TEXT_COLUMN_HELP, setting

FOLDS = 5  # of the out-of-fold model that judges labels


@dataclass(frozen=True)
class CheckOptions:
    """How the files are read (as `train` reads them) and checked."""

    text_column: str | None = setting(None, TEXT_COLUMN_HELP, metavar="NAME")
    label_column: str | None = setting(None, LABEL_COLUMN_HELP, metavar="NAME")
    label_sep: str | None = setting(None, "Several labels per text in a CSV/TSV label field, separated by SEP.",
                                    metavar="SEP")
    multi_label: bool = setting(False, "Read the data as multi-label.", switch=True)
    max_length: int = setting(256, "Count texts longer than N tokens (train's --max-length).", metavar="N", min=1)
    val_split: float = 0.1
    folds: int = setting(FOLDS, "Folds of the out-of-fold model that judges labels.", metavar="K", min=2)
    # Jaccard similarity of word 3-shingles from which two texts are near duplicates
    near: float = setting(0.8, "Similarity (Jaccard of word 3-grams) from which texts are near duplicates.",
                          metavar="X")
    skip_labels: bool = setting(False, "Skip the label-issue check (the k-fold model).", flag="no_label_check",
                                switch=True)
    deep: bool = setting(False, "Judge labels by cross-fitted networks (those of `train --folds K`, with the Model, "
                                "Training and Pretrained options here) instead of the linear model: better flags, at "
                                "about the CPU time of a `train --folds K` (minutes, not seconds).", switch=True)
    # label issues at or above this score are left out of clean.csv (None: 0, every flag; with deep,
    # textrnn.checks.labels.DEEP_CLEAN_THRESHOLD; none on multi-label data: textrnn.checks.run.clean_threshold)
    clean_threshold: float | None = setting(None, "Leave label issues out of clean.csv from this score (0-1: how "
                                                  "sure; default: 0, every flag; with --deep 0.3; multi-label "
                                                  "data: none unless given).", metavar="X")
    examples: int = setting(5, "Rows shown per section.", metavar="N", min=0)
    seed: int = setting(0, "Seed of the folds.")
    settings: Any = None  # --deep: train's Settings for the networks (None: train's defaults)


@dataclass(frozen=True)
class CheckRequest:
    """Which files to check, how (`options`), and where to write problems.csv (and clean.csv)."""

    data: Path  # the DATA argument
    val: Path | None = setting(None, "Validation file: checked for leakage and labels the training data lacks.",
                               metavar="FILE")
    test: Path | None = setting(None, "Test file: checked the same way.", metavar="FILE")
    out: Path | None = setting(None, "Write DIR/problems.csv (every problem, a row each).", metavar="DIR")
    write_clean: bool = setting(False, "Also write DIR/clean.csv: the training data without repeats, conflicts and "
                                       "flagged label issues.", switch=True)
    options: CheckOptions = field(default_factory=CheckOptions)

    def check(self) -> None:
        if self.write_clean and self.out is None:
            raise ConfigError("--write-clean needs --out DIR (clean.csv is written there)")
