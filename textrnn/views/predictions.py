"""Prediction output for `textrnn predict`: an aligned plain-text table, JSON lines or CSV.

Plain text rather than rich: rich costs as much to import as a cold one-text prediction takes, and
these formats stream chunk by chunk with one header.
"""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Iterable
from typing import Any, TextIO

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


def json_record(p: Any, top_k: int | None, multi: bool = False) -> dict[str, Any]:
    """One prediction as `predict --json` (and `serve`'s /predict) write it: text, label, probability
    (and `top` when top_k > 1); multi-label: text and `labels`, every chosen label with its probability."""
    if multi:
        return {"text": p.text, "labels": [{"label": lab, "probability": round(pr, 6)} for lab, pr in p.top]}
    out: dict[str, Any] = {"text": p.text, "label": p.label, "probability": round(p.probability, 6)}
    if (top_k or 1) > 1:
        out["top"] = [{"label": lab, "probability": round(pr, 6)} for lab, pr in p.top]
    return out


def json_lines(predictions: list[Any], top_k: int | None, multi: bool = False) -> str:
    """One JSON object per prediction (see `record`)."""
    return "".join(json.dumps(json_record(p, top_k, multi), ensure_ascii=False) + "\n" for p in predictions)


def csv_rows(predictions: list[Any], top_k: int | None, header: bool, multi: bool = False) -> str:
    """CSV: text,label,probability[,label_2,probability_2,...]; multi-label: text,labels,probabilities
    with the chosen labels and their probabilities joined by '|'."""
    import csv

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if multi:
        if header:
            writer.writerow(["text", "labels", "probabilities"])
        for p in predictions:
            writer.writerow([p.text, "|".join(lab for lab, _ in p.top), "|".join(f"{pr:.6f}" for _, pr in p.top)])
        return buf.getvalue()
    if header:
        extra = [f"{name}_{i}" for i in range(2, (top_k or 1) + 1) for name in ("label", "probability")]
        writer.writerow(["text", "label", "probability", *extra])
    for p in predictions:
        writer.writerow([p.text, *(x for lab, pr in p.top for x in (lab, f"{pr:.6f}"))])
    return buf.getvalue()


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
