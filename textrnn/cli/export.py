"""`textrnn export`: rewrite a model's ONNX file from its weights, or add an int8 model (--int8). Its
options are declared once, as the fields of ExportRequest (textrnn.export.request)."""

from __future__ import annotations

from typing import Any

from textrnn.cli.core import err, handle_errors, out
from textrnn.cli.options import with_settings
from textrnn.export.request import ExportRequest


@handle_errors
@with_settings(ExportRequest)
def export_cmd(**settings: Any) -> None:
    """Export a trained model again: model.onnx from the PyTorch weights, or with --int8 an int8 model.

    Without --int8, model.onnx is rewritten from the PyTorch weights (model.safetensors with what it
    reads from model.onnx; needs torch; parity-checked) and any int8 model is removed. With --int8, model.onnx is quantized (no torch needed); predict then
    uses the int8 model unless told --precision fp32.

    \b
    Examples:
      textrnn export --int8
      textrnn export --model models/sst2 --int8 --max-drop 0.3
    """
    from textrnn.export.quantize import export_model

    done = export_model(ExportRequest(**settings), notice=lambda line: err.print(f"[dim]{line}[/]"))
    if done.int8 is None:
        out.print(f"Wrote {done.path} (parity with PyTorch {done.parity:.1e})", soft_wrap=True)
    elif done.int8.kept:
        out.print(f"Wrote {done.path}: {done.int8.reason}", soft_wrap=True)
    else:
        out.print(f"[yellow]No int8 model:[/] {done.int8.reason}", soft_wrap=True)
