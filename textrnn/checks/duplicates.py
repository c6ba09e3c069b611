"""Checks, duplicates: the same text twice (after normalising case, whitespace and punctuation), near
duplicates (MinHash over word shingles with locality-sensitive hashing, then the exact Jaccard
similarity of each candidate pair), duplicates whose labels disagree, and texts of a validation or
test file that are also training texts (leakage).

The near-duplicate search never compares all pairs: every text gets a signature of `PERMUTATIONS`
minimum hashes (numpy, a chunk of texts at a time, so memory grows with the number of texts, not
its square); texts whose signatures agree on one of `BANDS` bands are candidates; a candidate pair is
kept when its shingle sets' Jaccard similarity is at least the threshold. A band bucket larger than
`MAX_BUCKET` is cut (texts that share so much are found through their other bands or are exact
duplicates, which are folded to one text before the search).
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PERMUTATIONS, BANDS = 128, 16  # 16 bands of 8 rows: a pair at Jaccard 0.8 is a candidate with p 0.95, at 0.5 with 0.06
SHINGLE = 3  # words per shingle (texts shorter than that are one shingle)
MAX_BUCKET = 64
_PRIME = (1 << 31) - 1
_WORD = re.compile(r"\w+")


def normalise(text: str) -> str:
    """The text compared for duplicates: NFKC, case-folded, punctuation and symbols dropped, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_WORD.findall(text))


@dataclass
class Group:
    """Rows (0-based indices) holding one normalised text; `labels` their labels."""

    rows: list[int]
    labels: list

    @property
    def conflict(self) -> bool:
        return len({_key(x) for x in self.labels}) > 1


def _key(label: object) -> object:
    return tuple(sorted(label)) if isinstance(label, tuple) else label


def exact_groups(keys: Sequence[str], labels: Sequence) -> list[Group]:
    """Groups of two or more rows with the same normalised text (empty normalised texts left out)."""
    where: dict[str, list[int]] = defaultdict(list)
    for i, key in enumerate(keys):
        if key:
            where[key].append(i)
    return [Group(rows, [labels[i] for i in rows]) for rows in where.values() if len(rows) > 1]


def shingles(key: str) -> set[int]:
    """CRC32 hashes of the word `SHINGLE`-grams of a normalised text."""
    words = key.split()
    if len(words) <= SHINGLE:
        return {zlib.crc32(key.encode())} if key else set()
    return {zlib.crc32(" ".join(words[i:i + SHINGLE]).encode()) for i in range(len(words) - SHINGLE + 1)}


def signatures(sets: Sequence[set[int]], seed: int = 1, chunk: int = 1 << 16) -> np.ndarray:
    """(n, PERMUTATIONS) uint32 MinHash signatures: the minimum of (a*h + b) mod 2^31-1 over each set,
    computed about `chunk` shingles at a time (so the work matrix stays near chunk x 128 x 8 bytes)."""
    rng = np.random.default_rng(seed)
    a = rng.integers(1, _PRIME, PERMUTATIONS, dtype=np.uint64)
    b = rng.integers(0, _PRIME, PERMUTATIONS, dtype=np.uint64)
    out = np.empty((len(sets), PERMUTATIONS), dtype=np.uint32)
    start = 0
    while start < len(sets):
        stop, total = start, 0
        while stop < len(sets) and (total == 0 or total + len(sets[stop]) <= chunk):
            total += max(len(sets[stop]), 1)
            stop += 1
        part = [s or {0} for s in sets[start:stop]]
        sizes = np.fromiter((len(s) for s in part), dtype=np.int64, count=len(part))
        hashes = np.fromiter((h for s in part for h in s), dtype=np.uint64, count=int(sizes.sum()))
        values = (hashes[:, None] * a[None, :] + b[None, :]) % np.uint64(_PRIME)  # h < 2^32, a < 2^31: no overflow
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        out[start:stop] = np.minimum.reduceat(values, offsets, axis=0)
        start = stop
    return out


def candidate_pairs(sig: np.ndarray) -> set[tuple[int, int]]:
    """Pairs (i < j) whose signatures agree on at least one band."""
    rows = PERMUTATIONS // BANDS
    pairs: set[tuple[int, int]] = set()
    for band in range(BANDS):
        part = np.ascontiguousarray(sig[:, band * rows:(band + 1) * rows])
        keys = part.view(np.dtype((np.void, part.dtype.itemsize * rows))).ravel()
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        starts = np.flatnonzero(np.concatenate([[True], sorted_keys[1:] != sorted_keys[:-1]]))
        sizes = np.diff(np.concatenate([starts, [len(keys)]]))
        for start, size in zip(starts[sizes > 1], sizes[sizes > 1], strict=True):
            members = sorted(order[start:start + min(size, MAX_BUCKET)].tolist())
            pairs.update((members[x], members[y]) for x in range(len(members)) for y in range(x + 1, len(members)))
    return pairs


def jaccard(x: set[int], y: set[int]) -> float:
    return len(x & y) / len(x | y) if x or y else 1.0


@dataclass
class NearPair:
    """Two rows (indices into the combined list) whose texts are near duplicates, and their similarity."""

    first: int
    second: int
    similarity: float


def near_pairs(keys: Sequence[str], threshold: float = 0.8, seed: int = 1) -> list[NearPair]:
    """Pairs of distinct normalised texts with shingle Jaccard similarity >= threshold, over one
    representative row per distinct text (exact duplicates are the other check's)."""
    first: dict[str, int] = {}
    for i, key in enumerate(keys):
        if key:
            first.setdefault(key, i)
    reps = list(first.values())
    sets = [shingles(keys[i]) for i in reps]
    if len(reps) < 2:
        return []
    found = []
    for x, y in sorted(candidate_pairs(signatures(sets, seed))):
        sim = jaccard(sets[x], sets[y])
        if sim >= threshold:
            found.append(NearPair(reps[x], reps[y], sim))
    return found


@dataclass
class Leak:
    """A row of another split (its index there) whose text is also training row `train_row`'s."""

    split: str
    row: int
    train_row: int
    similarity: float  # 1.0: the same normalised text


def leaks(train_keys: Sequence[str], others: dict[str, Sequence[str]], near: bool = True,
          threshold: float = 0.8, seed: int = 1) -> list[Leak]:
    """Rows of the other splits whose normalised text is a training text (exactly, or near when `near`)."""
    where: dict[str, int] = {}
    for i, key in enumerate(train_keys):
        if key:
            where.setdefault(key, i)
    found = []
    exact: set[tuple[str, int]] = set()
    for split, keys in others.items():
        for i, key in enumerate(keys):
            if key in where:
                found.append(Leak(split, i, where[key], 1.0))
                exact.add((split, i))
    if not near:
        return found
    combined = list(train_keys)
    owner = [("train", i) for i in range(len(train_keys))]
    for split, keys in others.items():
        combined.extend(keys)
        owner.extend((split, i) for i in range(len(keys)))
    seen: set[tuple[str, int]] = set()
    for pair in near_pairs(combined, threshold, seed):
        a, b = owner[pair.first], owner[pair.second]
        if (a[0] == "train") == (b[0] == "train"):
            continue
        train, other = (a, b) if a[0] == "train" else (b, a)
        if other in exact or other in seen:
            continue
        seen.add(other)
        found.append(Leak(other[0], other[1], train[1], pair.similarity))
    return sorted(found, key=lambda leak: (leak.split, leak.row))
