"""`textrnn evaluate DATA`: the task's scores of a model on a labelled file, with the ONNX model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from textrnn.cli.core import handle_errors, out, terminal_width
from textrnn.cli.options import DeviceOption, JsonOption, LabelColumnOption, ModelOption, TextColumnOption
from textrnn.config import Device


@handle_errors
def evaluate_cmd(
    data: Annotated[Path, typer.Argument(metavar="DATA", help="Labelled .csv, .tsv or .jsonl file.")],
    model: ModelOption = None,
    text_column: TextColumnOption = None,
    label_column: LabelColumnOption = None,
    label_sep: Annotated[Optional[str], typer.Option(metavar="SEP", help="Several labels per text, separated by this (default: as the model was trained).")] = None,
    multi_label: Annotated[bool, typer.Option("--multi-label", help="Read the file as multi-label even if every text has one label.")] = False,
    as_json: JsonOption = False,
    device: DeviceOption = Device.auto,
) -> None:
    """Score a model on a labelled file: accuracy, F1, per class, confusion.

    \b
    Examples:
      textrnn evaluate data/test.csv
      textrnn evaluate test.csv --model models/sst2 --json
    """
    import json

    from textrnn.inference.predictor import load_predictor
    from textrnn.views.metrics import render_metrics

    predictor = load_predictor(model, device.value)
    metrics = predictor.evaluate(predictor.folder.load_dataset(data, text_column, label_column, label_sep, multi_label))
    if as_json:
        out.print_json(json.dumps(metrics.to_dict()))
    else:
        out.print(render_metrics(predictor.task.views, metrics, str(data), width=terminal_width()))
