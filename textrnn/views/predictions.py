"""Prediction output for `textrnn predict`: an aligned plain-text table, JSON lines or CSV (the
records of textrnn.inference.records), and `predict` as one call (`run_predict`), shared by the typer
command and the fast one-text entry point (textrnn.entry), so both write the same output.

Plain text rather than rich: rich costs as much to import as a cold one-text prediction takes, and
these formats stream chunk by chunk with one header. Texts from a file or stdin are streamed: read,
predicted and written a chunk at a time, so memory stays flat however long the input is, and output
keeps input order. No torch, typer or rich.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from itertools import chain
from typing import Any, TextIO

from textrnn.errors import DataError
from textrnn.inference.predict import open_predictor
from textrnn.inference.predictor import Predictor
from textrnn.inference.records import csv_rows, json_lines
from textrnn.inference.request import PredictRequest
from textrnn.text import fit

TEXT_WIDTH = 60  # widest text column


def _terminal_columns() -> int:
    """$COLUMNS, else the terminal's width, else 100 (shutil's version costs its imports here)."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return 100


def table_lines(predictions: list[Any], labels: list[str], header: bool, width: int | None = None) -> str:
    """Rows `text  label  probability` (one row per top-k label), with fixed column widths."""
    width = width or _terminal_columns()
    label_w = min(30, max(5, *(len(lab) for lab in labels)))
    text_w = max(10, min(TEXT_WIDTH, width - label_w - 11 - 4))
    lines = []
    if header:
        lines.append(f"{fit('text', text_w)}  {'label':<{label_w}}  {'probability':>11}")
        lines.append(f"{'─' * text_w}  {'─' * label_w}  {'─' * 11}")
    for p in predictions:
        text = fit(p.text, text_w)
        for lab, pr in p.top:
            lines.append(f"{text}  {fit(lab, label_w)}  {pr:>11.3f}")
            text = " " * text_w
        if not p.top:  # multi-label: no label at or above its threshold
            lines.append(f"{text}  {fit('(none)', label_w)}  {'':>11}")
    return "\n".join(lines) + "\n"


def write_chunks(chunks: Iterable[list[Any]], fmt: str, top_k: int | None, labels: list[str],
                 stream: TextIO | None = None, multi: bool = False) -> int:
    """Write each chunk of predictions as it comes (header once); return how many were written."""
    stream = stream or sys.stdout
    n = 0
    for chunk in chunks:
        if fmt == "table":
            text = table_lines(chunk, labels, header=n == 0)
        elif fmt == "json":
            text = json_lines(chunk, top_k, multi)
        else:
            text = csv_rows(chunk, top_k, header=n == 0, multi=multi)
        stream.write(text)
        stream.flush()
        n += len(chunk)
    return n


def write_predictions(predictor: Predictor, request: PredictRequest, stream: TextIO | None = None) -> int:
    """Classify the request's texts and write them as they come; returns how many were written."""
    texts: Iterable[str] = request.texts
    if request.file is not None:
        from textrnn.data import iter_lines

        texts = chain(texts, iter_lines(request.file))
    multi = predictor.task.kind == "multi_label"
    if request.explain:
        from textrnn.views.explain import write_explanations

        explained = predictor.explainer.explain_stream(texts, request.label, request.min_labels, request.top_k)
        n = write_explanations(explained, request.format, request.top_k, multi, stream or sys.stdout)
    else:
        chunks = predictor.predict_stream(texts, request.top_k, request.batch_size, request.chunk_size,
                                          request.min_labels)
        n = write_chunks(chunks, request.format, request.top_k, predictor.labels, stream or sys.stdout, multi=multi)
    if n == 0:
        raise DataError(f"no text to classify: {request.file} has no non-blank lines")
    return n


def run_predict(request: PredictRequest, stream: TextIO | None = None,
                notice: Callable[[str], None] | None = None) -> int:
    """`textrnn predict`: check, load, classify, write. Returns the number of texts written."""
    return write_predictions(open_predictor(request, notice), request, stream)
