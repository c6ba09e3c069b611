"""Training stage: how the data is cut into batches and epochs, and the seeds. numpy only."""

from __future__ import annotations

import random

import numpy as np

from textrnn.config import AUTO_EPOCHS, AUTO_PATIENCE, MIN_PATIENCE_STEPS, MIN_STEPS, TrainConfig


def plan_epochs(config: TrainConfig, steps_per_epoch: int) -> tuple[int, int]:
    """(most epochs, patience) for a fit: the config's where given; otherwise AUTO_EPOCHS and
    AUTO_PATIENCE, raised on small data so that training can run MIN_STEPS optimizer steps and
    waits MIN_PATIENCE_STEPS steps for a better epoch. On 500 rows (15 steps an epoch) 20 epochs
    are 300 steps: the network has barely started to learn when they end."""
    steps = max(steps_per_epoch, 1)
    epochs = config.epochs or max(AUTO_EPOCHS, -(-MIN_STEPS // steps))
    patience = config.patience or max(AUTO_PATIENCE, -(-MIN_PATIENCE_STEPS // steps))
    return epochs, patience


def ema_decay(ema: float, planned_steps: int) -> float:
    """The weight average's decay per step: `ema`, capped so that the average spans at most about
    a tenth of the planned steps and keeps up on small data (the cap binds below 2,000 steps at
    0.995; the benchmark datasets each plan more than 3,000)."""
    return max(0.0, min(ema, 1.0 - 10.0 / max(planned_steps, 1)))


def member_seed(seed: int, member: int, members: int) -> int:
    """Member i of n trains from seed * n + i: different seeds give disjoint member seeds, and a
    single model trains from the seed itself."""
    return seed * members + member


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def length_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator | None = None,
                   min_group: int | None = None) -> list[np.ndarray]:
    """Batches of texts of exactly equal length where there are enough of them, so most batches
    need no padding (no steps spent on it); the rest are pooled,
    sorted by length and batched with little padding. A length needs `min_group` texts (default
    half a batch) for batches of its own. Shuffled when `rng` is given.
    """
    min_group = (batch_size + 1) // 2 if min_group is None else min_group
    batches, rest = [], []
    for length in np.unique(lengths):
        idx = np.flatnonzero(lengths == length)
        if rng is not None:
            rng.shuffle(idx)
        if len(idx) < min_group:
            rest.append(idx)
            continue
        n = -(-len(idx) // batch_size)  # ceil: equal-sized batches of at most batch_size
        batches.extend(np.array_split(idx, n))
    if rest:
        pooled = np.concatenate(rest)  # ascending length, as np.unique sorts
        batches.extend(pooled[i: i + batch_size] for i in range(0, len(pooled), batch_size))
    if rng is not None:
        rng.shuffle(batches)
    return batches
