"""Options shared by several commands, each defined once, and every command's settings options, built
from the fields that declare them (textrnn.options.setting: `train`'s in textrnn.config, `predict`'s in
PredictRequest and TableRequest, `serve`'s in ServeSettings, Limits and ServerOptions) so that a setting
is declared in one place."""

from __future__ import annotations

import inspect
import typing
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from textrnn.config import STAGES
from textrnn.options import (
    DEVICE_HELP,
    MODEL_HELP,
    PRECISION_HELP,
    TEXT_COLUMN_HELP,
    THREADS_HELP,
    Device,
    InferPrecision,
)

ModelOption = Annotated[Optional[Path], typer.Option("--model", metavar="DIR", help=MODEL_HELP)]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead (for scripts).")]
DeviceOption = Annotated[Device, typer.Option(help=DEVICE_HELP)]
PrecisionOption = Annotated[InferPrecision, typer.Option(help=PRECISION_HELP)]
ThreadsOption = Annotated[Optional[int], typer.Option(metavar="N", min=1, help=THREADS_HELP)]
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
TextColumnOption = Annotated[Optional[str], typer.Option(metavar="NAME", help=TEXT_COLUMN_HELP)]
LabelColumnOption = Annotated[Optional[str], typer.Option(metavar="NAME", help="Label column (default: found by name).")]


def settings_parameters(*stages: Any, seen: set[str] | None = None) -> list[inspect.Parameter]:
    """One keyword parameter per setting field of `stages` (default: the training run's, DataConfig ...
    InitConfig; a stage may be given as (class, field names) to take those fields, in that order), as
    typer options named after the field (or its `flag`), with its help, metavar, bounds and help section
    (the field's `panel`, else the class's). Fields without help are not options; a name in `seen` (or
    taken by an earlier stage) is not offered twice."""
    params, seen = [], set() if seen is None else seen
    for stage in stages or STAGES:
        stage, only = stage if isinstance(stage, tuple) else (stage, None)
        hints = typing.get_type_hints(stage)
        by_name = {f.name: f for f in fields(stage)}
        for f in [by_name[name] for name in only] if only is not None else by_name.values():
            meta = f.metadata
            if not meta.get("help") or f.name in seen:
                continue
            seen.add(f.name)
            flag = "--" + (meta.get("flag") or f.name).replace("_", "-")
            hint = hints[f.name]
            decls = [f"{flag}/--no-{flag[2:]}" if hint is bool and not meta.get("switch") else flag]
            if meta.get("short"):
                decls.insert(0, meta["short"])
            default = f.default if f.default is not MISSING else None
            show = meta.get("show_default")
            option = typer.Option(*decls, help=meta["help"], metavar=meta.get("metavar"), min=meta.get("min"),
                                  max=meta.get("max"), rich_help_panel=meta.get("panel") or getattr(stage, "panel", None),
                                  show_default=default is not None if show is None else show)
            params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                            annotation=Annotated[hint, option]))
    return params


def with_settings(*stages: Any) -> Any:
    """Give `fn(..., **settings)` the settings options of `stages` (default: all of train's): typer
    reads its signature. Use as @with_settings or @with_settings(PredictRequest, (TableRequest, names)).
    A stage given as a string names one of fn's own options, to list it there in --help."""
    def decorate(fn: Any) -> Any:
        signature = inspect.signature(fn, eval_str=True)
        own = {p.name: p for p in signature.parameters.values() if p.kind != inspect.Parameter.VAR_KEYWORD}
        placed: list[inspect.Parameter] = []
        seen: set[str] = set()
        for stage in chosen or (STAGES,):
            if isinstance(stage, str):
                placed.append(own.pop(stage).replace(kind=inspect.Parameter.KEYWORD_ONLY))
            else:
                placed.extend(settings_parameters(*(stage if stage is STAGES else (stage,)), seen=seen))
        fn.__signature__ = signature.replace(parameters=[*own.values(), *placed])
        return fn

    if len(stages) == 1 and callable(stages[0]) and not isinstance(stages[0], type):
        chosen: tuple = ()
        return decorate(stages[0])
    chosen = stages
    return decorate


def settings_of(cls: type, settings: dict[str, Any]) -> dict[str, Any]:
    """The values in `settings` (what the CLI parsed) that are fields of `cls`: its keyword arguments."""
    return {f.name: settings[f.name] for f in fields(cls) if f.name in settings}
