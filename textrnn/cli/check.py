"""`textrnn check DATA`: find what is wrong with labelled data (shape, duplicates, leakage, likely
mislabelled rows) before it costs accuracy. Its options are declared once, as the fields of
CheckRequest and CheckOptions (textrnn.checks.request)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from textrnn import interrupts
from textrnn.checks.request import CheckOptions, CheckRequest
from textrnn.cli.core import err, handle_errors, out, terminal_width
from textrnn.cli.options import DataArgument, JsonOption, settings_of, with_settings
from textrnn.config import InitConfig, ModelConfig, TrainConfig


class DeepProgress:
    """`--deep`: the bar shows fold k of K (and the epoch); stages are remembered for Ctrl-C's line."""

    def __init__(self, progress: Any, task: Any, folds: int) -> None:
        self.progress, self.task, self.folds, self.fold = progress, task, folds, None

    def on_stage(self, name: str) -> None:
        interrupts.note_stage(name)
        if name.startswith("Fold "):
            self.fold = name.split(":")[0]
            done = int(self.fold.split()[1]) - 1
            self.progress.update(self.task, description=self.fold, total=self.folds, completed=done)
        else:
            self.fold = None
            self.progress.update(self.task, description=name.split(":")[0])

    def on_epoch_start(self, epoch: int, epochs: int, batches: int) -> None:
        if self.fold:
            self.progress.update(self.task, description=f"{self.fold}, epoch {epoch}")

    def on_batch_end(self, loss: float) -> None: ...

    def on_epoch_end(self, stats: Any, is_best: bool) -> None: ...

    def on_fit_end(self, result: Any) -> None:
        if self.fold:
            self.progress.update(self.task, completed=int(self.fold.split()[1]))


def _networks() -> Any:
    from textrnn.training.oof import deep_probabilities  # [torch]: only with --deep

    return deep_probabilities


@handle_errors
@with_settings((CheckRequest, ("val", "test")), (CheckOptions, ("text_column", "label_column", "label_sep",
               "multi_label", "max_length", "folds", "near", "skip_labels", "deep")), CheckRequest, CheckOptions, "as_json",
               (ModelConfig, ("cell", "embedding_dim", "hidden_size")), (TrainConfig, ("epochs", "batch_size")),
               (InitConfig, ("pretrain",)))
def check_cmd(
    data: DataArgument,
    as_json: JsonOption = False,
    **settings: Any,
) -> None:
    """Check labelled DATA for problems: shape, duplicates, leakage, label issues.

    Reads the files as `train` does. Label issues are rows whose label a model that never saw them
    (k-fold TF-IDF + logistic regression; with --deep, its mean with the K networks of cross-fitted
    training) disagrees with, by confident learning (Northcutt et al. 2021), ranked by how sure, with the
    label it suggests.
    The files are never modified. --deep trains K networks as `train --folds K` does (and the language
    model train pretrains on 1,000-50,000 texts): it costs about a training; Ctrl-C stops it, writing nothing.

    \b
    Examples:
      textrnn check data.csv
      textrnn check train.csv --val dev.csv --test test.csv
      textrnn check data.csv --json > problems.json
      textrnn check data.csv --out checked/ --write-clean   # checked/problems.csv, checked/clean.csv
      textrnn check data.csv --deep --out checked/          # labels judged by cross-fitted networks
      textrnn train checked/clean.csv
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from textrnn.checks.run import run_check
    from textrnn.config import Settings
    from textrnn.views.check import render_check

    options = CheckOptions(**settings_of(CheckOptions, settings))
    options = replace(options, deep=options.deep and not options.skip_labels, settings=Settings.from_options(settings))
    request = CheckRequest(data=data, options=options, **settings_of(CheckRequest, settings))
    request.check()
    with interrupts.watched(), Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                        TimeElapsedColumn(), console=err, transient=True,
                                        disable=not err.is_terminal) as progress:
        task = progress.add_task("Reading", total=None)

        def on_stage(name: str) -> None:
            interrupts.note_stage(name)
            total = options.folds if name == "Label issues" and not options.deep else None
            progress.update(task, description=name, total=total, completed=0)

        networks = None
        if options.deep:
            from textrnn.training.oof import deep_probabilities  # [torch]: only with --deep

            networks = deep_probabilities
        findings, written = run_check(request, on_stage, lambda: progress.advance(task),
                                      DeepProgress(progress, task, options.folds), networks)
    if as_json:
        out.print_json(json.dumps(findings.to_dict()))
    else:
        for part in render_check(findings, min(terminal_width(), 100), options.examples):
            out.print(part)
    for path in written:
        note = " (train with --label-sep '|')" if path.name == "clean.csv" and findings.multi_label else ""
        count = f"{len(findings.clean_rows):,} of {len(findings.train):,} rows" if path.name == "clean.csv" else \
            f"{len(findings.problems):,} problems"
        err.print(f"wrote {path}: {count}{note}", soft_wrap=True, highlight=False)
