"""Data stage, streamed: read a labelled file of any size a chunk of rows at a time into compact storage.

`read_labelled` reads what `readers.load_dataset` reads (CSV, TSV, JSON Lines; and Parquet through
pyarrow, the `textrnn[parquet]` extra), checks the same things with the same messages, and returns
the same Dataset, except that its texts are a `TextList` (UTF-8 bytes in one buffer) and equal labels
are one string object: rows are never all held as Python objects at once, so reading a million rows
costs about the file's size, not several times it. It reads in one pass, so a file with two problems
reports the first in file order. `textrnn train` reads its files with it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from textrnn.data.dataset import Dataset
from textrnn.data.readers import FORMATS, delimited_rows, find_columns, jsonl_objects
from textrnn.data.tokens import TextListBuilder
from textrnn.errors import DataError, MissingDependencyError
from textrnn.text import printable

# what this module reads (load_dataset may learn more formats: `read_any` hands those to it)
STREAM_FORMATS = {**{k: v for k, v in FORMATS.items() if v in ("csv", "tsv", "jsonl")}, ".parquet": "parquet",
                  ".pq": "parquet"}
CHUNK_ROWS = 65536  # rows parsed before their texts are packed into the compact buffer


def read_labelled(path: str | Path, text_column: str | None = None, label_column: str | None = None,
                  require_labels: bool = True, chunk_rows: int = CHUNK_ROWS) -> Dataset:
    """A labelled .csv, .tsv, .jsonl (UTF-8) or .parquet file as a Dataset with compact texts.

    Raises DataError naming the file and the problem, as `load_dataset` does: missing, unreadable,
    wrong encoding, empty, missing or repeated columns, empty texts or labels (with the line, or the
    row for Parquet).
    """
    path = Path(path)
    fmt = STREAM_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"{path}: unknown file type {path.suffix or '(none)'!r} "
                        f"(expected .csv, .tsv, .jsonl or .parquet)")
    if not path.exists():
        raise DataError(f"{path} does not exist")
    if not path.is_file():
        raise DataError(f"{path} is not a file")
    texts, labels = TextListBuilder(), []
    chunk: list[str] = []
    interned: dict[str, str] = {}  # one string object per distinct label
    try:
        rows = (_parquet_rows if fmt == "parquet" else _text_rows)(path, fmt, text_column, label_column, require_labels)
        for line, text, label in rows:
            text = "" if text is None else str(text)
            if not text.strip():
                raise DataError(f"{path} {_where(fmt, line)}: empty text in column {rows.text_col!r}")
            chunk.append(text)
            if len(chunk) == chunk_rows:
                texts.extend(chunk)
                chunk = []
            if require_labels:
                label = _label(label, path, fmt, line, rows.label_col)
                labels.append(interned.setdefault(label, label))
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror}") from err
    texts.extend(chunk)
    built = texts.build()
    if len(built) == 0:
        raise DataError(f"{path} has no data rows (expected a header and at least one row)")
    return Dataset(built, labels, str(path))  # type: ignore[arg-type] - a TextList reads as a list of str


class _ListLabels(DataError):
    """A label that is a list: multi-label data, which `load_dataset` reads (not streamed); `read_any`
    hands the file to it, and a direct `read_labelled` call reports it as a DataError."""


def read_any(path: str | Path, text_column: str | None = None, label_column: str | None = None,
             label_sep: str | None = None, multi_label: bool = False) -> Dataset:
    """`read_labelled` for the formats it streams, `load_dataset` for any other (and its errors) and for
    multi-label data (--label-sep, --multi-label, JSON label lists: not streamed)."""
    from textrnn.data.readers import load_dataset

    if Path(path).suffix.lower() in STREAM_FORMATS and label_sep is None and not multi_label:
        try:
            return read_labelled(path, text_column, label_column)
        except _ListLabels:
            pass
    return load_dataset(path, text_column, label_column, label_sep=label_sep, multi_label=multi_label)


def _where(fmt: str, line: int) -> str:
    return f"row {line}" if fmt == "parquet" else f"line {line}"


def _label(label: Any, path: Path, fmt: str, line: int, column: str) -> str:
    if isinstance(label, list):
        raise _ListLabels(f"{path} {_where(fmt, line)}: the label in column {column!r} must be a string or "
                          "number here; a list is multi-label data, which load_dataset (and textrnn train) reads")
    if isinstance(label, dict):
        raise DataError(f"{path} {_where(fmt, line)}: the label in column {column!r} must be a string "
                        f"or number (got {json.dumps(label)[:40]})")
    label = "" if label is None else str(label).strip()
    if not label:
        raise DataError(f"{path} {_where(fmt, line)}: empty label in column {column!r}")
    if printable(label) != label:
        raise DataError(f"{path} {_where(fmt, line)}: the label {label!r} has control characters")
    return label


class _Rows:
    """(line, text, label) of each data row, after the columns are found (`text_col`, `label_col`)."""

    text_col: str
    label_col: str | None

    def __iter__(self) -> Iterator[tuple[int, Any, Any]]:
        raise NotImplementedError

    def _columns(self, columns: list[str], path: Path, text_column: str | None, label_column: str | None,
                 require_labels: bool) -> None:
        self.text_col, self.label_col = find_columns(columns, text_column, label_column, require_labels, path)


class _text_rows(_Rows):  # used like a function: rows(path, ...)
    """CSV/TSV rows (lists of fields) or JSON Lines objects, read line by line."""

    def __init__(self, path: Path, fmt: str, text_column: str | None, label_column: str | None,
                 require_labels: bool) -> None:
        self.path, self.fmt = path, fmt
        self.args = (text_column, label_column, require_labels)

    def __iter__(self) -> Iterator[tuple[int, Any, Any]]:
        path, fmt = self.path, self.fmt
        try:
            with open(path, encoding="utf-8-sig", newline="") as f:
                if fmt == "jsonl":
                    yield from self._jsonl(f)
                else:
                    yield from self._delimited(f)
        except UnicodeDecodeError as err:
            raise DataError(f"{path} is not UTF-8 text (byte 0x{err.object[err.start]:02x} at offset "
                            f"{err.start}); re-save it as UTF-8") from err
        except csv.Error as err:
            raise DataError(f"{path} is not valid {fmt.upper()}: {err}") from err

    def _jsonl(self, f: Any) -> Iterator[tuple[int, Any, Any]]:
        path, first = self.path, True
        for n, row in jsonl_objects(f, path):
            if first:  # the columns are the first object's keys, as load_dataset takes them
                self._columns(list(row.keys()), path, *self.args)
                first = False
            yield n, row.get(self.text_col), row.get(self.label_col) if self.label_col is not None else None
        if first:
            raise DataError(f"{path} has no data rows (expected a header and at least one row)")

    def _delimited(self, f: Any) -> Iterator[tuple[int, Any, Any]]:
        path, fmt = self.path, self.fmt
        header, rows = delimited_rows(f, fmt, path)
        ti = li = -1
        for line, fields in rows:
            if ti < 0:
                self._columns(header, path, *self.args)
                ti = header.index(self.text_col)
                li = header.index(self.label_col) if self.label_col is not None else -1
            yield (line, fields[ti] if ti < len(fields) else None,  # a short row lacks its last columns
                   fields[li] if 0 <= li < len(fields) else None)
        if ti < 0:
            raise DataError(f"{path} has no data rows (expected a header and at least one row)")


class _parquet_rows(_Rows):
    """Parquet rows, read a record batch at a time (only the two columns)."""

    def __init__(self, path: Path, fmt: str, text_column: str | None, label_column: str | None,
                 require_labels: bool) -> None:
        try:
            import pyarrow.parquet as pq
        except ImportError as err:
            raise MissingDependencyError(f"{path}: reading Parquet needs pyarrow: pip install "
                                         "'textrnn[parquet]'") from err
        try:
            self.file = pq.ParquetFile(path)
        except Exception as err:  # pyarrow raises its own types for files that are not Parquet
            raise DataError(f"{path} is not a Parquet file ({str(err).splitlines()[0][:120]})") from err
        if self.file.metadata.num_rows == 0:
            raise DataError(f"{path} has no data rows (expected a header and at least one row)")
        self._columns(list(self.file.schema_arrow.names), path, text_column, label_column, require_labels)

    def __iter__(self) -> Iterator[tuple[int, Any, Any]]:
        wanted = [c for c in (self.text_col, self.label_col) if c is not None]
        n = 0
        for batch in self.file.iter_batches(batch_size=CHUNK_ROWS, columns=wanted):
            texts = batch.column(self.text_col).to_pylist()
            labels = batch.column(self.label_col).to_pylist() if self.label_col is not None else [None] * len(texts)
            for text, label in zip(texts, labels, strict=True):
                n += 1
                yield n, text, label

