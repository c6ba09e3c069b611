"""`textrnn bench`: latency and throughput of a model on your data, PyTorch eager vs ONNX fp32 vs int8."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from textrnn.cli.core import err, handle_errors, out
from textrnn.cli.options import ModelOption
from textrnn.config import Device


@handle_errors
def bench_cmd(
    model: ModelOption = None,
    data: Annotated[Optional[Path], typer.Option(metavar="FILE", help="Texts: .csv/.tsv/.jsonl (text column) or one text per line (default: the model's validation set).")] = None,
    device: Annotated[Device, typer.Option(help="cpu; cuda (ONNX Runtime CUDA provider and torch on the GPU; never falls back); auto (cuda where it loads).")] = Device.cpu,
    threads: Annotated[Optional[int], typer.Option(metavar="N", help="CPU threads (default: physical cores): ONNX runs that many batches side by side, one thread each (as predict does); torch uses them inside each batch.", min=1)] = None,
    limit: Annotated[Optional[int], typer.Option(metavar="N", help="Use at most this many texts.", min=1)] = None,
    torch: Annotated[bool, typer.Option(help="Include PyTorch eager (same weights) when torch is installed.")] = True,
    peak: Annotated[bool, typer.Option(help="Measure this CPU's fp32 matrix-product peak and show each engine's share.")] = False,
) -> None:
    """Measure latency (batch 1, p50/p95) and throughput (batch 64, 256) on your data.

    Compares PyTorch eager (same weights), ONNX fp32 and ONNX int8 (when the model has one).

    \b
    Examples:
      textrnn bench --data texts.txt --limit 20000
    """
    from textrnn.data import read_texts
    from textrnn.export.bench import peak_gflops, run_bench
    from textrnn.folder import ModelFolder
    from textrnn.views.bench import render_bench_screen

    folder = ModelFolder.open(model)
    texts = folder.validation_data().texts if data is None else read_texts(data)
    texts = texts[:limit] if limit else texts
    engines = ("fp32", "int8", "torch") if torch else ("fp32", "int8")
    result = run_bench(folder, texts, device=device.value, threads=threads, engines=engines,
                       on_engine=lambda e: err.print(f"[dim]timing {e}...[/]"))
    out.print(render_bench_screen(result, peak_gflops() if peak else None), soft_wrap=True)
