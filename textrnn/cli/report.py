"""`textrnn report`: the model card, data, training curves, scores, calibration and mistakes; or several
models side by side (--compare); pictures as PNG (--png). Imports no torch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from textrnn.cli.core import err, handle_errors, out, terminal_width
from textrnn.cli.options import JsonOption, ModelOption, PngOption
from textrnn.errors import ConfigError

MAX_WIDTH = 160


@handle_errors
def report_cmd(
    models: Annotated[Optional[list[Path]], typer.Argument(metavar="MODEL", help="Model folders to compare (with --compare).", show_default=False)] = None,
    model: ModelOption = None,
    compare: Annotated[bool, typer.Option("--compare", help="Show MODELS side by side (all trained models if none given).")] = False,
    png: PngOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show what a trained model is, what it was trained on, how training went, and how it scores.

    \b
    Examples:
      textrnn report
      textrnn report --model models/sample --png pictures/
      textrnn report --compare models/a models/b
    """
    import json

    from textrnn.folder import ModelFolder, store

    width = min(terminal_width(), MAX_WIDTH)
    if png is not None:
        from textrnn.views.pictures import prepare_png_dir

        prepare_png_dir(png)  # fail before printing, not after
    if compare:
        from textrnn.views.compare import compare_data, render_compare, save_compare_png

        wanted = [*(models or []), *([model] if model is not None else [])]  # --model DIR counts too
        folders = [ModelFolder.open(m) for m in (wanted or store.list_models())]
        if len(folders) < 2:
            raise ConfigError(f"--compare needs at least two model folders (got {len(folders)})")
        if as_json:
            out.print_json(json.dumps(compare_data(folders)))
        else:
            out.print(render_compare(folders, width=width, color=not out.no_color))
        if png is not None:
            err.print(f"wrote {save_compare_png(folders, png)}")
        return
    if models:
        if len(models) > 1 or model is not None:
            raise ConfigError("give one model folder (or --model DIR); to compare several, add --compare")
        model = models[0]
    from textrnn.views.report import render_report, report_data, save_report_pngs

    folder = ModelFolder.open(model)
    if as_json:
        out.print_json(json.dumps(report_data(folder)))
    else:
        out.print(render_report(folder, width=width, color=not out.no_color))
    if png is not None:
        for path in save_report_pngs(folder, png):
            err.print(f"wrote {path}")
