"""Training stage [torch]: the one fit loop, which the classifier (textrnn.training.loop) and the
language model (textrnn.training.pretrain) both train through. What differs between them is an
`Objective`: the loss of a batch and the per-task parts around it.

    fit_epochs       for each epoch: its batches (FitHooks.shard), train_epoch, the objective's
                     validation; BestWeights keeps the best epoch; stops when the objective says so,
                     when its budget is spent, or at the last epoch; keep_best_on_stop on Ctrl-C
    train_epoch      Step on each batch; the epoch's mean loss, weighted by what the loss is a mean over
                     (rows, tokens), and its training score
    Step             one optimizer step: the objective's loss, backward, clipping, AdamW, and the weight
                     average's update (WeightAverage)
    Objective        the loss of a batch, the optimizer, the epoch's validation (which epoch is best,
                     whether to stop), a budget that ends the fit at the batch that spends it
    FitHooks         how a fit takes part in a larger run (torchrun: textrnn.training.distributed)

The step's parts (AdamW, autocast, clipping, the divergence check, the best weights, what Ctrl-C
keeps) live in textrnn.training.steps. Library code: progress goes to a callback, never printed.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from textrnn.folder.records import EpochStats
from textrnn.training.steps import BestWeights, apply_gradients, check_loss, keep_best_on_stop


@dataclass
class FitResult:
    """History of a fit and which epoch's weights the model holds afterwards."""

    history: list[EpochStats] = field(default_factory=list)
    best_epoch: int = 0
    stopped: str = "completed"  # completed | early_stopping | budget | interrupted | diverged
    seconds: float = 0.0
    precision: str = "fp32"  # what ran: fp32 or bf16 (mixed precision)
    epochs: int = 0  # the most epochs and the patience this fit planned (see batches.plan_epochs)
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

    def any_process(self, flag: bool) -> bool:
        """Whether `flag` holds on any process (a decision each takes by its own clock)."""
        return flag

    def alike(self) -> FitHooks:
        """The hooks for work every process does alike, whole (the language model each pretrains for
        itself): no sharing of batches, but the same stops. One process: these."""
        return self


@dataclass
class Loss:
    """A batch's loss: `value`, the mean that is backpropagated; `count`, what it is a mean over (rows,
    tokens: its weight in the epoch's mean); `seen`, what the objective's running score adds."""

    value: torch.Tensor
    count: int
    seen: tuple[Any, ...] = ()


class Objective(ABC):
    """What a fit trains for: a loss function and the per-task parts around it. Subclasses give
    `loss`, `optimizer` and `end_epoch`; the others have defaults."""

    what = "training"  # names the run in a divergence message
    lr = 0.0  # for that message
    clip_norm = 1.0  # gradients are clipped to this norm

    @abstractmethod
    def optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        """The optimizer of `model`'s parameters (the module that runs the steps)."""

    @abstractmethod
    def loss(self, model: nn.Module, rows: np.ndarray) -> Loss | None:
        """The loss of the batch of `rows`, computed with `model` (the module that runs the steps);
        None: nothing to learn from these rows (no step)."""

    def start_epoch(self, model: nn.Module, epoch: int) -> None:
        """Before each epoch's steps (layers frozen in the first epochs, ...); by default nothing."""
        return None

    def running_score(self) -> Any:
        """The epoch's training score: an object with add(*Loss.seen) and value(); None: none (NaN)."""
        return None

    def spent(self, rows: np.ndarray) -> bool:
        """Count the rows of a step against the budget; whether it is now spent (the fit ends with this
        batch, after its epoch's validation)."""
        return False

    @abstractmethod
    def end_epoch(self, model: nn.Module, epoch: int, loss: float, score: float,
                  started: float) -> tuple[EpochStats, bool, bool]:
        """After an epoch's steps (mean loss, training score; `started`: its perf_counter at the start):
        (its statistics with validation, whether it is the best epoch so far, whether to stop)."""


