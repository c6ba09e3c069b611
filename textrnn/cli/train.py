"""`textrnn train DATA`: tokenize, train, keep the best epoch, export ONNX, evaluate, save."""

from __future__ import annotations

from typing import Any

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
    **settings: Any,
) -> None:
    """Train a classifier on DATA, export it to ONNX and make it the default model.

    \b
    Examples:
      textrnn train data/sample.csv
      textrnn train train.csv --val dev.csv --test test.csv --int8
      textrnn train train.csv --cell gru --layers 2 --hidden-size 256 --pooling maxmean
    """
    from textrnn.config import Settings
    from textrnn.training.job import train_model
    from textrnn.views.progress import TrainProgress, notes, saved_lines

    progress = TrainProgress(err)
    try:
        summary = train_model(data, val_path=val, test_path=test, out=out_dir, force=force, int8=int8,
                              settings=Settings.from_options(settings), progress=progress)
    finally:
        progress.stop()
    for line in notes(summary):
        err.print(line, soft_wrap=True)
    for line in saved_lines(summary):
        out.print(line, soft_wrap=True)
