"""Data stage, reading: labelled text from CSV, TSV or JSON Lines (columns found by name) or fastText's
`__label__` lines, single- or multi-label; and texts one per line for prediction.

Multi-label data is recognised from its format: fastText lines with no label or several (a file
where every line has exactly one label is single-label unless --multi-label says otherwise), JSON
Lines whose label is a list, CSV/TSV read with --label-sep. A text with no label in multi-label
data is kept: it means "none of these labels" (its targets are all zero).
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from textrnn.data.dataset import Dataset
from textrnn.errors import DataError
from textrnn.text import printable

TEXT_COLUMNS = ("text", "sentence", "review", "content", "document", "body", "comment",
                "message", "tweet", "question", "utterance", "query", "title")
LABEL_COLUMNS = ("label", "labels", "class", "category", "sentiment", "target", "intent",
                 "topic", "tag", "y")
FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".txt": "fasttext"}
FASTTEXT_LABEL = "__label__"
_FASTTEXT_LINE = re.compile(r"^((?:__label__\S*(?:\s+|$))*)(.*)$", re.S)


def find_column(columns: list[str], wanted: str | None, candidates: tuple[str, ...], what: str,
                path: str | Path) -> str:
    """The column named `wanted`, else the first of `candidates` (case and spaces ignored); DataError
    naming the file and the columns found otherwise."""
    found = ", ".join(columns) if columns else "none"
    if wanted is not None:
        if wanted not in columns:
            raise DataError(f"{path} has no {wanted!r} column (found: {found})")
        return wanted
    by_lower = {c.strip().lower(): c for c in columns}
    for name in candidates:
        if name in by_lower:
            return by_lower[name]
    raise DataError(f"{path} has no {what} column (expected one of {', '.join(candidates[:6])}, ...; "
                    f"found: {found}); name it with --{what}-column")


def find_columns(columns: list[str], text_column: str | None, label_column: str | None, require_labels: bool,
                 path: str | Path) -> tuple[str, str | None]:
    """The text column and the label column (None unless `require_labels`) of a table, each found
    once: DataError for a missing column or one whose name repeats."""
    text_col = find_column(columns, text_column, TEXT_COLUMNS, "text", path)
    label_col = find_column(columns, label_column, LABEL_COLUMNS, "label", path) if require_labels else None
    for col in (text_col, label_col):
        if col is not None and columns.count(col) > 1:
            where = ", ".join(str(i + 1) for i, c in enumerate(columns) if c == col)
            raise DataError(f"{path} has {columns.count(col)} columns named {col!r} (columns {where}); "
                            "rename all but one")
    return text_col, label_col


def jsonl_objects(f: Iterable[str], path: str | Path,
                  bad: Callable[[int, str, str], None] | None = None) -> Iterator[tuple[int, dict]]:
    """(line number, object) of each non-blank JSON Lines line: the one JSON Lines parser. A line that
    is not a JSON object raises DataError, or, given `bad`, is passed to bad(line, reason, raw) and skipped."""
    for n, line in enumerate(f, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            reason = f"not valid JSON: {err.msg}"
            row = None
        else:
            reason = "" if isinstance(row, dict) else "not a JSON object"
        if reason:
            if bad is None:
                raise DataError(f"{path} line {n} is {reason}")
            bad(n, reason, line.strip()[:200])
            continue
        yield n, row


def delimited_rows(f: Iterable[str], fmt: str, path: str | Path, bad: Callable[[int, str, str], None] | None = None
                   ) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """A CSV or TSV file's header and its data rows as (line number, fields), blank lines skipped: the one
    CSV/TSV parser. A row with more fields than the header raises DataError, or, given `bad`, is passed
    to bad(line, reason, raw) and skipped."""
    reader = csv.reader(f, delimiter="," if fmt == "csv" else "\t")
    header = next(reader, [])

    def rows() -> Iterator[tuple[int, list[str]]]:
        for fields in reader:
            if not any(x.strip() for x in fields):
                continue  # blank lines
            if len(fields) > len(header):
                if bad is None:
                    what = "a tab" if fmt == "tsv" else "a comma outside quotes"
                    raise DataError(f"{path} line {reader.line_num} has {len(fields)} fields but the header has "
                                    f"{len(header)}: is there {what} inside a text? (columns would shift)")
                bad(reader.line_num, f"{len(fields)} fields, the header has {len(header)}", ",".join(fields)[:200])
                continue
            yield reader.line_num, fields

    return header, rows()


def fasttext_line(line: str) -> tuple[tuple[str, ...], str]:
    """A fastText line's labels (the names after `__label__`) and its text."""
    heads, text = _FASTTEXT_LINE.match(line.strip()).groups()
    return tuple(h[len(FASTTEXT_LABEL):] for h in heads.split()), text


