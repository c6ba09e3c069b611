"""`textrnn train DATA`: tokenize, train, keep the best epoch, export ONNX, evaluate, save."""

from __future__ import annotations

import sys
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape

from textrnn import interrupts
from textrnn.cli.core import err, handle_errors, out
from textrnn.cli.options import DataArgument, ForceOption, Int8Option, OutOption, TestOption, ValOption, with_settings


@handle_errors
@with_settings
def train_cmd(
    data: DataArgument,
    val: ValOption = None,
    test: TestOption = None,
    out_dir: OutOption = None,
    force: ForceOption = False,
    int8: Int8Option = False,
    nproc: Annotated[Optional[int], typer.Option(metavar="N", min=1, help="Train with N processes on this machine (torchrun --standalone): one model (DistributedDataParallel, same global batch) or one --members member each. Across machines: torchrun ... -m textrnn train.", rich_help_panel="Training")] = None,
    **settings: Any,
) -> None:
    """Train a classifier on DATA, export it to ONNX and make it the default model.

    \b
    Examples:
      textrnn train data/sample.csv
      textrnn train train.csv --val dev.csv --test test.csv --int8
      textrnn train train.csv --cell gru --layers 2 --hidden-size 256 --pooling maxmean
      torchrun --nproc-per-node 4 -m textrnn train train.csv --device cuda
    """
    from textrnn.config import Settings
    from textrnn.training.distributed import distributed_run, is_launched, launch
    from textrnn.training.job import train_model
    from textrnn.views.progress import TrainProgress, notes, saved_lines

    options = Settings.from_options(settings)
    if nproc is not None and nproc > 1 and not is_launched():
        raise typer.Exit(launch(nproc, _without_nproc(sys.argv[1:])))
    if not is_launched():  # one warning line per data problem (textrnn check finds more)
        _warn_about_data(data, val, test, options)
    with interrupts.watched(), distributed_run(options) as hooks:  # one process, or this one's part of a torchrun job
        progress = TrainProgress(err) if hooks.is_writer else None
        try:
            summary = train_model(data, val_path=val, test_path=test, out=out_dir, force=force, int8=int8,
                                  settings=options, progress=progress, hooks=hooks)
        finally:
            if progress is not None:
                progress.stop()
    if summary is None:  # another process of a torchrun job saves the model
        if interrupts.state.agreed:  # all stopped together, and process 0 keeps the best epoch (it exits 130):
            interrupts.ending()  # exit 130 here would make torchrun's agent stop process 0 mid-save
            raise typer.Exit(0)
        return
    for line in notes(summary):
        err.print(line, soft_wrap=True)
    for line in saved_lines(summary):
        out.print(line, soft_wrap=True)


def _warn_about_data(data: Any, val: Any, test: Any, options: Any) -> None:
    from textrnn.checks import quick_warnings

    cfg = options.data
    for line in quick_warnings(data, val, test, cfg.text_column, cfg.label_column, cfg.label_sep, cfg.multi_label):
        err.print(f"[yellow]warning:[/] {escape(line)}", soft_wrap=True, highlight=False)


def _without_nproc(argv: list[str]) -> list[str]:
    """The command line without --nproc N (what each torchrun process runs)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out
