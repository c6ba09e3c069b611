"""Checks, reading: a labelled file read as `train` reads it, or, where `train` would refuse it for
some of its rows, read again leniently so that those rows become findings instead of an error.

`read_checked` first reads the file with the project's reader (`data.stream.read_any`: CSV, TSV,
JSON Lines, fastText, Parquet, multi-label detection), so a file `train` accepts is read exactly as
`train` reads it. When that reader refuses the file for a row (an empty text or label, a row with
too many fields, a line that is not JSON), a lenient pass reads the other rows and records each bad
one with its line number; `train_error` keeps what `train` would say. File-level problems (missing,
not UTF-8, no label column, no rows) stay errors, with the reader's own message.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from textrnn.data import FORMATS, Dataset
from textrnn.data.readers import (
    LABEL_COLUMNS,
    TEXT_COLUMNS,
    delimited_rows,
    fasttext_line,
    find_column,
    jsonl_objects,
)
from textrnn.data.stream import read_any
from textrnn.errors import DataError


@dataclass
class BadRow:
    """A row the reader refuses: its line in the file, what is wrong, and its raw text (cut)."""

    line: int
    reason: str
    raw: str = ""
    row: int = 0  # its number among the file's data rows (1: the first)


@dataclass
class Checked:
    """A file's readable rows as a Dataset, the rows that could not be used, and train's error if any."""

    data: Dataset
    bad_rows: list[BadRow] = field(default_factory=list)
    train_error: str | None = None
    rows: list[int] | None = None  # each text's number among the file's data rows (None: 1, 2, ...)

    def row(self, i: int) -> int:
        """The file's data row number (1-based) of text `i`."""
        return self.rows[i] if self.rows is not None else i + 1


def read_checked(path: Path, text_column: str | None = None, label_column: str | None = None,
                 label_sep: str | None = None, multi_label: bool = False) -> Checked:
    """Read `path` as train does; if train would refuse it for some rows, read the rest leniently."""
    try:
        return Checked(read_any(path, text_column, label_column, label_sep=label_sep, multi_label=multi_label))
    except DataError as error:
        fmt = FORMATS.get(path.suffix.lower())
        if fmt is None or not path.is_file():
            raise
        try:
            lenient = _lenient(path, fmt, text_column, label_column, label_sep, multi_label)
        except (DataError, OSError, UnicodeDecodeError, csv.Error):
            raise error from None
        if lenient is None or not lenient.bad_rows or len(lenient.data) == 0:
            raise error from None  # a file-level problem: the reader's message
        lenient.train_error = str(error)
        return lenient


def _column(columns: list[str], wanted: str | None, candidates: tuple[str, ...]) -> str | None:
    """The column the reader would take, or None where it finds none."""
    try:
        return find_column(columns, wanted, candidates, "", "")
    except DataError:
        return None


def _labels(value: object, multi: bool, label_sep: str | None) -> str | tuple[str, ...] | None:
    """The label(s) of a raw field; None when unusable (empty label in single-label data)."""
    if multi:
        if isinstance(value, list):
            parts = [str(x).strip() for x in value]
        elif value is None or not str(value).strip():
            parts = []
        else:
            parts = [x.strip() for x in str(value).split(label_sep)] if label_sep else [str(value).strip()]
        return None if any(not x for x in parts) else tuple(dict.fromkeys(parts))
    if isinstance(value, (list, dict)):
        return None
    label = "" if value is None else str(value).strip()
    return label or None


def _lenient(path: Path, fmt: str, text_column: str | None, label_column: str | None, label_sep: str | None,
             multi_label: bool) -> Checked | None:
    """The usable rows and the bad ones, or None where the columns cannot be found (a file-level error)."""
    texts: list[str] = []
    labels: list = []
    bad: list[BadRow] = []
    raw_rows: list[tuple[int, object, object]] = []  # (line, text, label)
    with open(path, encoding="utf-8-sig", newline="") as f:
        if fmt == "fasttext":
            multi = multi_label
            for n, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                found, text = fasttext_line(line)
                multi = multi or len(found) != 1
                raw_rows.append((n, text, found))
        elif fmt == "jsonl":
            columns: list[str] | None = None
            objects = []
            for n, row in jsonl_objects(f, path, lambda n, reason, raw: bad.append(BadRow(n, reason, raw))):
                columns = columns or list(row)
                objects.append((n, row))
            if columns is None:
                return None
            text_col, label_col = _column(columns, text_column, TEXT_COLUMNS), _column(columns, label_column,
                                                                                       LABEL_COLUMNS)
            if text_col is None or label_col is None:
                return None
            raw_rows = [(n, row.get(text_col), row.get(label_col)) for n, row in objects]
            multi = multi_label or label_sep is not None or any(isinstance(x[2], list) for x in raw_rows)
        else:
            header, rows = delimited_rows(f, fmt, path, lambda n, reason, raw: bad.append(BadRow(n, reason, raw)))
            ti = header.index(t) if (t := _column(header, text_column, TEXT_COLUMNS)) else -1
            li = header.index(lc) if (lc := _column(header, label_column, LABEL_COLUMNS)) else -1
            if ti < 0 or li < 0:
                return None
            for n, fields in rows:
                raw_rows.append((n, fields[ti] if ti < len(fields) else None, fields[li] if li < len(fields) else None))
            multi = multi_label or label_sep is not None
    rows: list[int] = []
    bad_lines = {b.line for b in bad}
    ordinal = {line: k for k, line in enumerate(sorted(bad_lines | {r[0] for r in raw_rows}), start=1)}
    for b in bad:
        b.row = ordinal[b.line]
    for n, text, label in raw_rows:
        text = "" if text is None else str(text)
        if fmt == "fasttext":
            found = label
            value: str | tuple | None = (found if multi else found[0]) if all(found) and found else (
                () if multi and not found else None)
        else:
            value = _labels(label, multi, label_sep)
        if not text.strip():
            bad.append(BadRow(n, "empty or whitespace-only text", text[:200], ordinal[n]))
        elif value is None:
            bad.append(BadRow(n, "empty or unusable label", text[:200], ordinal[n]))
        else:
            texts.append(text)
            labels.append(value)
            rows.append(ordinal[n])
    bad.sort(key=lambda b: b.line)
    return Checked(Dataset(texts, labels, str(path), multi_label=multi), bad, rows=rows)
