"""`textrnn bench`: latency and throughput of a model on your data, PyTorch eager vs ONNX fp32 vs int8."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from textrnn.cli._util import err, handle_errors, out
from textrnn.cli.train import Device


def render_bench(result, peak: float | None = None):  # noqa: ANN001, ANN201 - BenchResult -> rich Table
    """The bench table: one row per engine, with FLOP rates (and share of `peak` GFLOP/s if given)."""
    from rich.table import Table

    batches = sorted({b for e in result.engines for b in e.throughput})
    top = max(batches) if batches else None
    table = Table(title=f"{result.model_dir.name}: {result.texts:,} texts, {result.mean_tokens:.1f} tokens "
                        f"each on average, {result.flops_per_text / 1e6:.2f} MFLOP per text",
                  caption="latency: one text per call (batch 1); throughput: texts/s at batch b, tokenizing included")
    for name in ("engine", "provider", "threads", "p50 ms", "p95 ms"):
        table.add_column(name, justify="left" if name in ("engine", "provider") else "right")
    for b in batches:
        table.add_column(f"texts/s b{b}", justify="right")
    if top:
        table.add_column(f"GFLOP/s b{top}", justify="right")
    if top and peak:
        table.add_column(f"of {peak:.0f} peak", justify="right")
    for e in result.engines:
        row = [e.engine, e.provider.replace("ExecutionProvider", ""), str(e.threads), f"{e.p50_ms:.2f}",
               f"{e.p95_ms:.2f}"]
        row += [f"{e.throughput[b]:,.0f}" if b in e.throughput else "-" for b in batches]
        if top:
            g = result.gflops(e.throughput[top])
            row += [f"{g:.1f}"] + ([f"{g / peak:.0%}"] if peak else [])
        table.add_row(*row)
    return table


@handle_errors
def bench_cmd(
    model: Annotated[Optional[Path], typer.Option(help="Model folder (default: the last trained model).")] = None,
    data: Annotated[Optional[Path], typer.Option(help="Texts: .csv/.tsv/.jsonl (text column) or one text per line (default: the model's validation set).")] = None,
    device: Annotated[Device, typer.Option(help="cpu; cuda (ONNX Runtime CUDA provider and torch on the GPU; never falls back); auto (cuda where it loads).")] = Device.cpu,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads (default: physical cores): ONNX runs that many batches side by side, one thread each (as predict does); torch uses them inside each batch.", min=1)] = None,
    limit: Annotated[Optional[int], typer.Option(help="Use at most this many texts.", min=1)] = None,
    torch: Annotated[bool, typer.Option(help="Include PyTorch eager (same weights) when torch is installed.")] = True,
    peak: Annotated[bool, typer.Option(help="Measure this CPU's fp32 matrix-product peak and show each engine's share.")] = False,
) -> None:
    """Measure latency (batch 1, p50/p95) and throughput (batch 64, 256) on your data.

    Compares PyTorch eager (same weights), ONNX fp32 and ONNX int8 (when the model has one).
    \b
    Examples:
      textrnn bench --data texts.txt --limit 20000
    """
    from textrnn import store
    from textrnn.bench import peak_gflops, run_bench
    from textrnn.cli.predict import iter_lines
    from textrnn.data import FORMATS, load_dataset, validation_data

    model_dir = store.resolve_model(model)
    if data is None:
        texts = validation_data(store.read_metadata(model_dir)).texts
    elif data.suffix.lower() in FORMATS:
        texts = load_dataset(data, require_labels=False).texts
    else:
        texts = list(iter_lines(data))
    texts = texts[:limit] if limit else texts
    engines = ("fp32", "int8", "torch") if torch else ("fp32", "int8")
    result = run_bench(model_dir, texts, device=device.value, threads=threads, engines=engines,
                       on_engine=lambda e: err.print(f"[dim]timing {e}...[/]"))
    out.print(render_bench(result, peak_gflops() if peak else None))
    for line in result.skipped:
        out.print(f"[yellow]skipped[/] {line}", soft_wrap=True)
    engine = result.engines[0]
    note = f"ONNX Runtime provider: {engine.provider}, threads: {engine.threads}"
    if engine.provider == "CPUExecutionProvider":
        note += f" (batches run {engine.threads} at a time, one thread each)"
    note += "; ONNX batches are formed by length, as predict does"
    if any(e.engine.startswith("PyTorch") for e in result.engines):
        note += "; PyTorch eager (same weights) batches in input order, padded to each batch's longest text"
    out.print(note + ".", soft_wrap=True)
