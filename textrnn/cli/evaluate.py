"""`textrnn evaluate DATA`: the task's scores of a model on a labelled file, with the ONNX model. Its
options are declared once, as the fields of EvaluateRequest (textrnn.inference.request)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from textrnn.cli.core import handle_errors, out, terminal_width
from textrnn.cli.options import JsonOption, settings_of, with_settings
from textrnn.inference.request import EvaluateRequest


@handle_errors
@with_settings((EvaluateRequest, ("model", "text_column", "label_column", "label_sep", "multi_label")), "as_json",
               EvaluateRequest)
def evaluate_cmd(
    data: Annotated[Path, typer.Argument(metavar="DATA", help="Labelled .csv, .tsv or .jsonl file.")],
    as_json: JsonOption = False,
    **settings: Any,
) -> None:
    """Score a model on a labelled file: accuracy, F1, per class, confusion.

    \b
    Examples:
      textrnn evaluate data/test.csv
      textrnn evaluate test.csv --model models/sst2 --json
    """
    import json

    from textrnn.inference.predict import evaluate_file
    from textrnn.views.metrics import render_metrics

    predictor, metrics = evaluate_file(EvaluateRequest(data=data, **settings_of(EvaluateRequest, settings)))
    if as_json:
        out.print_json(json.dumps(metrics.to_dict()))
    else:
        out.print(render_metrics(predictor.task.views, metrics, str(data), width=terminal_width()))
