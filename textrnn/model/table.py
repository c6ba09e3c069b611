"""The linear n-gram model's weight table, stored compact: per-column int8 codes of the rows that count.

A fitted table (features, classes) of fp32 weights becomes
    index  (features + 1,) int32   the code row of each feature row (0: a row of zeros)
    codes  (kept + 1, classes) int8  round(weight / scale), row 0 all zeros
    scale  (classes,) fp32          max |weight| of the column / 127
and the weight of feature row r, class c is codes[index[r], c] * scale[c]. A feature row whose codes
are all within +-`prune` (its weights near zero for every class: rare n-grams of a one-vs-rest model)
keeps its idf but no row of codes. Each weight is off by at most scale[c] / 2 (rounding), or
(prune + 1/2) * scale[c] where its row was pruned, so a logit moves by at most that times the sum of
the text's TF-IDF values (at most sqrt(n-grams), the vector being L2-normalised).
Measured on cooking, sst2 and trec in benchmarks/results-model-size.md. No torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PRUNE = 0  # codes: a row whose codes all lie within +-PRUNE is dropped (0: only rows that round to zero)


@dataclass(frozen=True)
class CompactTable:
    index: np.ndarray  # (features + 1,) int32: feature row -> code row, 0 for a row of zeros
    codes: np.ndarray  # (kept + 1, classes) int8, row 0 zeros
    scale: np.ndarray  # (classes,) float32

    def dense(self) -> np.ndarray:
        """The table it stands for, (features + 1, classes) fp32 (row 0: not a feature, zeros)."""
        return self.codes[self.index].astype(np.float32) * self.scale

    @property
    def nbytes(self) -> int:
        return self.index.nbytes + self.codes.nbytes + self.scale.nbytes

    def max_error(self, prune: int = PRUNE) -> float:
        """The most any weight differs from the fp32 one (see the module's note)."""
        return float((prune + 0.5) * self.scale.max()) if len(self.scale) else 0.0


def compact(weight: np.ndarray, prune: int = PRUNE) -> CompactTable:
    """`weight` (features, classes), without the zero row 0, as a CompactTable."""
    weight = np.asarray(weight, dtype=np.float32)
    peak = np.abs(weight).max(axis=0) if len(weight) else np.zeros(weight.shape[1], np.float32)
    scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    codes = np.clip(np.rint(weight / scale), -127, 127).astype(np.int8)
    kept = np.flatnonzero(np.abs(codes).max(axis=1, initial=0) > prune)
    index = np.zeros(len(weight) + 1, dtype=np.int32)
    index[kept + 1] = np.arange(1, len(kept) + 1, dtype=np.int32)
    table = np.zeros((len(kept) + 1, weight.shape[1]), dtype=np.int8)
    table[1:] = codes[kept]
    return CompactTable(index, table, scale)
