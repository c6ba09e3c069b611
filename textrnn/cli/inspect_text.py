"""`textrnn inspect TEXT`: token by token, the hidden state and the prediction so far.

Imports torch, inside the command only: the hidden states come from the PyTorch weights, since the
served ONNX graph outputs logits only (see textrnn/inspection.py for why).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from textrnn.cli._util import err, handle_errors, out, terminal_width


@handle_errors
def inspect_cmd(
    text: Annotated[str, typer.Argument(metavar="TEXT", help="The text to read token by token.", show_default=False)],
    model: Annotated[Optional[Path], typer.Option(help="Model folder (default: the last trained model).")] = None,
    units: Annotated[Optional[int], typer.Option(help="Hidden units to show in the terminal (default: as many as fit).", min=1)] = None,
    png: Annotated[Optional[Path], typer.Option("--png", "--output", "-o", help="Also write inspect.png (all units) into this folder (needs matplotlib).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print tokens, probabilities and states as JSON.")] = False,
) -> None:
    """Show where the model changes its mind: per token, the prediction so far and the hidden state.

    \b
    Examples:
      textrnn inspect "the plot was thin but the acting was wonderful"
    """
    from textrnn.inspection import inspect_text
    from textrnn.report import render_inspection

    if png is not None:
        from textrnn.plots import prepare_png_dir

        prepare_png_dir(png)  # fail before printing, not after
    insp = inspect_text(model, text)
    if as_json:
        out.print_json(json.dumps(insp.to_dict(), ensure_ascii=False))
    else:
        out.print(render_inspection(insp, width=min(terminal_width(), 160), max_units=units))
    if png is not None:
        from textrnn.plots import save_inspection_png

        err.print(f"wrote {save_inspection_png(insp, png)}")
