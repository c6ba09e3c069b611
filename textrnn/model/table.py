"""The linear n-gram model's weight table, stored sparse: each feature row's TOP_K largest weights, fp16.

A fitted one-vs-rest table (features, classes) is nearly all zeros: on cooking (38,034 x 731), 98% of
the weights are within 1/127 of their class's largest. Each feature row keeps its k = min(TOP_K,
classes) weights of largest magnitude, in a fixed-width sparse layout (ELLPACK):
    cols  (features + 1, k) int16 (int32 past 32,767 classes)  their classes, in increasing order
    vals  (features + 1, k) float16                            their weights (row 0, not a feature: zeros)
and a text's scores are its TF-IDF values times vals, added into their classes (a ScatterElements
with reduction add in the graph). Each weight is off by at most the largest weight dropped from its
row, plus fp16 rounding (2^-11 of it): `SparseTable.max_error`. Measured (cooking, sst2, trec) in
benchmarks/results-model-size.md. No torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TOP_K = 32  # weights kept per feature row (cooking, re-scored: 16, 32, 64 and 128 all within 0.002 micro-F1)


@dataclass(frozen=True)
class SparseTable:
    cols: np.ndarray  # (features + 1, k) int16 or int32: the classes of each row's kept weights
    vals: np.ndarray  # (features + 1, k) float16: the kept weights
    classes: int
    max_error: float = 0.0  # the most any weight of the table differs from the fitted one

    def dense(self) -> np.ndarray:
        """The table it computes, (features + 1, classes) fp32 (row 0: not a feature, zeros)."""
        out = np.zeros((len(self.cols), self.classes), dtype=np.float32)
        np.add.at(out, (np.arange(len(self.cols))[:, None], self.cols.astype(np.int64)), self.vals.astype(np.float32))
        return out

    @property
    def nbytes(self) -> int:
        return self.cols.nbytes + self.vals.nbytes


def sparse(weight: np.ndarray, top_k: int = TOP_K) -> SparseTable:
    """`weight` (features, classes), without the zero row 0, as a SparseTable."""
    weight = np.asarray(weight, dtype=np.float32)
    features, classes = weight.shape
    k = max(1, min(top_k, classes))
    magnitude = np.abs(weight)
    kept = np.sort(np.argpartition(-magnitude, k - 1, axis=1)[:, :k], axis=1) if features else \
        np.zeros((0, k), dtype=np.int64)
    vals = np.take_along_axis(weight, kept, axis=1)
    dropped = magnitude.copy()
    np.put_along_axis(dropped, kept, 0.0, axis=1)
    max_error = float(dropped.max(initial=0.0) + magnitude.max(initial=0.0) * 2.0**-11)
    col_type = np.int16 if classes <= np.iinfo(np.int16).max else np.int32
    cols = np.zeros((features + 1, k), dtype=col_type)
    cols[1:] = kept
    table = np.zeros((features + 1, k), dtype=np.float16)
    table[1:] = vals
    return SparseTable(cols, table, classes, max_error)
