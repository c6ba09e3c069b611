"""`textrnn report`: the model, data, training history with curves, and final metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from textrnn.cli._util import handle_errors, out, terminal_width


@handle_errors
def report_cmd(
    model: Annotated[Optional[Path], typer.Option(help="Model folder (default: the last trained model).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the model's metadata as JSON.")] = False,
) -> None:
    """Show what a trained model is, what it was trained on, how training went, and how it scores.

    Example:  textrnn report --model models/sample
    """
    from textrnn import store
    from textrnn.report import render_report

    model_dir = store.resolve_model(model)
    meta = store.read_metadata(model_dir)
    if as_json:
        out.print_json(json.dumps(meta))
        return
    out.print(render_report(meta, width=min(terminal_width(), 120), color=not out.no_color))
