"""`textrnn tune DATA --budget 10m`: search the recipe within a time budget; save the best trial's model."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from textrnn import interrupts
from textrnn.cli.core import err, handle_errors, out
from textrnn.cli.options import DataArgument, ForceOption, Int8Option, OutOption, TestOption, ValOption, with_settings


@handle_errors
@with_settings
def tune_cmd(
    ctx: typer.Context,
    data: DataArgument,
    budget: Annotated[str, typer.Option(metavar="TIME", help="Wall-clock time for the whole search and the saving: 10m, 90s, 1h.", rich_help_panel="Search")] = "10m",
    trials: Annotated[Optional[int], typer.Option(metavar="N", min=1, help="Stop after this many trials (default: when the budget is spent).", rich_help_panel="Search")] = None,
    val: ValOption = None,
    test: TestOption = None,
    out_dir: OutOption = None,
    force: ForceOption = False,
    int8: Int8Option = False,
    **settings: Any,
) -> None:
    """Search for the best recipe within a time budget (Optuna TPE with pruning); keep the best model.

    The first trial is the default recipe; then learning rate, sizes, cell, pooling, dropouts, batch
    size, weight decay and language-model pretraining on the training texts are searched. Any train
    option you give is fixed. The best trial's model is saved as is (no retraining), with every
    trial recorded: `textrnn report` shows them. Needs optuna: pip install 'textrnn[tune]'.

    \b
    Examples:
      textrnn tune train.csv --val dev.csv --test test.csv --budget 10m
      textrnn tune train.csv --budget 30m --cell gru --seed 1
    """
    from textrnn.config import Settings
    from textrnn.training.tune import tune_model
    from textrnn.views.progress import TrainProgress, notes, saved_lines
    from textrnn.views.tune import trial_line

    fixed = tuple(name for name in settings if _given(ctx, name))
    progress = TrainProgress(err)
    with interrupts.watched():
        try:
            summary = tune_model(data, budget=budget, val_path=val, test_path=test, out=out_dir, force=force,
                                 settings=Settings.from_options(settings), fixed=fixed, trials=trials, int8=int8,
                                 progress=progress,
                                 on_trial=lambda t, best: err.print(trial_line(t, best), soft_wrap=True))
        finally:
            progress.stop()
    tuning = summary.metadata.tuning
    if tuning is not None and tuning.stopped == "interrupted":
        err.print(f"[yellow]interrupted: kept the best of {len(tuning.trials)} trials (trial {tuning.best_trial + 1})[/]")
    for line in notes(summary):
        err.print(line, soft_wrap=True)
    for line in saved_lines(summary):
        out.print(line, soft_wrap=True)


def _given(ctx: typer.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")
