"""The `textrnn bench` screen: one row per engine (PyTorch eager, ONNX fp32, ONNX int8), with latency,
throughput and FLOP rates, and a note on how each engine ran."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:  # a record drawn here; the view needs neither torch nor ONNX Runtime
    from textrnn.export.bench import BenchResult


def render_bench(result: BenchResult, peak: float | None = None) -> Table:
    """The bench table: one row per engine, with FLOP rates (and share of `peak` GFLOP/s if given)."""
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


def render_bench_screen(result: BenchResult, peak: float | None = None) -> RenderableType:
    """The table, what was skipped and why, and how the engines ran."""
    parts: list[RenderableType] = [render_bench(result, peak)]
    parts += [Text.assemble(("skipped ", "yellow"), line) for line in result.skipped]
    engine = result.engines[0]
    note = f"ONNX Runtime provider: {engine.provider}, threads: {engine.threads}"
    if engine.provider == "CPUExecutionProvider":
        note += f" (batches run {engine.threads} at a time, one thread each)"
    note += "; ONNX batches are formed by length, as predict does"
    if any(e.engine.startswith("PyTorch") for e in result.engines):
        note += "; PyTorch eager (same weights) batches in input order, padded to each batch's longest text"
    parts.append(Text(note + "."))
    return Group(*parts)
