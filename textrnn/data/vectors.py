"""Data stage: pretrained word vectors from the files people have, read as a stream.

Formats (found from the content, not the name):
- text, one word per line followed by its numbers: GloVe (no header), word2vec and fastText `.vec`
  (a first line `count dimension`); gzip-compressed when the file starts with gzip's magic bytes;
- word2vec binary (`.bin`): a `count dimension` header line, then each word, a space and its
  float32 numbers.

Only the vectors of wanted words are kept (exact match first, then the lowercased word), so a
multi-GB file never sits in memory. Real files are tolerated: lines that are not UTF-8, have the
wrong number of values or odd whitespace are skipped and counted; a word seen twice keeps its first
vector. A file with no usable vector, or vectors of inconsistent length, is a DataError.
"""

from __future__ import annotations

import gzip
import hashlib
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from textrnn.errors import DataError

MAX_BAD_SHARE = 0.2  # more bad lines than this (of those read) and the file is not a vectors file


@dataclass
class Vectors:
    """The vectors of the wanted words found in a file, and what reading it met."""

    path: str
    sha256: str
    dim: int
    vectors: dict[str, np.ndarray]  # wanted word -> float32 (dim,)
    read: int = 0  # vector lines read
    bad_lines: int = 0
    duplicates: int = 0
    lowercase_matches: int = 0
    format: str = ""
    notes: list[str] = field(default_factory=list)

    def matrix(self) -> np.ndarray:
        """Every kept vector as rows (for statistics)."""
        return np.stack(list(self.vectors.values())) if self.vectors else np.zeros((0, self.dim), np.float32)


def _open(path: Path) -> BinaryIO:
    with open(path, "rb") as f:
        magic = f.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def _header(line: bytes) -> tuple[int, int] | None:
    parts = line.split()
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        return int(parts[0]), int(parts[1])
    return None


def _looks_binary(f: BinaryIO, dim: int) -> bool:
    """After a header: is the first record word + space + raw float32s (word2vec binary) rather than a
    text line of `dim` numbers?"""
    line = f.read(64 + 32 * dim).split(b"\n", 1)[0]
    try:
        parts = line.decode("utf-8").split()
        np.asarray(parts[-dim:], dtype=np.float32)
    except (UnicodeDecodeError, ValueError):
        return True
    return len(parts) < dim + 1


def _text_records(f: BinaryIO, dim: int | None, stats: Vectors) -> Iterator[tuple[str, np.ndarray]]:
    for raw in f:
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            stats.bad_lines += 1
            continue
        parts = line.split()
        if dim is None:  # GloVe: the dimension is what the first line has
            dim = len(parts) - 1
            if dim < 1:
                stats.bad_lines += 1
                dim = None
                continue
        if len(parts) < dim + 1:
            stats.bad_lines += 1
            continue
        word = " ".join(parts[: len(parts) - dim])  # a few files have words with spaces
        try:
            values = np.asarray(parts[len(parts) - dim:], dtype=np.float32)
        except ValueError:
            stats.bad_lines += 1
            continue
        if stats.dim == 0:
            stats.dim = dim
        yield word, values


def _binary_records(f: BinaryIO, count: int, dim: int, stats: Vectors) -> Iterator[tuple[str, np.ndarray]]:
    stats.dim = dim
    size = 4 * dim
    for _ in range(count):
        word = bytearray()
        while True:
            ch = f.read(1)
            if not ch:
                return
            if ch == b" ":
                break
            if ch != b"\n":
                word += ch
        data = f.read(size)
        if len(data) < size:
            stats.bad_lines += 1
            return
        try:
            text = word.decode("utf-8")
        except UnicodeDecodeError:
            stats.bad_lines += 1
            continue
        yield text, np.frombuffer(data, dtype="<f4").copy()


def read_vectors(path: str | Path, wanted: set[str] | Callable[[str], bool],
                 lowercase_match: bool = True) -> Vectors:
    """The vectors of the `wanted` words in a vectors file (exact match, then lowercased)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist" if not path.exists() else f"{path} is not a file")
    want = wanted.__contains__ if isinstance(wanted, set) else wanted
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    stats = Vectors(str(path), digest.hexdigest(), 0, {})
    exact: dict[str, np.ndarray] = {}
    lower: dict[str, np.ndarray] = {}
    try:
        with _open(path) as f:
            first = f.readline()
            if not first.strip():
                raise DataError(f"{path} is empty: no word vectors in it")
            header = _header(first)
            if header is not None:
                count, dim = header
                pos = f.tell()
                binary = _looks_binary(f, dim)
                f.seek(pos)
                stats.format = "word2vec binary" if binary else "text with a count header (word2vec/fastText .vec)"
                records = _binary_records(f, count, dim, stats) if binary else _text_records(f, dim, stats)
            else:
                stats.format = "text without a header (GloVe)"
                records = _text_records(_chain(first, f), None, stats)
            for word, values in records:
                stats.read += 1
                if len(values) != stats.dim:
                    stats.bad_lines += 1
                    continue
                if want(word):
                    if word in exact:
                        stats.duplicates += 1
                    else:
                        exact[word] = values
                elif lowercase_match:
                    low = word.lower()
                    if low != word and want(low) and low not in lower:
                        lower[low] = values
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise DataError(f"cannot read {path}: {err}") from err
    if stats.read == 0:
        raise DataError(f"{path} has no word vectors (expected lines 'word 0.1 0.2 ...', optionally after a "
                        f"'count dimension' header, or word2vec binary)")
    if stats.bad_lines > MAX_BAD_SHARE * (stats.read + stats.bad_lines):
        raise DataError(f"{path} is not a consistent vectors file: {stats.bad_lines:,} of "
                        f"{stats.read + stats.bad_lines:,} lines have the wrong number of values or are not "
                        "UTF-8")
    stats.lowercase_matches = sum(1 for w in lower if w not in exact)
    stats.vectors = {**lower, **exact}
    return stats


def _chain(first: bytes, rest: BinaryIO) -> io.BufferedReader:
    """A stream that reads `first` again, then the rest."""
    return io.BufferedReader(_Prefixed(first, rest))


class _Prefixed(io.RawIOBase):
    def __init__(self, prefix: bytes, rest: BinaryIO) -> None:
        self.prefix, self.rest = prefix, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:
        if self.prefix:
            n = min(len(buffer), len(self.prefix))
            buffer[:n] = self.prefix[:n]
            self.prefix = self.prefix[n:]
            return n
        data = self.rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
