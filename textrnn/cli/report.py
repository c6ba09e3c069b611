"""`textrnn report`: the model card, data, training curves, scores, calibration and mistakes; or several
models side by side (--compare); pictures as PNG (--png). Imports no torch. Its options are declared
once, as the fields of ReportRequest (textrnn.views.request)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from textrnn.cli.core import err, handle_errors, out, terminal_width
from textrnn.cli.options import JsonOption, PngOption, with_settings
from textrnn.views.request import ReportRequest

MAX_WIDTH = 160


@handle_errors
@with_settings(ReportRequest, "png", "as_json")
def report_cmd(
    models: Annotated[Optional[list[Path]], typer.Argument(metavar="MODEL", help="Model folders to compare (with --compare).", show_default=False)] = None,
    png: PngOption = None,
    as_json: JsonOption = False,
    **settings: Any,
) -> None:
    """Show what a trained model is, what it was trained on, how training went, and how it scores.

    \b
    Examples:
      textrnn report
      textrnn report --model models/sample --png pictures/
      textrnn report --compare models/a models/b
    """
    import json

    from textrnn.views.request import report_folders

    request = ReportRequest(models=tuple(models or ()), **settings)
    width = min(terminal_width(), MAX_WIDTH)
    if png is not None:
        from textrnn.views.pictures import prepare_png_dir

        prepare_png_dir(png)  # fail before printing, not after
    folders = report_folders(request)
    if request.compare:
        from textrnn.views.compare import compare_data, render_compare, save_compare_png

        if as_json:
            out.print_json(json.dumps(compare_data(folders)))
        else:
            out.print(render_compare(folders, width=width, color=not out.no_color))
        if png is not None:
            err.print(f"wrote {save_compare_png(folders, png)}")
        return
    from textrnn.views.report import render_report, report_data, save_report_pngs

    folder, = folders
    if as_json:
        out.print_json(json.dumps(report_data(folder)))
    else:
        out.print(render_report(folder, width=width, color=not out.no_color))
    if png is not None:
        for path in save_report_pngs(folder, png):
            err.print(f"wrote {path}")
