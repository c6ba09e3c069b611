"""`textrnn check DATA`: find what is wrong with labelled data (shape, duplicates, leakage, likely
mislabelled rows) before it costs accuracy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from textrnn import interrupts
from textrnn.cli.core import err, handle_errors, out, terminal_width
from textrnn.cli.options import DataArgument, JsonOption, LabelColumnOption, TextColumnOption, with_settings
from textrnn.config import InitConfig, ModelConfig, TrainConfig

_VAL = Annotated[Optional[Path], typer.Option(metavar="FILE", help="Validation file: checked for leakage and "
                                                                   "labels the training data lacks.")]
_TEST = Annotated[Optional[Path], typer.Option(metavar="FILE", help="Test file: checked the same way.")]


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
@with_settings("deep", (ModelConfig, ("cell", "embedding_dim", "hidden_size")), (TrainConfig, ("epochs", "batch_size")),
               (InitConfig, ("pretrain",)))
def check_cmd(
    data: DataArgument,
    val: _VAL = None,
    test: _TEST = None,
    text_column: TextColumnOption = None,
    label_column: LabelColumnOption = None,
    label_sep: Annotated[Optional[str], typer.Option(metavar="SEP", help="Several labels per text in a CSV/TSV "
                                                                         "label field, separated by SEP.")] = None,
    multi_label: Annotated[bool, typer.Option("--multi-label", help="Read the data as multi-label.")] = False,
    max_length: Annotated[int, typer.Option(metavar="N", min=1, help="Count texts longer than N tokens (train's "
                                                                     "--max-length).")] = 256,
    folds: Annotated[int, typer.Option(metavar="K", min=2, help="Folds of the out-of-fold model that judges "
                                                                "labels.")] = 5,
    near: Annotated[float, typer.Option(metavar="X", help="Similarity (Jaccard of word 3-grams) from which "
                                                          "texts are near duplicates.")] = 0.8,
    no_labels: Annotated[bool, typer.Option("--no-label-check", help="Skip the label-issue check (the k-fold "
                                                                     "model).")] = False,
    deep: Annotated[bool, typer.Option("--deep", help="Judge labels by cross-fitted networks (those of `train "
                                       "--folds K`, with the Model, Training and Pretrained options here) instead of the linear "
                                       "model: better flags, at about the CPU time of a `train --folds K` "
                                       "(minutes, not seconds).")] = False,
    out_dir: Annotated[Optional[Path], typer.Option("--out", metavar="DIR", help="Write DIR/problems.csv (every "
                                                    "problem, a row each).")] = None,
    write_clean: Annotated[bool, typer.Option("--write-clean", help="Also write DIR/clean.csv: the training "
                                              "data without repeats, conflicts and flagged label issues.")] = False,
    clean_threshold: Annotated[Optional[float], typer.Option(metavar="X", help="Leave label issues out of "
                                                             "clean.csv from this score (0-1: how sure; default: 0, "
                                                             "every flag; with --deep 0.3).")] = None,
    examples: Annotated[int, typer.Option(metavar="N", min=0, help="Rows shown per section.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the folds.")] = 0,
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

    from textrnn.checks import CheckOptions, check_files, write_outputs
    from textrnn.config import Settings
    from textrnn.errors import ConfigError
    from textrnn.views.check import render_check

    if write_clean and out_dir is None:
        raise ConfigError("--write-clean needs --out DIR (clean.csv is written there)")
    options = CheckOptions(text_column, label_column, label_sep, multi_label, max_length, folds=folds, near=near,
                           clean_threshold=clean_threshold, examples=examples, seed=seed, labels=not no_labels,
                           deep=deep and not no_labels, settings=Settings.from_options(settings))
    with interrupts.watched(), Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                        TimeElapsedColumn(), console=err, transient=True,
                                        disable=not err.is_terminal) as progress:
        task = progress.add_task("Reading", total=None)

        def on_stage(name: str) -> None:
            interrupts.note_stage(name)
            total = folds if name == "Label issues" and not options.deep else None
            progress.update(task, description=name, total=total, completed=0)

        findings = check_files(data, val, test, options, on_stage, lambda: progress.advance(task),
                               DeepProgress(progress, task, folds), _networks() if options.deep else None)
    written = write_outputs(findings, out_dir, write_clean) if out_dir is not None else []
    if as_json:
        out.print_json(json.dumps(findings.to_dict()))
    else:
        for part in render_check(findings, min(terminal_width(), 100), examples):
            out.print(part)
    for path in written:
        note = " (train with --label-sep '|')" if path.name == "clean.csv" and findings.multi_label else ""
        count = f"{len(findings.clean_rows):,} of {len(findings.train):,} rows" if path.name == "clean.csv" else \
            f"{len(findings.problems):,} problems"
        err.print(f"wrote {path}: {count}{note}", soft_wrap=True, highlight=False)