def _read_rows(path: Path, fmt: str) -> tuple[list[str], list[tuple[int, dict]]]:
    """The columns and (line number, row) pairs of a file."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            if fmt == "jsonl":
                rows = list(jsonl_objects(f, path))
                columns = list(rows[0][1].keys()) if rows else []
                return columns, rows
            header, data = delimited_rows(f, fmt, path)
            return header, list(data)
    except UnicodeDecodeError as err:
        raise DataError(f"{path} is not UTF-8 text (byte 0x{err.object[err.start]:02x} at offset "
                        f"{err.start}); re-save it as UTF-8") from err
    except csv.Error as err:
        raise DataError(f"{path} is not valid {fmt.upper()}: {err}") from err


def _check_label(label: str, path: Path, line: int) -> str:
    if printable(label) != label:
        raise DataError(f"{path} line {line}: the label {label!r} has control characters")
    return label


def _read_fasttext(path: Path, require_labels: bool, multi_label: bool) -> Dataset:
    """fastText lines: `__label__a __label__b text`."""
    texts, labels = [], []
    try:
        with open(path, encoding="utf-8-sig") as f:
            for n, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                names, text = fasttext_line(line)
                found = tuple(_check_label(name, path, n) for name in names)
                if any(not lab for lab in found):
                    raise DataError(f"{path} line {n}: an empty label ('{FASTTEXT_LABEL}' with no name)")
                if not text.strip():
                    raise DataError(f"{path} line {n}: no text after the labels")
                texts.append(text)
                labels.append(found)
    except UnicodeDecodeError as err:
        raise DataError(f"{path} is not UTF-8 text (byte 0x{err.object[err.start]:02x} at offset "
                        f"{err.start}); re-save it as UTF-8") from err
    if not texts:
        raise DataError(f"{path} has no lines (expected '__label__LABEL text' lines)")
    if not require_labels:
        return Dataset(texts, [], str(path))
    if not any(labels):
        raise DataError(f"{path} has no '__label__' on any line (expected '__label__LABEL text' lines)")
    multi = multi_label or any(len(x) != 1 for x in labels)
    return Dataset(texts, labels if multi else [x[0] for x in labels], str(path), multi_label=multi)


def load_dataset(path: str | Path, text_column: str | None = None, label_column: str | None = None,
                 require_labels: bool = True, label_sep: str | None = None, multi_label: bool = False) -> Dataset:
    """Read a labelled file (.csv, .tsv, .jsonl or fastText .txt, UTF-8) into a Dataset.

    `label_sep` splits a CSV/TSV label field into several labels (multi-label data); `multi_label`
    reads even one label per text as multi-label data. Raises DataError naming the file and the
    problem: missing, unreadable, wrong encoding, empty, missing columns, empty texts or labels.
    """
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"{path}: unknown file type {path.suffix or '(none)'!r} "
                        f"(expected .csv, .tsv, .jsonl or fastText .txt)")
    if not path.exists():
        raise DataError(f"{path} does not exist")
    if not path.is_file():
        raise DataError(f"{path} is not a file")
    if label_sep is not None and not label_sep:
        raise DataError("--label-sep must not be empty")
    if fmt == "fasttext":
        try:
            return _read_fasttext(path, require_labels, multi_label)
        except OSError as err:
            raise DataError(f"cannot read {path}: {err.strerror}") from err
    try:
        columns, rows = _read_rows(path, fmt)
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror}") from err
    if not rows:
        raise DataError(f"{path} has no data rows (expected a header and at least one row)")
    text_col, label_col = find_columns(columns, text_column, label_column, require_labels, path)
    if fmt == "jsonl":
        get_text, get_label = (lambda row: row.get(text_col)), (lambda row: row.get(label_col))
    else:  # rows are lists of fields; a short row lacks its last columns
        ti, li = columns.index(text_col), columns.index(label_col) if label_col is not None else -1
        get_text = lambda row: row[ti] if ti < len(row) else None  # noqa: E731
        get_label = lambda row: row[li] if 0 <= li < len(row) else None  # noqa: E731
    lists = fmt == "jsonl" and label_col is not None and any(isinstance(get_label(row), list) for _, row in rows)
    multi = multi_label or label_sep is not None or lists
    texts, labels = [], []
    for line, row in rows:
        text = get_text(row)
        text = "" if text is None else str(text)
        if not text.strip():
            raise DataError(f"{path} line {line}: empty text in column {text_col!r}")
        texts.append(text)
        if label_col is None:
            continue
        label = get_label(row)
        if isinstance(label, dict) or isinstance(label, list) and not all(isinstance(x, (str, int)) for x in label):
            raise DataError(f"{path} line {line}: the label in column {label_col!r} must be a string, a number "
                            f"or a list of them (got {json.dumps(label)[:40]})")
        if multi:
            if isinstance(label, list):
                parts = [str(x).strip() for x in label]
            elif label is None or not str(label).strip():
                parts = []  # no label: "none of these"
            else:
                parts = [x.strip() for x in str(label).split(label_sep)] if label_sep else [str(label).strip()]
            if any(not x for x in parts):
                raise DataError(f"{path} line {line}: an empty label in {str(label)[:40]!r}"
                                + (f" (split on {label_sep!r})" if label_sep else ""))
            labels.append(tuple(dict.fromkeys(_check_label(x, path, line) for x in parts)))
            continue
        label = "" if label is None else str(label).strip()
        if not label:
            raise DataError(f"{path} line {line}: empty label in column {label_col!r}")
        labels.append(_check_label(label, path, line))
    return Dataset(texts, labels, str(path), multi_label=multi and label_col is not None)


def iter_lines(path: str | Path) -> Iterator[str]:
    """Non-blank lines of a UTF-8 file ('-': stdin), read lazily, without their line endings."""
    try:
        f = sys.stdin if str(path) == "-" else open(path, encoding="utf-8")
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


def read_texts(path: str | Path, text_column: str | None = None) -> list[str]:
    """Texts of a file: the text column of a .csv/.tsv/.jsonl file, else one text per line."""
    if Path(path).suffix.lower() in FORMATS:
        return load_dataset(path, text_column=text_column, require_labels=False).texts
    return list(iter_lines(path))
