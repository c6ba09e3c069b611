"""Training stage [torch]: the classifier's fit, through the one fit loop (textrnn.training.epochs).

    fit                  sets up and runs the loop with the classifier's Objective:
        Classifying      the task's loss on a batch (after word dropout), AdamW with the pretrained
                         layers at their own rate, the epoch's validation (evaluate) and StoppingRule
        StoppingRule     is this the best epoch? stop now? (patience; ceiling at a perfect score)
        PretrainedLayers pretrained layers frozen in the first epochs, then slowed
    fit_members          an ensemble: a fit per member, from its own seed
    predict_logits       the logits of a set of texts

The loop itself (epochs, steps, the weight average, the best weights, what Ctrl-C keeps, the hooks a
distributed run plugs in: FitHooks) is textrnn.training.epochs; the language model's pretraining
(textrnn.training.pretrain) runs through it with its own Objective. Library code: progress goes to a
callback, never printed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from textrnn.config import AUTO_PATIENCE, TrainConfig
from textrnn.folder.records import EpochStats, Member
from textrnn.tokenizer import PAD_ID, UNK_ID, pad
from textrnn.training.batches import ema_decay, length_batches, member_seed, plan_epochs, seed_everything
from textrnn.training.devices import resolve_device, resolve_precision
from textrnn.training.epochs import FitCallback, FitHooks, FitResult, Loss, Objective, WeightAverage, fit_epochs
from textrnn.training.steps import Diverged, adamw, autocast

if TYPE_CHECKING:
    from textrnn.tasks import Task


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


def evaluate(model: nn.Module, task: Task, ids: list[np.ndarray], targets: np.ndarray,
             device: torch.device) -> tuple[float, float]:
    """(loss, score) on a labelled set."""
    loss, score = task.validation(targets, predict_logits(model, ids, device=device))
    if not math.isfinite(loss):
        raise Diverged(f"training diverged: the validation loss became {loss}; try a lower --lr")
    return loss, score


class Classifying(Objective):
    """The classifier's objective: the task's loss on a batch of texts (after word dropout), AdamW with
    the pretrained layers at their own rate, validation on the labelled validation texts (none: every
    epoch is kept in turn) and StoppingRule."""

    def __init__(self, task: Task, train_ids: Sequence[np.ndarray], train_y: np.ndarray, val_ids: Sequence[np.ndarray],
                 val_y: np.ndarray, config: TrainConfig, device: torch.device, dtype: torch.dtype, patience: int,
                 pretrained: PretrainedLayers | None = None) -> None:
        self.task, self.ids, self.targets = task, train_ids, task.target_tensor(train_y)
        self.val_ids, self.val_y, self.config, self.device, self.dtype = val_ids, val_y, config, device, dtype
        self.lr, self.clip_norm, self.pretrained = config.lr, config.clip_norm, pretrained
        self.stopping = StoppingRule(patience)

    def optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        params: list = list(model.parameters())
        if self.pretrained is not None and self.pretrained.lr_scale != 1.0:  # pretrained layers at their own rate
            old, new = self.pretrained.split(model)
            params = [{"params": old, "lr": self.config.lr * self.pretrained.lr_scale}, {"params": new}]
        return adamw(params, self.config.lr, self.config.weight_decay)

    def loss(self, model: nn.Module, rows: np.ndarray) -> Loss:
        device, dropout = self.device, self.config.word_dropout
        x = torch.from_numpy(pad([self.ids[j] for j in rows])).to(device)
        y = self.targets[rows].to(device)
        if dropout:  # teach the model to read unknown words
            drop = (torch.rand(x.shape, device=device) < dropout) & (x != PAD_ID)
            x = x.masked_fill(drop, UNK_ID)
        with autocast(device, self.dtype):
            logits = model(x).float()
        return Loss(self.task.loss(logits, y), len(rows), (logits, y))

    def start_epoch(self, model: nn.Module, epoch: int) -> None:
        if self.pretrained is not None:
            self.pretrained.apply(model, epoch)

    def running_score(self) -> object:
        return self.task.running_score()

    def end_epoch(self, model: nn.Module, epoch: int, loss: float, score: float,
                  started: float) -> tuple[EpochStats, bool, bool]:
        validated = len(self.val_ids) > 0
        val_loss, val_score = evaluate(model, self.task, self.val_ids, self.val_y, self.device) if validated \
            else (math.nan,) * 2
        # no validation (a cross-fitted refit): every epoch runs, the last is kept
        is_best, stop = self.stopping.update(epoch, val_score, val_loss) if validated else (True, False)
        return EpochStats(epoch, loss, score, val_loss, val_score, time.perf_counter() - started), is_best, stop


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
    steps_per_epoch = len(length_batches(lengths, config.batch_size))
    result.epochs, result.patience = plan_epochs(config, steps_per_epoch)
    result.ema_decay = (ema if ema is not None
                        else ema_decay(config.ema, steps_per_epoch * result.epochs) if config.ema else 0.0)
    average = WeightAverage(model, result.ema_decay) if result.ema_decay else None
    objective = Classifying(task, train_ids, train_y, val_ids, val_y, config, device, dtype, result.patience,
                            pretrained)
    fit_epochs(model, objective, lambda: length_batches(lengths, config.batch_size, rng), result.epochs, result,
               hooks, callback, average)
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
