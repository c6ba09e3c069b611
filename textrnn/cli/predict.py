"""`textrnn predict TEXT...`: classify texts with ONNX Runtime (no torch import).

Texts from --file or stdin are streamed: read, predicted and written a chunk at a time, so memory
stays flat however long the input is, and output lines come in input order.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from enum import Enum
from itertools import chain
from pathlib import Path
from typing import Annotated, Optional

import typer

from textrnn.cli._util import err, handle_errors
from textrnn.cli.train import Device
from textrnn.errors import DataError


class Precision(str, Enum):
    auto = "auto"
    fp32 = "fp32"
    int8 = "int8"


def iter_lines(path: Path) -> Iterator[str]:
    """Non-blank lines of a UTF-8 file ('-': stdin), read lazily, without their line endings."""
    try:
        f = sys.stdin if str(path) == "-" else open(path, encoding="utf-8")  # noqa: SIM115
    except FileNotFoundError as e:
        raise DataError(f"{path} does not exist") from e
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror}") from e
    n = 0
    try:
        for n, line in enumerate(f, start=1):  # noqa: B007 - n is used in the error message
            text = line.rstrip("\r\n")
            if text.strip():
                yield text
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text (near line {n + 1})") from e
    finally:
        if f is not sys.stdin:
            f.close()


@handle_errors
def predict_cmd(
    texts: Annotated[Optional[list[str]], typer.Argument(metavar="TEXT", help="Texts to classify; '-' reads one text per line from stdin.", show_default=False)] = None,
    file: Annotated[Optional[Path], typer.Option("--file", "-f", help="Read one text per line from this file ('-': stdin); streamed, any size.")] = None,
    model: Annotated[Optional[Path], typer.Option(help="Model folder (default: the last trained model).")] = None,
    top_k: Annotated[int, typer.Option(help="Show the k most probable labels per text.", min=1)] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per line, for scripts.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV (text,label,probability), for scripts.")] = False,
    device: Annotated[Device, typer.Option(help="ONNX Runtime device: auto uses CUDA only where it really loads; cuda never falls back.")] = Device.auto,
    precision: Annotated[Precision, typer.Option(help="auto: the int8 model when the folder has one (CPU), else fp32.")] = Precision.auto,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads: that many batches run at once, one thread each (default: physical cores).", min=1)] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Texts per inference batch (default: 16 on the CPU, fastest here with batches run side by side; 256 on CUDA).", min=1)] = None,
    chunk_size: Annotated[int, typer.Option(help="Texts read, predicted and written at a time (batched by length within a chunk).", min=1)] = 2048,
) -> None:
    """Predict labels for texts with the default (or --model) ONNX model.

    \b
    Examples:
      textrnn predict "great film" "dull plot" --top-k 2
      textrnn predict --file big.txt --csv > labels.csv
      cat texts.txt | textrnn predict - --json
      textrnn predict -- "-5 stars, awful delivery"   (a text that starts with '-')
    """
    from textrnn.infer import load_predictor
    from textrnn.output import write_predictions

    items = list(texts or [])
    if items == ["-"]:
        items, file = [], Path("-")
    if not items and file is None:
        raise DataError("no text to classify: pass TEXT arguments, --file FILE, or '-' for stdin")
    for n, text in enumerate(items, start=1):
        if not text.strip():
            raise DataError(f"text {n} is empty")
    if as_json and as_csv:
        raise DataError("choose one of --json and --csv")
    lines = iter_lines(file) if file is not None else iter(())
    predictor = load_predictor(model, device.value, threads, precision.value)
    if device != Device.cpu and predictor.provider != "CPUExecutionProvider" or device == Device.cuda:
        err.print(f"[dim]running on {predictor.provider} ({predictor.precision})[/]")
    fmt = "json" if as_json else "csv" if as_csv else "table"
    chunks = predictor.predict_stream(chain(items, lines), top_k, batch_size, chunk_size)
    if write_predictions(chunks, fmt, top_k, predictor.labels) == 0:
        raise DataError(f"no text to classify: {file} has no non-blank lines")
