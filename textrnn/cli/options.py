"""Options shared by several commands, each defined once, and `train`'s settings options, built from
the config fields (textrnn.config) so that a setting is declared in one place."""

from __future__ import annotations

import inspect
import typing
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from textrnn.config import STAGES, Device, InferPrecision

ModelOption = Annotated[Optional[Path], typer.Option(
    "--model", metavar="DIR", help="Model folder (default: the last trained model).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead (for scripts).")]
DeviceOption = Annotated[Device, typer.Option(
    help="ONNX Runtime device: auto uses CUDA only where it really loads; cuda never falls back.")]
PrecisionOption = Annotated[InferPrecision, typer.Option(
    help="auto: the int8 model when the folder has one (CPU), else fp32.")]
ThreadsOption = Annotated[Optional[int], typer.Option(
    metavar="N", min=1, help="CPU threads: that many batches run at once, one thread each (default: physical cores).")]
PngOption = Annotated[Optional[Path], typer.Option(
    "--png", "--output", "-o", metavar="DIR",
    help="Also write the pictures as PNG files into this folder (needs matplotlib: pip install 'textrnn[plots]').")]
DataArgument = Annotated[Path, typer.Argument(
    metavar="DATA", help="Training data: .csv, .tsv, .jsonl or .parquet with text and label columns, or fastText "
                         ".txt lines.")]
ValOption = Annotated[Optional[Path], typer.Option(
    metavar="FILE", help="Validation file; default: a stratified split of DATA.", rich_help_panel="Data")]
TestOption = Annotated[Optional[Path], typer.Option(
    metavar="FILE", help="Test file, scored at the end with the ONNX model.", rich_help_panel="Data")]
OutOption = Annotated[Optional[Path], typer.Option(
    "--out", metavar="DIR", help="Model folder (default: models/<data name>-<time>).", rich_help_panel="Output")]
ForceOption = Annotated[bool, typer.Option(
    "--force", help="Replace the --out folder if it is a model folder (never anything else).",
    rich_help_panel="Output")]
Int8Option = Annotated[bool, typer.Option(
    "--int8", help="Also write an int8 model (LSTM only), kept if the validation score drops <= 0.5 points.",
    rich_help_panel="Output")]
TextColumnOption = Annotated[Optional[str], typer.Option(metavar="NAME", help="Text column (default: found by name).")]
LabelColumnOption = Annotated[Optional[str], typer.Option(metavar="NAME", help="Label column (default: found by name).")]


def settings_parameters(*stages: Any) -> list[inspect.Parameter]:
    """One keyword parameter per config field of `stages` (default: the training run's, DataConfig ...
    InitConfig; a stage may be given as (config class, field names) to take some of its fields), as
    typer options in the stage's help section, named after the field (or its `flag`), with its help."""
    params = []
    for stage in stages or STAGES:
        stage, only = stage if isinstance(stage, tuple) else (stage, None)
        hints = typing.get_type_hints(stage)
        for f in fields(stage):
            if only is not None and f.name not in only:
                continue
            flag = "--" + (f.metadata.get("flag") or f.name).replace("_", "-")
            hint = hints[f.name]
            decl = f"{flag}/--no-{flag[2:]}" if hint is bool else flag
            default = f.default if f.default is not MISSING else None
            option = typer.Option(decl, help=f.metadata.get("help"), metavar=f.metadata.get("metavar"),
                                  rich_help_panel=stage.panel, show_default=default is not None)
            params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                            annotation=Annotated[hint, option]))
    return params


def with_settings(*stages: Any) -> Any:
    """Give `fn(..., **settings)` the settings options of `stages` (default: all of train's): typer
    reads its signature. Use as @with_settings or @with_settings(TokenizerConfig, ...)."""
    def decorate(fn: Any) -> Any:
        signature = inspect.signature(fn, eval_str=True)
        fixed = [p for p in signature.parameters.values() if p.kind != inspect.Parameter.VAR_KEYWORD]
        fn.__signature__ = signature.replace(parameters=[*fixed, *settings_parameters(*chosen)])
        return fn

    if len(stages) == 1 and callable(stages[0]) and not isinstance(stages[0], type):
        chosen: tuple = ()
        return decorate(stages[0])
    chosen = stages
    return decorate
