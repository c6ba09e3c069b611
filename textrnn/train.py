"""Training stage [torch]: the fit loop with validation each epoch, early stopping and clean Ctrl-C.

Library code: reports progress through a callback, never prints.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np
import torch
from torch import nn

from textrnn.config import AUTO_EPOCHS, AUTO_PATIENCE, MIN_PATIENCE_STEPS, MIN_STEPS, TrainConfig
from textrnn.errors import DeviceError, TrainingError
from textrnn.tokenizer import PAD_ID, UNK_ID, pad


@dataclass(frozen=True)
class EpochStats:
    """One epoch's training and validation numbers."""

    epoch: int
    loss: float
    accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float


@dataclass
class FitResult:
    """History of a fit and which epoch's weights the model holds afterwards."""

    history: list[EpochStats] = field(default_factory=list)
    best_epoch: int = 0
    stopped: str = "completed"  # completed | early_stopping | interrupted | diverged
    seconds: float = 0.0
    precision: str = "fp32"  # what ran: fp32 or bf16 (mixed precision)
    epochs: int = 0  # the most epochs and the patience this fit planned (see plan_epochs)
    patience: int = 0


class FitCallback(Protocol):
    def on_epoch_start(self, epoch: int, epochs: int, batches: int) -> None: ...
    def on_batch_end(self, loss: float) -> None: ...
    def on_epoch_end(self, stats: EpochStats, is_best: bool) -> None: ...
    def on_fit_end(self, result: FitResult) -> None: ...


def resolve_device(name: str) -> torch.device:
    """'auto' -> CUDA when torch can use it, else CPU; 'cuda' without CUDA is an error."""
    if name == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if name == "cuda":
        raise DeviceError("--device cuda: this torch build or machine has no usable CUDA GPU "
                          f"(torch {torch.__version__}); use --device cpu")
    return torch.device("cpu")


def native_bf16() -> bool:
    """Whether this CPU runs bfloat16 natively (AVX512-BF16 or AMX) in oneDNN, which the LSTM needs."""
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def resolve_precision(name: str, device: torch.device) -> torch.dtype:
    """'auto' -> bfloat16 on a CPU with native bfloat16, else float32.

    CUDA stays float32 under 'auto' (not yet measured there); 'bf16' forces it, except on a CPU
    without native bfloat16, where oneDNN has no LSTM kernel for it (an error, not a crash mid-fit).
    """
    if name == "bf16":
        if device.type == "cpu" and not native_bf16():
            raise DeviceError("--precision bf16: this CPU has no native bfloat16 (AVX512-BF16 or AMX), "
                              "which PyTorch's CPU LSTM needs; use --precision fp32 (or auto)")
        return torch.bfloat16
    if name == "auto" and device.type == "cpu" and native_bf16():
        return torch.bfloat16
    return torch.float32


def ema_decay(ema: float, planned_steps: int) -> float:
    """The weight average's decay per step: `ema`, capped so that the average spans at most about
    a tenth of the planned steps and keeps up on small data (the cap binds below 2,000 steps at
    0.995; the benchmark datasets each plan more than 3,000)."""
    return max(0.0, min(ema, 1.0 - 10.0 / max(planned_steps, 1)))