class Step:
    """One optimizer step on one batch: the objective's loss, backward, gradient clipping, AdamW, and
    the weight average's update."""

    def __init__(self, model: nn.Module, objective: Objective, average: WeightAverage | None = None) -> None:
        self.model, self.objective, self.average = model, objective, average
        self.optimizer = objective.optimizer(model)
        self.grads_of = list(model.parameters())  # those without a gradient (frozen) are skipped

    def __call__(self, rows: np.ndarray, weight: float = 1.0) -> tuple[float, Loss] | None:
        """(loss, what it was computed from) of the batch, after the update; None where no step was taken.
        `weight` scales the loss that is backpropagated (a process's share of a batch split across
        processes; see FitHooks.shard)."""
        batch = self.objective.loss(self.model, rows)
        if batch is None:
            return None
        loss = batch.value
        apply_gradients(self.optimizer, loss if weight == 1.0 else loss * weight, self.grads_of,
                        self.objective.clip_norm)
        if self.average is not None:
            self.average.update()
        return loss.item(), batch

    def averaged(self) -> AbstractContextManager[Any]:
        """The averaged weights in the model for the block (validation, keeping the best); none: as is."""
        return self.average.applied() if self.average is not None else nullcontext()


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


def train_epoch(step: Step, batches: Collection[tuple[np.ndarray, float]], epoch: int,
                callback: FitCallback | None = None, hooks: FitHooks | None = None) -> tuple[float, float, bool]:
    """Run `step` on each batch (rows and the weight of their loss: FitHooks.shard): the epoch's mean loss
    and training score, and whether the objective's budget was spent (the epoch ended at that batch)."""
    objective = step.objective
    step.model.train()
    total, n, score, spent = 0.0, 0, objective.running_score(), False
    for rows, weight in batches:
        done = step(rows, weight)
        if done is None:
            continue
        loss, batch = done
        check_loss(loss, epoch, objective.lr, objective.what)
        if weight:
            total += loss * batch.count
            n += batch.count
            if score is not None:
                score.add(*batch.seen)
        if callback:
            callback.on_batch_end(loss)
        if objective.spent(rows):
            spent = True
            break
    values = (total / max(n, 1), score.value() if score is not None else math.nan)
    return (*(hooks.average(values, n) if hooks else values), spent)


def fit_epochs(model: nn.Module, objective: Objective, batches: Callable[[], list[np.ndarray]], epochs: int,
               result: FitResult, hooks: FitHooks, callback: FitCallback | None = None,
               average: WeightAverage | None = None) -> FitResult:
    """Train `model` for up to `epochs` epochs of `batches()` (each call: the next epoch's batches, in
    order), keeping the weights of the epoch the objective calls best (with `average`: the averaged
    weights, which each epoch validates). It ends early when the objective says stop (agreed by every
    process: FitHooks.agree_stop) or its budget is spent; on Ctrl-C or a diverged loss, as
    `keep_best_on_stop` says. `result` is filled in; the model ends in eval mode with the kept weights."""
    best = BestWeights()
    start = time.perf_counter()
    with keep_best_on_stop(result, best), hooks.fitting(model) as stepped:
        step = Step(stepped, objective, average)
        for epoch in range(1, epochs + 1):
            t0 = time.perf_counter()
            shares = hooks.shard(batches())
            if callback:
                callback.on_epoch_start(epoch, epochs, len(shares))
            objective.start_epoch(model, epoch)
            loss, score, spent = train_epoch(step, shares, epoch, callback, hooks)
            with step.averaged():  # validate (and keep) the average
                stats, is_best, stop = objective.end_epoch(model, epoch, loss, score, t0)
                if is_best:
                    best.keep(model, epoch, stats)
                    result.best_epoch = epoch
            result.history.append(stats)
            if callback:
                callback.on_epoch_end(stats, is_best)
            stop = hooks.agree_stop(stop)
            if spent:
                result.stopped = "budget"
                break
            if stop and epoch < epochs:
                result.stopped = "early_stopping"
                break
    best.restore(model)
    for p in model.parameters():
        p.requires_grad_(True)
    model.eval()
    result.seconds = time.perf_counter() - start
    return result
