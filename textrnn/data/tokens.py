"""Data stage, compact storage: many texts, or their token ids, in a few flat numpy arrays.

A Python list of a million strings costs about 57 bytes a text beyond the characters themselves
(a str object and a pointer), and a list of a million id arrays about 120 bytes a text beyond the
ids (an ndarray object), with each id in 8 bytes. `TextList` keeps texts as UTF-8 bytes in one
buffer with their positions (16 bytes a text; subsets share the buffer), `TokenArrays` keeps ids
in one uint16 (vocabulary up to 65,536) or int32 buffer with offsets: memory grows with the
characters and tokens, not with Python objects. Both read like the lists they replace (len, [i],
iteration; a slice of a TextList is a list of str), so the stages that take lists take them as they
are.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, islice
from typing import TYPE_CHECKING, Any, overload

import numpy as np

if TYPE_CHECKING:
    from tokenizers import Tokenizer

UNK_ID = 1  # textrnn.tokenizer.UNK_ID (not imported: the data stage comes before the tokenizer)
ENCODE_CHUNK = 8192  # texts tokenized at a time (Encoding objects are large: hold few at a time)
# the network's hashed-bigram bag (--ngram-buckets) multiplies the left token by this prime: a bucket
# count may be any number (100,000, 2**20), and a multiplier that shares a factor with it puts every
# bigram with the same right token into a few buckets (with the vocabulary size as multiplier,
# 20,000 words and 100,000 buckets: 5). The TF-IDF model multiplies by the vocabulary size: its
# bucket counts are primes (textrnn.model.tfidf.BUCKET_SIZES). Both are recorded by what the folder
# stores (the settings, the vocabulary size), so every model folder keeps its own.
BAG_MULTIPLIER = 1_000_003


def bigram_keys(left: Any, right: Any, vocab_size: int, buckets: int, multiplier: int | None = None) -> Any:
    """The n-gram key of each bigram (left, right) of token ids: vocab_size + (left * m + right) mod
    buckets, m = `multiplier` or else vocab_size (keys below vocab_size are the unigrams, their ids).
    The one bigram hash, for the TF-IDF model (m = vocab_size) and the network's bag (m = BAG_MULTIPLIER),
    computed the same on ints, numpy arrays (training, explanations) and torch tensors (the graph)."""
    return vocab_size + (left * (vocab_size if multiplier is None else multiplier) + right) % buckets


class TextList(Sequence[str]):
    """Texts as UTF-8 bytes in one buffer, each at its start and end: `texts[i]` is a str, `texts[a:b]`
    a list of str. `take` (a subset, as the validation split makes) shares the buffer: no text is copied."""

    def __init__(self, data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> None:
        self.data, self.starts, self.ends = data, starts, ends  # uint8 (bytes,), int64 (n,), int64 (n,)

    @classmethod
    def from_chunks(cls, chunks: Iterable[Sequence[str]]) -> TextList:
        """Build from chunks of texts (each chunk a list; one chunk's Python objects in memory at a time)."""
        builder = TextListBuilder()
        for chunk in chunks:
            builder.extend(chunk)
        return builder.build()

    @classmethod
    def of(cls, texts: Iterable[str]) -> TextList:
        return cls.from_chunks([list(texts)])

    def __len__(self) -> int:
        return len(self.starts)

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            data, starts, ends = self.data, self.starts[i].tolist(), self.ends[i].tolist()
            return [data[a:b].tobytes().decode("utf-8") for a, b in zip(starts, ends, strict=True)]
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"text {i} of {n}")
        return self.data[self.starts[i]: self.ends[i]].tobytes().decode("utf-8")

    def __iter__(self) -> Iterator[str]:
        for start in range(0, len(self), ENCODE_CHUNK):
            yield from self[start: start + ENCODE_CHUNK]

    def take(self, index: Sequence[int] | np.ndarray) -> TextList:
        """The texts at `index`, in that order (sharing this list's buffer)."""
        index = np.asarray(index, dtype=np.int64)
        return TextList(self.data, self.starts[index], self.ends[index])

    @property
    def nbytes(self) -> int:
        """Bytes of the buffer (shared with lists taken from this one) and of the positions."""
        return int(self.data.nbytes + self.starts.nbytes + self.ends.nbytes)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, (TextList, list, tuple)) and len(self) == len(other) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"TextList({len(self):,} texts, {self.nbytes / 2**20:.1f} MB)"


class TextListBuilder:
    """Appends texts a chunk at a time to one growing buffer (a bytearray grows in place: no second copy)."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.lengths: list[np.ndarray] = []

    def extend(self, texts: Sequence[str]) -> None:
        if not texts:
            return
        encoded = [t.encode("utf-8") for t in texts]
        self.lengths.append(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)))
        self.data += b"".join(encoded)

    def build(self) -> TextList:
        data = np.frombuffer(self.data, dtype=np.uint8) if self.data else np.empty(0, np.uint8)
        lengths = np.concatenate(self.lengths) if self.lengths else np.empty(0, np.int64)
        self.data, self.lengths = bytearray(), []
        ends = np.cumsum(lengths, dtype=np.int64)
        return TextList(data, ends - lengths, ends)


class TokenArrays(Sequence[np.ndarray]):
    """Token ids of many texts in one flat array with offsets: `ids[i]` is text i's ids (a view)."""

    def __init__(self, flat: np.ndarray, offsets: np.ndarray) -> None:
        self.flat, self.offsets = flat, offsets  # uint16 or int32 (tokens,), int64 (n + 1,)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return self.flat[self.offsets[i]: self.offsets[i + 1]]

    def __iter__(self) -> Iterator[np.ndarray]:
        flat, offsets = self.flat, self.offsets.tolist()
        for a, b in zip(offsets[:-1], offsets[1:], strict=True):
            yield flat[a:b]

    @property
    def lengths(self) -> np.ndarray:
        """Each text's number of tokens."""
        return np.diff(self.offsets)

    def buffers(self) -> list[np.ndarray]:
        """The arrays that hold everything (to fingerprint the data)."""
        return [self.flat, self.lengths]

    @property
    def nbytes(self) -> int:
        return int(self.flat.nbytes + self.offsets.nbytes)

    def __repr__(self) -> str:
        return f"TokenArrays({len(self):,} texts, {len(self.flat):,} tokens, {self.flat.dtype})"


def id_dtype(vocab_size: int) -> np.dtype:
    """The smallest integer type that holds every id of a vocabulary."""
    return np.dtype(np.uint16) if vocab_size <= np.iinfo(np.uint16).max + 1 else np.dtype(np.int32)


def encode_compact(tokenizer: Tokenizer, texts: Iterable[str], chunk: int = ENCODE_CHUNK) -> TokenArrays:
    """Token ids of `texts` (truncated, unpadded; [UNK] for a text with none, as `tokenizer.encode`
    gives), tokenized a chunk at a time into compact storage."""
    dtype = id_dtype(tokenizer.get_vocab_size())
    batch_encode = getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)
    flats, lengths = [], []
    it = iter(texts)
    while True:
        batch = list(islice(it, chunk))
        if not batch:
            break
        ids = [enc.ids or [UNK_ID] for enc in batch_encode(batch, add_special_tokens=False)]
        n = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        flats.append(np.fromiter(chain.from_iterable(ids), dtype=dtype, count=int(n.sum())))
        lengths.append(n)
    flat = np.concatenate(flats) if flats else np.empty(0, dtype)
    n = np.concatenate(lengths) if lengths else np.empty(0, np.int64)
    return TokenArrays(flat, np.concatenate([[0], np.cumsum(n, dtype=np.int64)]))
