"""Inference stage: each token alone. The model's probabilities of one-token texts depend on the token
id only, so an explanation's "each token alone" rows are run once per token and kept (`AloneCache`):
later texts read them for free. No torch.

What is kept is what the shipped ONNX model computes for that one-token text, bit for bit: ONNX
Runtime gave a one-token row the same result whatever batch of one-token rows it ran in (300 tokens
of the SST-2 model, batches of 1 to 300; tests/test_explain.py checks it on the tiny model, and
benchmarks/explain.py checks that every explanation equals the one made with an empty cache). Rows of
several tokens can differ in their last bits from one batch to another.

The cache is bounded by the vocabulary: one row of probabilities per token id (vocabulary x classes
float32, allocated as zeros, so only the rows written take memory; SST-2's default model: 7,209
tokens x 2 classes, 58 KB).
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable

import numpy as np


class AloneCache:
    """Probabilities (classes,) of the one-token text of each token id, computed on first use.

    `run` maps a batch of token ids (rows, tokens) to probabilities (rows, classes): the predictor's
    one ONNX Runtime run. Safe to share between threads (two threads may compute the same new token:
    they write the same numbers).
    """

    def __init__(self, run: Callable[[np.ndarray], np.ndarray], vocab_size: int, classes: int) -> None:
        self.run = run
        self.table = np.zeros((vocab_size, classes), dtype=np.float32)
        self.seen = np.zeros(vocab_size, dtype=bool)
        self.lock = threading.Lock()
        self.runs = 0  # batches run to fill it (how cold it was)

    def __len__(self) -> int:
        return int(self.seen.sum())

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        """Probabilities (len(ids), classes) of each token alone; the tokens not seen before run in one
        batch of one-token rows."""
        new = ids[~self.seen[ids]]
        if len(new):
            new = np.unique(new)
            probs = self.run(new[:, None])
            with self.lock:
                self.table[new] = probs
                self.seen[new] = True
                self.runs += 1
        return self.table[ids]

    def unseen(self, ids: np.ndarray) -> bool:
        """Whether some of `ids` have not run yet."""
        return not self.seen[ids].all()

    def fill_in_background(self, rows: int = 512, then: Callable[[], None] | None = None) -> threading.Thread:
        """Run every token not seen yet alone, `rows` at a time, on a thread of its own (the second core
        while one text at a time is explained), then `then` (more set-up work for that thread); at exit
        it stops after the batch it is running."""
        stop = threading.Event()

        def fill() -> None:
            for start in range(0, len(self.seen), rows):
                if stop.is_set():
                    return
                part = np.arange(start, min(start + rows, len(self.seen)))
                part = part[~self.seen[part]]
                if len(part):
                    self(part)
            if then is not None:
                then()

        thread = threading.Thread(target=fill, name="textrnn-alone-fill", daemon=True)
        thread.start()
        atexit.register(lambda: (stop.set(), thread.join()))
        return thread

    def clear(self) -> None:
        """Forget every token (the next texts run their tokens again)."""
        with self.lock:
            self.seen[:] = False
