"""Prediction output for `textrnn predict`: an aligned plain-text table, JSON lines or CSV.

Plain text rather than rich: rich costs as much to import as a cold one-text prediction takes, and
these formats stream chunk by chunk with one header.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import sys
import unicodedata
from collections.abc import Iterable
from typing import Any, TextIO

FORMATS = ("table", "json", "csv")
TEXT_WIDTH = 60  # widest text column


def _cell_width(ch: str) -> int:
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 0 if unicodedata.combining(ch) else 1


# bidirectional overrides and isolates reorder what a terminal shows ("Trojan Source")
_BIDI = set(range(0x202A, 0x202F)) | set(range(0x2066, 0x206A))
_JOINERS = "\u200c\u200d"  # zero-width (non-)joiners: part of emoji and of some scripts' words


def printable(text: str) -> str:
    """`text` with control characters written as escapes (\\x1b, \\u202e): texts are untrusted input,
    and raw escape sequences in them would drive the user's terminal."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch == " " else
                   (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
                   if unicodedata.category(ch) == "Cc" or ord(ch) in _BIDI
                   or unicodedata.category(ch) == "Cf" and ch not in _JOINERS else ch
                   for ch in text)


def fit(text: str, width: int) -> str:
    """`text` on one line, control characters escaped, cut to `width` terminal cells (ending with
    '…' when cut), then padded to `width`."""
    text = printable(" ".join(text.split()))
    used, out = 0, []
    for ch in text:
        w = _cell_width(ch)
        if used + w > width:
            while out and used > width - 1:
                used -= _cell_width(out.pop())
            out.append("…")
            used += 1
            break
        out.append(ch)
        used += w
    return "".join(out) + " " * (width - used)


def table_lines(predictions: list[Any], labels: list[str], header: bool, width: int | None = None) -> str:
    """Rows `text  label  probability` (one row per top-k label), with fixed column widths."""
    width = width or shutil.get_terminal_size((100, 24)).columns
    label_w = max(5, *(len(lab) for lab in labels))
    text_w = max(10, min(TEXT_WIDTH, width - label_w - 11 - 4))
    lines = []
    if header:
        lines.append(f"{fit('text', text_w)}  {'label':<{label_w}}  {'probability':>11}")
        lines.append(f"{'─' * text_w}  {'─' * label_w}  {'─' * 11}")
    for p in predictions:
        text = fit(p.text, text_w)
        for lab, pr in p.top:
            lines.append(f"{text}  {lab:<{label_w}}  {pr:>11.3f}")
            text = " " * text_w
    return "\n".join(lines) + "\n"


def json_lines(predictions: list[Any], top_k: int) -> str:
    """One JSON object per prediction: text, label, probability (and `top` when top_k > 1)."""
    lines = []
    for p in predictions:
        record: dict[str, Any] = {"text": p.text, "label": p.label, "probability": round(p.probability, 6)}
        if top_k > 1:
            record["top"] = [{"label": lab, "probability": round(pr, 6)} for lab, pr in p.top]
        lines.append(json.dumps(record, ensure_ascii=False) + "\n")
    return "".join(lines)


def csv_rows(predictions: list[Any], top_k: int, header: bool) -> str:
    """CSV: text,label,probability[,label_2,probability_2,...]."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if header:
        extra = [f"{name}_{i}" for i in range(2, top_k + 1) for name in ("label", "probability")]
        writer.writerow(["text", "label", "probability", *extra])
    for p in predictions:
        writer.writerow([p.text, *(x for lab, pr in p.top for x in (lab, f"{pr:.6f}"))])
    return buf.getvalue()


def write_predictions(chunks: Iterable[list[Any]], fmt: str, top_k: int, labels: list[str],
                      stream: TextIO | None = None) -> int:
    """Write each chunk of predictions as it comes (header once); return how many were written."""
    stream = stream or sys.stdout
    n = 0
    for chunk in chunks:
        if fmt == "table":
            text = table_lines(chunk, labels, header=n == 0)
        elif fmt == "json":
            text = json_lines(chunk, top_k)
        else:
            text = csv_rows(chunk, top_k, header=n == 0)
        stream.write(text)
        stream.flush()
        n += len(chunk)
    return n
