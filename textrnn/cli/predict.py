"""`textrnn predict TEXT...`: classify texts with ONNX Runtime (no torch import); see
textrnn.inference.predict and textrnn.views.predictions, which this and the fast entry point (textrnn.entry) both call."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from textrnn.cli.core import err, handle_errors
from textrnn.cli.options import DeviceOption, ModelOption, PrecisionOption, TextColumnOption, ThreadsOption
from textrnn.config import Device, InferPrecision
from textrnn.errors import DataError


class Engine(str, Enum):
    local = "local"
    ray = "ray"


@handle_errors
def predict_cmd(
    texts: Annotated[Optional[list[str]], typer.Argument(metavar="TEXT", help="Texts to classify; '-' reads one text per line from stdin.", show_default=False)] = None,
    file: Annotated[Optional[Path], typer.Option("--file", "-f", metavar="FILE", help="Read one text per line from this file ('-': stdin); streamed, any size.")] = None,
    model: ModelOption = None,
    top_k: Annotated[Optional[int], typer.Option(metavar="K", help="Show the k most probable labels per text (default: 1; multi-label models: every label at or above its threshold, at most K).", min=1, show_default=False)] = None,
    threshold: Annotated[Optional[float], typer.Option(metavar="X", help="Multi-label models: give every label with probability >= X, instead of each label's threshold tuned on validation.", min=0.0, max=1.0)] = None,
    min_labels: Annotated[int, typer.Option(metavar="N", help="Multi-label models: at least the N most probable labels per text, even below their thresholds (0: none).", min=0)] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per line, for scripts.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV (text,label,probability), for scripts.")] = False,
    device: DeviceOption = Device.auto,
    precision: PrecisionOption = InferPrecision.auto,
    threads: ThreadsOption = None,
    batch_size: Annotated[Optional[int], typer.Option(metavar="N", help="Texts per inference batch (default: 16 on the CPU, fastest here with batches run side by side; 256 on CUDA).", min=1)] = None,
    chunk_size: Annotated[int, typer.Option(metavar="N", help="Texts read, predicted and written at a time (batched by length within a chunk).", min=1)] = 2048,
    engine: Annotated[Engine, typer.Option(help="local: this process. ray: Ray Data (pip install 'textrnn[ray]'), for --file a Parquet, CSV, JSON Lines or text file, into --out.", rich_help_panel="Distributed")] = Engine.local,
    out: Annotated[Optional[str], typer.Option("--out", metavar="FILE", help="With --engine ray: write the input's rows and their predictions, in input order, to FILE (.parquet, .csv, .jsonl), or as Parquet files into DIR/.", rich_help_panel="Distributed")] = None,
    address: Annotated[Optional[str], typer.Option(metavar="ADDR", help="With --engine ray: the Ray cluster (ray://head:10001, or auto); default: start Ray on this machine.", rich_help_panel="Distributed")] = None,
    workers: Annotated[Optional[int], typer.Option(metavar="N", min=1, help="With --engine ray: predicting actors, one CPU each (default: this machine's CPUs, or a cluster's CPUs less one, left for reading and writing).", rich_help_panel="Distributed")] = None,
    explain: Annotated[bool, typer.Option("--explain", help="Show why: each token's weight for the label (its effect on the label's log-odds: the mean of removing it from the text and of it alone), the text coloured by it (or [+0.31]token notation without colour); with --json, tokens with their character spans. Multi-label: each chosen label.", rich_help_panel="Explanations")] = False,
    label: Annotated[Optional[str], typer.Option("--label", metavar="LABEL", help="With --explain: explain this label instead of the predicted one.", rich_help_panel="Explanations")] = None,
    text_column: TextColumnOption = None,
    force: Annotated[bool, typer.Option("--force", help="With --out: replace an existing file.", rich_help_panel="Distributed")] = False,
) -> None:
    """Predict labels for texts with the default (or --model) ONNX model.

    \b
    Examples:
      textrnn predict "great film" "dull plot" --top-k 2
      textrnn predict --file big.txt --csv > labels.csv
      cat texts.txt | textrnn predict - --json
      textrnn predict -- "-5 stars, awful delivery"   (a text that starts with '-')
      textrnn predict "great acting, dull plot" --explain
      textrnn predict --file texts.txt --explain --json --label negative
      textrnn predict --engine ray --file texts.parquet --out predictions.parquet
    """
    from textrnn.inference.predict import PredictRequest
    from textrnn.views.predictions import run_predict

    if as_json and as_csv:
        raise DataError("choose one of --json and --csv")
    if explain and (engine == Engine.ray or out is not None):
        raise DataError("--explain runs here (--engine local), to stdout: leave out --engine ray and --out")
    if engine == Engine.ray or out is not None:
        _predict_table(texts, file, model, top_k, device, precision, batch_size, engine, out, address, workers,
                       text_column, force)
        return
    request = PredictRequest(tuple(texts or ()), str(file) if file is not None else None,
                             str(model) if model is not None else None, top_k,
                             "json" if as_json else "csv" if as_csv else "table", device.value, precision.value,
                             threads, batch_size, chunk_size, threshold, min_labels, explain, label)
    run_predict(request, notice=lambda line: err.print(f"[dim]{line}[/]"))


def _predict_table(texts, file, model, top_k, device, precision, batch_size, engine, out, address, workers,
                   text_column, force) -> None:
    """`predict --engine ray --file TABLE --out FILE`: see textrnn.batch.tables."""
    from textrnn.batch.tables import TableRequest, predict_table

    if engine != Engine.ray:
        raise DataError("--out writes a table with --engine ray; without it, predictions go to stdout")
    if texts or file is None or out is None or str(file) == "-":
        raise DataError("--engine ray classifies a file: pass --file TABLE and --out FILE (no TEXT arguments)")
    result = predict_table(TableRequest(str(file), out, str(model) if model is not None else None, text_column,
                                        top_k or 1,  # a table has a column pair per label: one unless told
                                        "cpu" if device.value == "auto" else device.value, precision.value,
                                        address, workers, batch_size, force=force))
    count = f"{result.rows:,} predictions" if result.rows is not None else "predictions"
    speed = f"{result.rate:,.0f} texts/s, " if result.rate is not None else ""
    err.print(f"wrote {count} to {result.out} in {result.seconds:.1f}s ({speed}Ray Data, {result.workers} workers)",
              soft_wrap=True)
