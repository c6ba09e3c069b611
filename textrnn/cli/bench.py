"""`textrnn bench`: latency and throughput of a model on your data, PyTorch eager vs ONNX fp32 vs int8.
Its options are declared once, as the fields of BenchRequest (textrnn.export.request)."""

from __future__ import annotations

from typing import Any

from textrnn.cli.core import err, handle_errors, out
from textrnn.cli.options import with_settings
from textrnn.export.request import BenchRequest


@handle_errors
@with_settings(BenchRequest)
def bench_cmd(**settings: Any) -> None:
    """Measure latency (batch 1, p50/p95) and throughput (batch 64, 256) on your data.

    Compares PyTorch eager (same weights), ONNX fp32 and ONNX int8 (when the model has one).

    \b
    Examples:
      textrnn bench --data texts.txt --limit 20000
    """
    from textrnn.export.bench import bench_model
    from textrnn.views.bench import render_bench_screen

    result = bench_model(BenchRequest(**settings), on_engine=lambda e: err.print(f"[dim]timing {e}...[/]"))
    out.print(render_bench_screen(result, result.peak_gflops), soft_wrap=True)
