"""`textrnn predict TEXT...`: classify texts with ONNX Runtime (no torch import)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from textrnn.cli._util import handle_errors, out
from textrnn.cli.train import Device
from textrnn.errors import DataError


def read_lines(path: Path | None) -> list[str]:
    """Texts from a file (one per line), or standard input when path is '-'."""
    if path is None:
        return []
    try:
        if str(path) == "-":
            return [line.rstrip("\r\n") for line in sys.stdin]
        with open(path, encoding="utf-8") as f:
            return [line.rstrip("\r\n") for line in f]
    except FileNotFoundError as e:
        raise DataError(f"{path} does not exist") from e
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text (byte offset {e.start})") from e
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror}") from e


@handle_errors
def predict_cmd(
    texts: Annotated[Optional[list[str]], typer.Argument(help="Texts to classify; '-' reads one text per line from stdin.", show_default=False)] = None,
    file: Annotated[Optional[Path], typer.Option("--file", "-f", help="Read one text per line from this file ('-': stdin).")] = None,
    model: Annotated[Optional[Path], typer.Option(help="Model folder (default: the last trained model).")] = None,
    top_k: Annotated[int, typer.Option(help="Show the k most probable labels per text.", min=1)] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per line, for scripts.")] = False,
    device: Annotated[Device, typer.Option(help="ONNX Runtime device: auto uses CUDA only where it really loads.")] = Device.auto,
    batch_size: Annotated[int, typer.Option(help="Texts per inference batch.", min=1)] = 256,
) -> None:
    """Predict labels for texts with the default (or --model) ONNX model.

    Examples:  textrnn predict "great film" "dull plot" --top-k 2
               cat texts.txt | textrnn predict - --json
    """
    from textrnn.infer import load_predictor

    items = list(texts or [])
    if items == ["-"]:
        items, file = [], Path("-")
    items += read_lines(file)
    items = [t for t in items if t.strip()] if file is not None else items
    if not items:
        raise DataError("no text to classify: pass TEXT arguments, --file FILE, or '-' for stdin")
    for n, text in enumerate(items, start=1):
        if not text.strip():
            raise DataError(f"text {n} is empty")
    predictor = load_predictor(model, device.value)
    predictions = predictor.predict(items, top_k=top_k, batch_size=batch_size)
    if as_json:
        for p in predictions:
            record = {"text": p.text, "label": p.label, "probability": round(p.probability, 6)}
            if top_k > 1:
                record["top"] = [{"label": lab, "probability": round(pr, 6)} for lab, pr in p.top]
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        return
    table = Table()
    table.add_column("text", overflow="ellipsis", no_wrap=True, max_width=60)
    table.add_column("label")
    table.add_column("probability", justify="right")
    for p in predictions:
        label = "\n".join(lab for lab, _ in p.top)
        prob = "\n".join(f"{pr:.3f}" for _, pr in p.top)
        table.add_row(p.text, label, prob)
    out.print(table)
