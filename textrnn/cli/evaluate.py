"""`textrnn evaluate DATA`: accuracy, F1, per-class scores and confusion with the ONNX model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from textrnn.cli._util import handle_errors, out
from textrnn.cli.train import Device


@handle_errors
def evaluate_cmd(
    data: Annotated[Path, typer.Argument(metavar="DATA", help="Labelled .csv, .tsv or .jsonl file.")],
    model: Annotated[Optional[Path], typer.Option(help="Model folder (default: the last trained model).")] = None,
    text_column: Annotated[Optional[str], typer.Option(help="Text column (default: found by name).")] = None,
    label_column: Annotated[Optional[str], typer.Option(help="Label column (default: found by name).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
    device: Annotated[Device, typer.Option(help="ONNX Runtime device.")] = Device.auto,
) -> None:
    """Score a model on a labelled file.

    \b
    Examples:
      textrnn evaluate data/test.csv --model models/sample
    """
    from textrnn.data import load_dataset
    from textrnn.infer import load_predictor
    from textrnn.report import render_metrics

    predictor = load_predictor(model, device.value)
    dataset = load_dataset(data, text_column, label_column)
    metrics = predictor.evaluate(dataset)
    if as_json:
        out.print_json(json.dumps(metrics.to_dict()))
    else:
        out.print(render_metrics(metrics, str(data)))
