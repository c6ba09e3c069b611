"""`textrnn export`: rewrite a model's ONNX file from its weights, or add an int8 model (--int8)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from textrnn.cli.core import err, handle_errors, out
from textrnn.cli.options import ModelOption
from textrnn.errors import ConfigError


@handle_errors
def export_cmd(
    model: ModelOption = None,
    int8: Annotated[bool, typer.Option("--int8", help="Write model.int8.onnx (dynamic int8, LSTM only), kept only if the validation score drops <= --max-drop points.")] = False,
    max_drop: Annotated[Optional[float], typer.Option(metavar="POINTS", help="Largest validation score drop (points) accepted for int8 [default: 0.5].", min=0.0, show_default=False)] = None,
    data: Annotated[Optional[Path], typer.Option(metavar="FILE", help="Labelled file to compare fp32 and int8 on (default: the model's validation set, rebuilt from its metadata).")] = None,
) -> None:
    """Export a trained model again: model.onnx from the PyTorch weights, or with --int8 an int8 model.

    Without --int8, model.onnx is rewritten from the PyTorch weights (model.safetensors with what it
    reads from model.onnx; needs torch; parity-checked) and any int8 model is removed. With --int8, model.onnx is quantized (no torch needed); predict then
    uses the int8 model unless told --precision fp32.

    \b
    Examples:
      textrnn export --int8
      textrnn export --model models/sst2 --int8 --max-drop 0.3
    """
    from textrnn.folder import ModelFolder
    from textrnn.folder.store import INT8_FILE, ONNX_FILE

    if not int8 and (data is not None or max_drop is not None):
        raise ConfigError("--data and --max-drop apply only with --int8")
    folder = ModelFolder.open(model)
    if not int8:
        from textrnn.export.onnx import reexport_model

        parity = reexport_model(folder)
        out.print(f"Wrote {folder.path / ONNX_FILE} (parity with PyTorch {parity:.1e})", soft_wrap=True)
        return
    from textrnn.export.quantize import MAX_DROP, quantize_model

    err.print("[dim]Quantizing and comparing scores...[/]")
    result = quantize_model(folder, folder.load_dataset(data) if data is not None else None,
                            MAX_DROP if max_drop is None else max_drop)
    if result.kept:
        out.print(f"Wrote {folder.path / INT8_FILE}: {result.reason}", soft_wrap=True)
    else:
        out.print(f"[yellow]No int8 model:[/] {result.reason}", soft_wrap=True)
