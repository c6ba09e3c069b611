"""Training stage [torch]: the fit loop, in named parts.

    fit: for each epoch
        train_epoch      Step on each batch (forward, the task's loss, backward, clip, AdamW, EMA)
        evaluate         on the validation set, with the averaged weights swapped in (WeightAverage)
        StoppingRule     is this the best epoch? stop now? (patience; ceiling at a perfect score)
        BestWeights      keeps the best epoch's weights, restored at the end
    keep_best_on_stop    Ctrl-C or a diverged loss: keep the best finished epoch, or say why not

The parts the language model's loop shares (AdamW, autocast, clipping, the divergence check, the
best weights, what Ctrl-C keeps) live in textrnn.training.steps.

`FitHooks` is where a distributed run plugs in (its share of the batches, all processes agreeing
on when to stop, which one writes); one process uses it as is. Library code: progress goes to a
callback, never printed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch
from torch import nn

from textrnn.config import AUTO_PATIENCE, TrainConfig
from textrnn.folder.records import EpochStats, Member
from textrnn.tokenizer import PAD_ID, UNK_ID, pad
from textrnn.training.batches import ema_decay, length_batches, member_seed, plan_epochs, seed_everything
from textrnn.training.devices import resolve_device, resolve_precision
from textrnn.training.steps import (
    BestWeights,
    Diverged,
    adamw,
    apply_gradients,
    autocast,
    check_loss,
    keep_best_on_stop,
)

if TYPE_CHECKING:
    from textrnn.tasks import Task


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
    ema_decay: float = 0.0  # the weight average's decay per step (0: none)


class FitCallback(Protocol):
    def on_epoch_start(self, epoch: int, epochs: int, batches: int) -> None: ...
    def on_batch_end(self, loss: float) -> None: ...
    def on_epoch_end(self, stats: EpochStats, is_best: bool) -> None: ...
    def on_fit_end(self, result: FitResult) -> None: ...


class Progress(FitCallback):
    """What a training job reports: its stages, and the fit's epochs and batches (FitCallback)."""

    def on_stage(self, name: str) -> None: ...


class FitHooks:
    """How a fit takes part in a larger run. One process: all batches, its own decisions, it writes.

    A distributed run (textrnn.training.distributed) overrides these: which ensemble members this
    process trains, the module that runs training steps (DistributedDataParallel averages the
    gradients), each process's rows of every batch, epoch statistics over all processes, and one
    stop decision for all.
    """

    is_writer = True  # only this process writes files and reports progress

    def members(self, members: int) -> Sequence[int]:
        """The ensemble members this process trains."""
        return range(members)

    def gather_members(self, trained: list[tuple[int, nn.Module, FitResult]]) -> list[tuple[int, nn.Module, FitResult]]:
        """Every process's trained members (index, model, fit), in member order; [] where not the writer."""
        return trained

    def check_inputs(self, *arrays: Any) -> None:
        """Refuse to train when processes hold different data (token ids, targets)."""

    def fitting(self, model: nn.Module) -> AbstractContextManager[nn.Module]:
        """For the duration of one fit: the module that runs the training steps."""
        return nullcontext(model)

    def shard(self, batches: list[np.ndarray]) -> Collection[tuple[np.ndarray, float]]:
        """This process's share of an epoch's batches: for each optimizer step, the rows it computes and
        the weight of their mean loss (1.0: the whole batch; 0.0: placeholder rows that count for nothing)."""
        return [(rows, 1.0) for rows in batches]

    def average(self, values: tuple[float, ...], rows: int) -> tuple[float, ...]:
        """Epoch statistics (mean loss, score) over every process, weighted by the rows each saw."""
        return values

    def agree_stop(self, stop: bool) -> bool:
        """Whether to stop, agreed by every process (they must stop at the same epoch)."""
        return stop


