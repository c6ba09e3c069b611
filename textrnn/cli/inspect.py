"""`textrnn inspect TEXT`: token by token, the hidden state and the prediction so far. Its options are
declared once, as the fields of InspectRequest (textrnn.evaluation.request).

Imports torch, inside the command only: the hidden states come from the PyTorch weights, since the
served ONNX graph outputs logits only (see textrnn/evaluation/inspection.py for why).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from textrnn.cli.core import err, handle_errors, out, terminal_width
from textrnn.cli.options import JsonOption, PngOption, with_settings
from textrnn.evaluation.request import InspectRequest


@handle_errors
@with_settings(InspectRequest, "png", "as_json")
def inspect_cmd(
    text: Annotated[str, typer.Argument(metavar="TEXT", help="The text to read token by token.", show_default=False)],
    png: PngOption = None,
    as_json: JsonOption = False,
    **settings: Any,
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

    request = InspectRequest(text=text, **settings)
    if png is not None:
        from textrnn.views.pictures import prepare_png_dir

        prepare_png_dir(png)  # fail before printing, not after
    insp = inspect_text(ModelFolder.open(request.model), request.text)
    if as_json:
        out.print_json(json.dumps(insp.to_dict(), ensure_ascii=False))
    else:
        out.print(render_inspection(insp, width=min(terminal_width(), 160), max_units=request.units))
    if png is not None:
        err.print(f"wrote {save_inspection_png(insp, png)}")