def plan_epochs(config: TrainConfig, steps_per_epoch: int) -> tuple[int, int]:
    """(most epochs, patience) for a fit: the config's where given; otherwise AUTO_EPOCHS and
    AUTO_PATIENCE, raised on small data so that training can run MIN_STEPS optimizer steps and
    waits MIN_PATIENCE_STEPS steps for a better epoch. On 500 rows (15 steps an epoch) 20 epochs
    are 300 steps: the network has barely started to learn when they end."""
    steps = max(steps_per_epoch, 1)
    epochs = config.epochs or max(AUTO_EPOCHS, -(-MIN_STEPS // steps))
    patience = config.patience or max(AUTO_PATIENCE, -(-MIN_PATIENCE_STEPS // steps))
    return epochs, patience


def member_seed(seed: int, member: int, members: int) -> int:
    """Member i of n trains from seed * n + i: different seeds give disjoint member seeds, and a
    single model trains from the seed itself."""
    return seed * members + member


def seed_everything(seed: int) -> None:
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


def fit_members(make_member: Callable[[], nn.Module], members: int, train_ids: list[np.ndarray],
                train_y: np.ndarray, val_ids: list[np.ndarray], val_y: np.ndarray, config: TrainConfig,
                callback: FitCallback | None = None,
                on_member: Callable[[int, int], None] | None = None) -> tuple[list[nn.Module], list[FitResult]]:
    """Train `members` models, each from its own seed (`member_seed`) built by `make_member`, one
    after the other. Ctrl-C keeps the members finished so far (and the interrupted one, at its best
    epoch, if it has finished one): fewer models than `members` come back. It is re-raised only when
    no member has a finished epoch."""
    models: list[nn.Module] = []
    results: list[FitResult] = []
    for i in range(members):
        if on_member:
            on_member(i, members)
        member_config = replace(config, seed=member_seed(config.seed, i, members))
        seed_everything(member_config.seed)
        model = make_member()
        try:
            result = fit(model, train_ids, train_y, val_ids, val_y, member_config, callback)
        except KeyboardInterrupt:
            if not models:
                raise
            break
        models.append(model.cpu().eval())
        results.append(result)
        if result.stopped == "interrupted":
            break
    return models, results


@torch.no_grad()
def predict_logits(model: nn.Module, ids: list[np.ndarray], batch_size: int = 256,
                   device: torch.device | None = None) -> np.ndarray:
    """Logits for each id array, in input order; batches are formed by length."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = np.zeros((len(ids), model.num_classes), dtype=np.float32)
    for idx in length_batches(np.array([len(x) for x in ids]), batch_size, min_group=8):
        batch = torch.from_numpy(pad([ids[j] for j in idx])).to(device)
        out[idx] = model(batch).float().cpu().numpy()
    model.train(was_training)
    return out


def _clip_gradients(params: list[nn.Parameter], max_norm: float) -> None:
    """clip_grad_norm_ without its multiply-by-one when the norm is within `max_norm` (most steps):
    the same result, without touching every gradient again."""
    grads = [p.grad for p in params if p.grad is not None]
    coef = max_norm / (torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))) + 1e-6)
    if coef < 1.0:
        torch._foreach_mul_(grads, coef)


def _loss_and_accuracy(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    t = torch.from_numpy(logits)
    loss = nn.functional.cross_entropy(t, torch.from_numpy(y)).item()
    return loss, float((logits.argmax(1) == y).mean())


def fit(model: nn.Module, train_ids: list[np.ndarray], train_y: np.ndarray,
        val_ids: list[np.ndarray], val_y: np.ndarray, config: TrainConfig,
        callback: FitCallback | None = None) -> FitResult:
    """Train with AdamW and cross-entropy, keeping the weights of the best validation epoch.

    With `config.ema`, an exponential moving average of the weights is kept beside them; each
    epoch validates (and may keep) the average instead of the last step's weights. The best epoch
    has the highest validation accuracy (ties: lower validation loss); training stops after
    `patience` epochs without a better one (epochs and patience: see `plan_epochs`), or after
    AUTO_PATIENCE once validation accuracy is 100% (only the loss can improve then: on a tiny set
    the small-data patience would otherwise run on for dozens of epochs). The forward
    pass runs in bfloat16 autocast where `config.precision` resolves to it (weights, gradients and
    validation stay float32).
    Ctrl-C ends training after the current batch and keeps the best epoch so far (re-raised if
    no epoch has finished). A loss that turns NaN or infinite ends training too: the best finished
    epoch is kept (stopped = "diverged"), or, with none, TrainingError says so.
    """
    device = resolve_device(config.device)
    model.to(device)
    seed_everything(config.seed)
    rng = np.random.default_rng(config.seed)
    # the fused kernel is 3x faster than the per-parameter loop on CPU (0.2 vs 0.6 s an sst2 epoch)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                                  fused=True)
    result = FitResult()
    dtype = resolve_precision(config.precision, device)
    result.precision = "bf16" if dtype == torch.bfloat16 else "fp32"
    lengths = np.array([len(x) for x in train_ids])
    y_all = torch.from_numpy(train_y.astype(np.int64))
    params = [p.data for p in model.parameters()]
    grads_of = [p for p in model.parameters() if p.requires_grad]
    ema = [p.clone() for p in params] if config.ema else None
    steps_per_epoch = len(length_batches(lengths, config.batch_size))
    epochs, patience = plan_epochs(config, steps_per_epoch)
    result.epochs, result.patience = epochs, patience
    decay = ema_decay(config.ema, steps_per_epoch * epochs)
    best_key, best_state, waited = None, None, 0
    start = time.perf_counter()
    try:
        for epoch in range(1, epochs + 1):
            t0 = time.perf_counter()
            batches = length_batches(lengths, config.batch_size, rng)
            if callback:
                callback.on_epoch_start(epoch, epochs, len(batches))
            model.train()
            total_loss, correct = 0.0, 0
            for idx in batches:
                x = torch.from_numpy(pad([train_ids[j] for j in idx])).to(device)
                if config.word_dropout:  # teach the model to read unknown words
                    drop = (torch.rand(x.shape, device=device) < config.word_dropout) & (x != PAD_ID)
                    x = x.masked_fill(drop, UNK_ID)
                y = y_all[idx].to(device)
                with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
                    logits = model(x).float()
                loss = nn.functional.cross_entropy(logits, y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                _clip_gradients(grads_of, config.clip_norm)
                optimizer.step()
                if ema is not None:
                    torch._foreach_lerp_(ema, params, 1.0 - decay)
                loss_value = loss.item()
                if not math.isfinite(loss_value):
                    raise _Diverged(f"training diverged: the loss became {loss_value} in epoch {epoch} "
                                    f"(lr {config.lr:g}); try a lower --lr")
                total_loss += loss_value * len(idx)
                correct += int((logits.argmax(1) == y).sum())
                if callback:
                    callback.on_batch_end(loss_value)
            if ema is not None:  # validate (and keep) the averaged weights
                raw = [p.clone() for p in params]
                torch._foreach_copy_(params, ema)
            val_loss, val_acc = _loss_and_accuracy(predict_logits(model, val_ids, device=device), val_y)
            stats = EpochStats(epoch, total_loss / len(train_ids), correct / len(train_ids),
                               val_loss, val_acc, time.perf_counter() - t0)
            result.history.append(stats)
            if not math.isfinite(val_loss):
                raise _Diverged(f"training diverged: the validation loss became {val_loss} in epoch {epoch} "
                                f"(lr {config.lr:g}); try a lower --lr")
            key = (val_acc, -val_loss)
            is_best = best_key is None or key > best_key
            if is_best:
                best_key, waited, result.best_epoch = key, 0, epoch
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                waited += 1
            if ema is not None:
                torch._foreach_copy_(params, raw)
            if callback:
                callback.on_epoch_end(stats, is_best)
            ceiling = best_key[0] >= 1.0  # 100% validation accuracy: only the loss can still improve
            if (waited >= patience or (ceiling and waited >= min(patience, AUTO_PATIENCE))) and epoch < epochs:
                result.stopped = "early_stopping"
                break
    except KeyboardInterrupt:
        if best_state is None:
            raise
        result.stopped = "interrupted"
    except _Diverged as diverged:
        if best_state is None:
            raise TrainingError(str(diverged)) from None
        result.stopped = "diverged"
    model.load_state_dict(best_state)
    model.eval()
    result.seconds = time.perf_counter() - start
    if callback and hasattr(callback, "on_fit_end"):
        callback.on_fit_end(result)
    return result


class _Diverged(Exception):
    """The loss became NaN or infinite."""