@dataclass(frozen=True)
class PretrainedLayers:
    """Parameters filled from pretrained knowledge (vectors, a pretrained encoder), and how training
    treats them: left alone for `freeze_epochs` epochs, then trained at `lr_scale` times the rate."""

    names: tuple[str, ...]
    freeze_epochs: int = 0
    lr_scale: float = 1.0

    def split(self, model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(pretrained parameters, the others)."""
        named = {n.removeprefix("module."): p for n, p in model.named_parameters()}  # DDP wraps the model
        pretrained = [named[n] for n in self.names if n in named]
        ids = {id(p) for p in pretrained}
        return pretrained, [p for p in model.parameters() if id(p) not in ids]

    def apply(self, model: nn.Module, epoch: int) -> None:
        """Freeze the pretrained parameters in the first epochs (no gradient: their backward is skipped)."""
        for p in self.split(model)[0]:
            p.requires_grad_(epoch > self.freeze_epochs)


class Step:
    """One optimizer step on one batch: word dropout, forward (in autocast where it pays), the
    task's loss, backward, gradient clipping, AdamW, and the weight average's update."""

    def __init__(self, model: nn.Module, task: Task, config: TrainConfig, device: torch.device,
                 dtype: torch.dtype, average: WeightAverage | None, pretrained: PretrainedLayers | None = None) -> None:
        self.model, self.task, self.config, self.device, self.dtype = model, task, config, device, dtype
        self.average = average
        params: list = list(model.parameters())
        if pretrained is not None and pretrained.lr_scale != 1.0:  # pretrained layers at their own rate
            old, new = pretrained.split(model)
            params = [{"params": old, "lr": config.lr * pretrained.lr_scale}, {"params": new}]
        self.optimizer = adamw(params, config.lr, config.weight_decay)
        self.grads_of = list(model.parameters())  # those without a gradient (frozen) are skipped

    def __call__(self, x: torch.Tensor, y: torch.Tensor, weight: float = 1.0) -> tuple[float, torch.Tensor]:
        """(loss, logits) of the batch, after the update. `weight` scales the loss that is backpropagated
        (a process's share of a batch split across processes; see FitHooks.shard)."""
        config, device = self.config, self.device
        if config.word_dropout:  # teach the model to read unknown words
            drop = (torch.rand(x.shape, device=device) < config.word_dropout) & (x != PAD_ID)
            x = x.masked_fill(drop, UNK_ID)
        with autocast(device, self.dtype):
            logits = self.model(x).float()
        loss = self.task.loss(logits, y)
        apply_gradients(self.optimizer, loss if weight == 1.0 else loss * weight, self.grads_of, config.clip_norm)
        if self.average is not None:
            self.average.update()
        return loss.item(), logits


class WeightAverage:
    """An exponential moving average of the weights, kept beside them (`decay` per step)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.params = [p.data for p in model.parameters()]
        self.average = [p.clone() for p in self.params]
        self.decay = decay

    def update(self) -> None:
        torch._foreach_lerp_(self.average, self.params, 1.0 - self.decay)

    @contextmanager
    def applied(self) -> Iterator[None]:
        """The averaged weights in the model for the block, the trained ones back after it."""
        raw = [p.clone() for p in self.params]
        torch._foreach_copy_(self.params, self.average)
        try:
            yield
        finally:
            torch._foreach_copy_(self.params, raw)


class StoppingRule:
    """The best epoch has the highest validation score (ties: lower validation loss). Stop after
    `patience` epochs without a better one, or after AUTO_PATIENCE once the score is perfect (only
    the loss can improve then: on a tiny set the small-data patience would run on for dozens of
    epochs)."""

    def __init__(self, patience: int) -> None:
        self.patience, self.best_key, self.waited, self.best_epoch = patience, None, 0, 0

    def update(self, epoch: int, score: float, loss: float) -> tuple[bool, bool]:
        """(is this the best epoch so far, should training stop)."""
        key = (score, -loss)
        is_best = self.best_key is None or key > self.best_key
        if is_best:
            self.best_key, self.waited, self.best_epoch = key, 0, epoch
        else:
            self.waited += 1
        ceiling = self.best_key[0] >= 1.0
        return is_best, self.waited >= self.patience or (ceiling and self.waited >= min(self.patience, AUTO_PATIENCE))


def train_epoch(step: Step, batches: Collection[tuple[np.ndarray, float]], ids: Sequence[np.ndarray],
                targets: torch.Tensor, epoch: int, callback: FitCallback | None,
                hooks: FitHooks | None = None) -> tuple[float, float]:
    """Run `step` on each batch (rows and the weight of their loss: FitHooks.shard); the epoch's mean
    loss and training score."""
    step.model.train()
    total_loss, n, score = 0.0, 0, step.task.running_score()
    for idx, weight in batches:
        x = torch.from_numpy(pad([ids[j] for j in idx])).to(step.device)
        y = targets[idx].to(step.device)
        loss, logits = step(x, y, weight)
        check_loss(loss, epoch, step.config.lr)
        if weight:
            total_loss += loss * len(idx)
            n += len(idx)
            score.add(logits, y)
        if callback:
            callback.on_batch_end(loss)
    values = (total_loss / max(n, 1), score.value())
    return hooks.average(values, n) if hooks else values


def evaluate(model: nn.Module, task: Task, ids: list[np.ndarray], targets: np.ndarray,
             device: torch.device) -> tuple[float, float]:
    """(loss, score) on a labelled set."""
    loss, score = task.validation(targets, predict_logits(model, ids, device=device))
    if not math.isfinite(loss):
        raise Diverged(f"training diverged: the validation loss became {loss}; try a lower --lr")
    return loss, score


def fit(model: nn.Module, task: Task, train_ids: list[np.ndarray], train_y: np.ndarray,
        val_ids: list[np.ndarray], val_y: np.ndarray, config: TrainConfig,
        callback: FitCallback | None = None, hooks: FitHooks | None = None,
        pretrained: PretrainedLayers | None = None, ema: float | None = None) -> FitResult:
    """Train with AdamW and the task's loss, keeping the weights of the best validation epoch (with
    no validation texts: of the last epoch, after all `config.epochs`).

    With `config.ema`, an exponential moving average of the weights is kept beside them; each
    epoch validates (and may keep) the average instead of the last step's weights. Epochs and
    patience: see `plan_epochs`; when to stop: `StoppingRule`; Ctrl-C and divergence: `keep_best_on_stop`. The
    forward pass runs in bfloat16 autocast where `config.precision` resolves to it (weights,
    gradients and validation stay float32). `pretrained` layers are frozen, then slowed, as it says.
    `ema`: the average's decay per step instead of the one planned from `config` (a refit averages as its folds).
    """
    hooks = hooks or FitHooks()
    device = resolve_device(config.device)
    model.to(device)
    seed_everything(config.seed)
    rng = np.random.default_rng(config.seed)
    dtype = resolve_precision(config.precision, device)
    result = FitResult(precision="bf16" if dtype == torch.bfloat16 else "fp32")
    lengths = token_lengths(train_ids)
    targets = task.target_tensor(train_y)
    steps_per_epoch = len(length_batches(lengths, config.batch_size))
    result.epochs, result.patience = plan_epochs(config, steps_per_epoch)
    result.ema_decay = (ema if ema is not None
                        else ema_decay(config.ema, steps_per_epoch * result.epochs) if config.ema else 0.0)
    average = WeightAverage(model, result.ema_decay) if result.ema_decay else None
    stopping, best = StoppingRule(result.patience), BestWeights()
    start = time.perf_counter()
    with keep_best_on_stop(result, best), hooks.fitting(model) as stepped:
        step = Step(stepped, task, config, device, dtype, average, pretrained)
        for epoch in range(1, result.epochs + 1):
            t0 = time.perf_counter()
            batches = hooks.shard(length_batches(lengths, config.batch_size, rng))
            if callback:
                callback.on_epoch_start(epoch, result.epochs, len(batches))
            if pretrained is not None:
                pretrained.apply(model, epoch)
            loss, score = train_epoch(step, batches, train_ids, targets, epoch, callback, hooks)
            with average.applied() if average is not None else nullcontext():  # validate (and keep) the average
                val_loss, val_score = evaluate(model, task, val_ids, val_y, device) if len(val_ids) else (math.nan,) * 2
                # no validation (a cross-fitted refit): every epoch runs, the last is kept
                is_best, stop = stopping.update(epoch, val_score, val_loss) if len(val_ids) else (True, False)
                stats = EpochStats(epoch, loss, score, val_loss, val_score, time.perf_counter() - t0)
                if is_best:
                    best.keep(model, epoch, stats)
                    result.best_epoch = epoch
            result.history.append(stats)
            if callback:
                callback.on_epoch_end(stats, is_best)
            if hooks.agree_stop(stop) and epoch < result.epochs:
                result.stopped = "early_stopping"
                break
    best.restore(model)
    for p in model.parameters():
        p.requires_grad_(True)
    model.eval()
    result.seconds = time.perf_counter() - start
    if callback and hasattr(callback, "on_fit_end"):
        callback.on_fit_end(result)
    return result


def fit_members(make_member: Callable[[], nn.Module], members: int, task: Task, train_ids: list[np.ndarray],
                train_y: np.ndarray, val_ids: list[np.ndarray], val_y: np.ndarray, config: TrainConfig,
                callback: FitCallback | None = None, on_member: Callable[[int, int], None] | None = None,
                hooks: FitHooks | None = None,
                pretrained: PretrainedLayers | None = None,
                ema: float | None = None) -> tuple[list[nn.Module], list[FitResult]]:
    """Train `members` models, each from its own seed (`member_seed`) built by `make_member`, one
    after the other. Ctrl-C keeps the members finished so far (and the interrupted one, at its best
    epoch, if it has finished one): fewer models than `members` come back. It is re-raised only when
    no member has a finished epoch."""
    hooks = hooks or FitHooks()
    hooks.check_inputs(train_ids, train_y, val_ids, val_y)
    trained: list[tuple[int, nn.Module, FitResult]] = []
    interrupted: KeyboardInterrupt | None = None  # re-raised as it came (tune's TimeUp is one)
    for i in hooks.members(members):
        if on_member:
            on_member(i, members)
        member_config = replace(config, seed=member_seed(config.seed, i, members))
        seed_everything(member_config.seed)
        model = make_member()
        try:
            result = fit(model, task, train_ids, train_y, val_ids, val_y, member_config, callback, hooks, pretrained,
                         ema)
        except KeyboardInterrupt as err:
            interrupted = err
            break
        trained.append((i, model.cpu().eval(), result))
        if result.stopped == "interrupted":
            break
    trained = hooks.gather_members(trained)
    if interrupted is not None and not trained:
        raise interrupted
    return [model for _, model, _ in trained], [result for _, _, result in trained]


def token_lengths(ids: Sequence[np.ndarray]) -> np.ndarray:
    """Each text's number of tokens (compact token storage knows them without a loop)."""
    lengths = getattr(ids, "lengths", None)
    return np.asarray(lengths) if lengths is not None else np.array([len(x) for x in ids])


@torch.no_grad()
def predict_logits(model: nn.Module, ids: Sequence[np.ndarray], batch_size: int = 256,
                   device: torch.device | None = None) -> np.ndarray:
    """Logits for each id array, in input order; batches are formed by length."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = np.zeros((len(ids), model.num_classes), dtype=np.float32)
    for idx in length_batches(token_lengths(ids), batch_size, min_group=8):
        batch = torch.from_numpy(pad([ids[j] for j in idx])).to(device)
        out[idx] = model(batch).float().cpu().numpy()
    model.train(was_training)
    return out


def describe_members(fits: list[FitResult], seed: int, planned: int) -> tuple[Member, ...]:
    """The records of fits from member seeds (`member_seed`: `planned` of them, from `seed`)."""
    return tuple(Member(member_seed(seed, i, planned), f.best_epoch, len(f.history), f.stopped,
                        f.history[f.best_epoch - 1].val_score, f.history[f.best_epoch - 1].val_loss,
                        round(f.seconds, 2)) for i, f in enumerate(fits))
