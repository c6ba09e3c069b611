"""`textrnn inspect TEXT`: token by token, the hidden state and the prediction so far.

Imports torch, inside the command only: the hidden states come from the PyTorch weights, since the
served ONNX graph outputs logits only (see textrnn/evaluation/inspection.py for why).
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from textrnn.cli.core import err, handle_errors, out, terminal_width
from textrnn.cli.options import JsonOption, ModelOption, PngOption


@handle_errors
def inspect_cmd(
    text: Annotated[str, typer.Argument(metavar="TEXT", help="The text to read token by token.", show_default=False)],
    model: ModelOption = None,
    units: Annotated[Optional[int], typer.Option(metavar="N", help="Hidden units to show in the terminal (default: as many as fit).", min=1)] = None,
    png: PngOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show where the model changes its mind: per token, the prediction so far and the hidden state.

    \b
    Examples:
      textrnn inspect "the plot was thin but the acting was wonderful"
      textrnn inspect "..." --png pictures/ --units 32
    """
    import json

    from textrnn.evaluation.inspection import inspect_text
    from textrnn.folder import ModelFolder
    from textrnn.views.inspect import render_inspection, save_inspection_png

    if png is not None:
        from textrnn.views.pictures import prepare_png_dir

        prepare_png_dir(png)  # fail before printing, not after
    insp = inspect_text(ModelFolder.open(model), text)
    if as_json:
        out.print_json(json.dumps(insp.to_dict(), ensure_ascii=False))
    else:
        out.print(render_inspection(insp, width=min(terminal_width(), 160), max_units=units))
    if png is not None:
        err.print(f"wrote {save_inspection_png(insp, png)}")
