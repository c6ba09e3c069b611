"""`textrnn report`: the model card, data, training curves, scores, calibration and mistakes; or several
models side by side (--compare); pictures as PNG (--png). Imports no torch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from textrnn.cli._util import err, handle_errors, out, terminal_width
from textrnn.errors import ConfigError

MAX_WIDTH = 160


@handle_errors
def report_cmd(
    models: Annotated[Optional[list[Path]], typer.Argument(metavar="MODEL", help="Model folders to compare (with --compare).", show_default=False)] = None,
    model: Annotated[Optional[Path], typer.Option(help="Model folder (default: the last trained model).")] = None,
    compare: Annotated[bool, typer.Option("--compare", help="Show MODELS side by side (all trained models if none given).")] = False,
    png: Annotated[Optional[Path], typer.Option("--png", "--output", "-o", help="Also write the pictures as PNG files into this folder (needs matplotlib: pip install 'textrnn[plots]').")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print everything as JSON instead.")] = False,
) -> None:
    """Show what a trained model is, what it was trained on, how training went, and how it scores.

    \b
    Examples:
      textrnn report --model models/sample
      textrnn report --png pictures/
      textrnn report --compare models/a models/b
    """
    from textrnn import report, store

    width = min(terminal_width(), MAX_WIDTH)
    if png is not None:
        from textrnn.plots import prepare_png_dir

        prepare_png_dir(png)  # fail before printing, not after
    if compare:
        wanted = [*(models or []), *([model] if model is not None else [])]  # --model DIR counts too
        dirs = [store.resolve_model(m) for m in wanted] if wanted else store.list_models()
        if len(dirs) < 2:
            raise ConfigError(f"--compare needs at least two model folders (got {len(dirs)})")
        metas = [{**store.read_metadata(d), "name": d.name} for d in dirs]  # a copied folder keeps its old name
        if as_json:
            out.print_json(json.dumps(report.compare_data(metas)))
        else:
            out.print(report.render_compare(metas, width=width, color=not out.no_color))
        if png is not None:
            from textrnn.plots import save_compare_png

            err.print(f"wrote {save_compare_png(metas, png)}")
        return
    if models:
        if len(models) > 1 or model is not None:
            raise ConfigError("give one model folder (or --model DIR); to compare several, add --compare")
        model = models[0]
    model_dir = store.resolve_model(model)
    meta = store.read_metadata(model_dir)
    size, default = store.folder_bytes(model_dir), store.is_default(model_dir)
    if as_json:
        out.print_json(json.dumps({"path": str(model_dir), "default": default, "size_bytes": size, **meta}))
    else:
        out.print(report.render_report(meta, width=width, color=not out.no_color, size_bytes=size,
                                       default=default))
    if png is not None:
        from textrnn.plots import save_report_pngs

        for path in save_report_pngs(meta, png):
            err.print(f"wrote {path}")
