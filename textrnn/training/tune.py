"""Training stage [torch]: `textrnn tune`, a search for the best recipe within a wall-clock budget.

Optuna's TPE sampler proposes settings, and its median pruner stops trials whose validation score
falls behind the others' at the same epoch (Optuna runs in this process: no daemon, and it is
deterministic with a seeded sampler; Ray Tune's schedulers pay off only with many trials side by
side, which 2 cores cannot run). The first trial is textrnn's default recipe, so the search starts
from it. The budget covers the whole run: no trial starts when less time is left than half the
typical trial took, each trial stops (keeping its best epoch) when the time left is needed for
saving, and the best trial's model itself is saved, not retrained (a retrain scores differently).
Settings the user gives are fixed; the rest come from SPACE.
"""

from __future__ import annotations

import math
import re
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from textrnn.config import STAGES, InitConfig, Pretrain, PretrainConfig, Settings
from textrnn.errors import ConfigError, MissingDependencyError, TrainingError
from textrnn.folder import saving
from textrnn.folder.records import Trial, Tuning
from textrnn.training.epochs import Progress
from textrnn.training.fitting import Fitted, fit_model, mix_in_tfidf
from textrnn.training.record import TrainSummary, default_model_dir, finish, record_and_save
from textrnn.training.splits import read_splits
from textrnn.training.start import Start, prepare_start

# name: (kind, choices or (low, high)); names are config fields, plus "pretrain" (a language model
# pretrained on the training texts, as `textrnn pretrain` would, then --init from it)
SPACE: dict[str, tuple[str, Any]] = {
    "lr": ("log", (5e-4, 1e-2)),
    "hidden_size": ("choice", (64, 128, 256)),
    "embedding_dim": ("choice", (64, 128, 256)),
    "layers": ("choice", (1, 2)),
    "cell": ("choice", ("lstm", "gru")),
    "pooling": ("choice", ("max", "mean", "maxmean", "last")),
    "dropout": ("float", (0.1, 0.6)),
    "embedding_dropout": ("float", (0.0, 0.6)),
    "word_dropout": ("float", (0.0, 0.4)),
    "batch_size": ("choice", (16, 32, 64)),
    "weight_decay": ("log", (1e-3, 0.3)),
    "pretrain": ("choice", ("off", "on")),
}
SAVE_SECONDS = 15.0  # kept back from the budget for export, evaluation and saving (and 5% of it)
PRETRAIN_SHARE = 0.3  # of a trial's time, at most, for pretraining its language model


def parse_budget(text: str) -> float:
    """'10m', '90s', '1.5h' or a number of seconds -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(text).lower())
    if not match:
        raise ConfigError(f"budget must look like 10m, 90s, 1h or a number of seconds (got {text!r})")
    seconds = float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]
    if seconds <= 0:
        raise ConfigError(f"budget must be positive (got {text!r})")
    return seconds


def defaults() -> dict[str, Any]:
    """textrnn's default recipe in the search's terms (the first trial)."""
    base = {f.name: f.default for stage in STAGES for f in fields(stage)}
    return {name: ("on" if name == "pretrain" else _plain(base[name])) for name in SPACE}  # the default pretrains


def _plain(value: Any) -> Any:
    return value.value if hasattr(value, "value") else value


class TimeUp(KeyboardInterrupt):
    """A trial's time ran out: like Ctrl-C, the fit keeps its best finished epoch."""


@dataclass
class _Best:
    key: tuple[float, float] = (-math.inf, -math.inf)
    trial: int = -1
    fitted: tuple[Start, Fitted] | None = None


@dataclass
class TrialCallback:
    """Reports each epoch's validation score to the trial (pruning) and stops the fit at its deadline."""

    trial: Any
    deadline: float
    progress: Progress | None = None
    epochs: int = 0
    time_up: bool = field(default=False)

    def on_stage(self, name: str) -> None:
        pass

    def on_epoch_start(self, epoch: int, epochs: int, batches: int) -> None:
        pass

    def on_batch_end(self, loss: float) -> None:
        if time.perf_counter() > self.deadline:
            self.time_up = True
            raise TimeUp

    def on_epoch_end(self, stats: Any, is_best: bool) -> None:
        import optuna

        self.epochs = stats.epoch
        self.trial.report(stats.val_score, stats.epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned()


def tune_model(train_path: str | Path, *, budget: str | float, val_path: str | Path | None = None,
               test_path: str | Path | None = None, out: str | Path | None = None, force: bool = False,
               settings: Settings = Settings(), fixed: tuple[str, ...] = (), trials: int | None = None,
               int8: bool = False, make_default: bool = True, progress: Progress | None = None,
               on_trial: Callable[[Trial, int], None] | None = None) -> TrainSummary:
    """Search the recipe for the best validation score within `budget` (seconds, or '10m'); save the
    best trial's model as a model folder (with every trial recorded) and return a summary.

    `settings` holds the user's values; those named in `fixed` are never searched.
    """
    try:
        import optuna
    except ImportError as err:
        raise MissingDependencyError("textrnn tune needs optuna: pip install 'textrnn[tune]'") from err
    seconds = budget if isinstance(budget, (int, float)) else parse_budget(budget)
    started = time.perf_counter()
    end = started + seconds
    reserve = SAVE_SECONDS + 0.05 * seconds
    stage: Callable[[str], None] = progress.on_stage if progress else (lambda name: None)
    train_path = Path(train_path)
    stage("Reading data")
    splits = read_splits(train_path, Path(val_path) if val_path else None, Path(test_path) if test_path else None,
                         settings, cross_fit=False)  # trials are compared on one validation split
    final_dir = Path(out) if out is not None else default_model_dir(train_path)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=settings.train.seed)
    study = optuna.create_study(direction="maximize", sampler=sampler,
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=2))
    given = settings.init.pretrained  # --init or --embeddings: other knowledge, nothing to pretrain
    searched = {k: v for k, v in SPACE.items() if k not in fixed and not (k == "pretrain" and given)}
    study.enqueue_trial({k: v for k, v in defaults().items() if k in searched})
    records: list[Trial] = []
    best = _Best()
    encoders: dict[tuple, Path] = {}
    work = Path(tempfile.mkdtemp(prefix="textrnn-tune-"))
    stopped = "budget"
    with saving.staging(final_dir, overwrite=force) as staged, _removed(work):
        try:
            while trials is None or len(records) < trials:
                left = end - time.perf_counter() - reserve
                typical = statistics.median([t.seconds for t in records]) if records else 0.0
                if left <= 0 or (records and left < 0.5 * typical):
                    break
                trial = study.ask()
                params = {name: _suggest(trial, name, kind, choices) for name, (kind, choices) in searched.items()}
                record = _run_trial(trial, params, splits, settings, left, encoders, work, best, stage)
                records.append(record)
                state = {"complete": optuna.trial.TrialState.COMPLETE, "time up": optuna.trial.TrialState.COMPLETE,
                         "interrupted": optuna.trial.TrialState.COMPLETE,
                         "pruned": optuna.trial.TrialState.PRUNED}.get(record.state, optuna.trial.TrialState.FAIL)
                study.tell(trial, record.val_score if state == optuna.trial.TrialState.COMPLETE else None, state)
                if on_trial:
                    on_trial(record, best.trial)
                if record.state == "interrupted":  # Ctrl-C stopped this trial's fit at its best epoch
                    raise KeyboardInterrupt
            else:
                stopped = "trials"
        except KeyboardInterrupt:  # Ctrl-C: keep the best trial so far
            if best.fitted is None:
                raise
            stopped = "interrupted"
        if best.fitted is None:
            took = max((t.seconds for t in records), default=0.0)
            raise TrainingError(f"the budget ({seconds:g} s) is too small for one trial to finish an epoch "
                                f"(the first ran {took:.0f} s); give --budget at least {max(60, 3 * took):.0f}s")
        start, fitted = best.fitted
        fitted = mix_in_tfidf(fitted, splits, start, progress)  # trials compare networks; the kept one is mixed
        tuning = Tuning(seconds, round(time.perf_counter() - started, 2), settings.train.seed,
                        splits.task.metric, tuple(records), best.trial, tuple(sorted(fixed)), stopped)
        meta = record_and_save(staged.path, splits, start, fitted, started, int8, stage, tuning=tuning)
    final_dir, notes = finish(staged, out, make_default)
    return TrainSummary(final_dir, fitted.fits[0], fitted.fits, meta, notes)


@contextmanager
def _removed(folder: Path) -> Iterator[None]:
    try:
        yield
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _suggest(trial: Any, name: str, kind: str, choices: Any) -> Any:
    if kind == "log":
        return trial.suggest_float(name, *choices, log=True)
    if kind == "float":
        return trial.suggest_float(name, *choices)
    return trial.suggest_categorical(name, list(choices))


def _settings_for(settings: Settings, params: dict[str, Any]) -> Settings:
    stages = {}
    for stage_name in ("data", "tokenizer", "model", "train", "init"):
        stage = getattr(settings, stage_name)
        names = {f.name for f in fields(stage)}
        stages[stage_name] = replace(stage, **{k: v for k, v in params.items() if k in names and k != "pretrain"})
    if "pretrain" in params:  # the search pretrains itself when a trial asks (its encoders cached across trials)
        stages["init"] = replace(stages["init"], pretrain=Pretrain.off)
    return Settings(**stages)


def _run_trial(trial: Any, params: dict[str, Any], splits: Any, settings: Settings, left: float,
               encoders: dict[tuple, Path], work: Path, best: _Best, stage: Callable[[str], None]) -> Trial:
    """One trial: its settings, (its language model,) the fit; the best model so far is kept in `best`."""
    import optuna

    t0 = time.perf_counter()
    deadline = t0 + left
    trial_settings = _settings_for(settings, params)
    stage(f"Trial {trial.number + 1}: " + ", ".join(f"{k} {_show(v)}" for k, v in params.items()))
    callback = TrialCallback(trial, deadline)
    try:
        if params.get("pretrain") == "on":
            trial_settings = _with_encoder(trial_settings, splits, encoders, work, left * PRETRAIN_SHARE)
        start = prepare_start(splits, trial_settings)
        fitted = fit_model(splits, start, callback, None, tfidf=False)
        if params.get("pretrain") == "on":
            start.info = replace(start.info, source="pretrained on the training texts by textrnn tune")
    except optuna.TrialPruned:
        return Trial(trial.number, params, "pruned", epochs=callback.epochs, seconds=round(time.perf_counter() - t0, 2))
    except TimeUp:  # no epoch finished in the time left
        return Trial(trial.number, params, "failed", epochs=0, seconds=round(time.perf_counter() - t0, 2))
    fit = fitted.fits[0]
    epoch = fit.history[fit.best_epoch - 1]
    key = (epoch.val_score, -epoch.val_loss)
    if key > best.key:
        best.key, best.trial, best.fitted = key, trial.number, (start, fitted)
    state = "time up" if callback.time_up else "interrupted" if fit.stopped == "interrupted" else "complete"
    return Trial(trial.number, params, state, epoch.val_score, epoch.val_loss, len(fit.history),
                 round(time.perf_counter() - t0, 2))


def _with_encoder(settings: Settings, splits: Any, encoders: dict[tuple, Path], work: Path,
                  minutes_of: float) -> Settings:
    """The trial's settings starting from a language model pretrained on the training texts (cached by
    the sizes that shape it)."""
    from textrnn.tokenizer import encode, train_tokenizer
    from textrnn.training.devices import resolve_device
    from textrnn.training.pretrain import fit_language_model, save_encoder

    m = settings.model
    key = (m.cell, m.embedding_dim, m.hidden_size, m.layers, m.bidirectional, settings.train.seed)
    if key not in encoders:
        tokenizer = train_tokenizer(splits.train.texts, settings.tokenizer)
        config = PretrainConfig(seed=settings.train.seed, epochs=settings.init.pretrain_epochs,
                                minutes=max(min(minutes_of / 60, settings.init.pretrain_minutes or math.inf), 0.05),
                                tokens=settings.init.pretrain_tokens, precision=settings.train.precision)
        result = fit_language_model(encode(tokenizer, splits.train.texts), tokenizer.get_vocab_size(), m, config,
                                    keep_on_interrupt=False, device=resolve_device(settings.train.device))
        encoders[key] = save_encoder(work / f"lm-{len(encoders)}", tokenizer, result, settings.tokenizer, m, config)
    return replace(settings, init=InitConfig(encoder=str(encoders[key]), freeze_epochs=settings.init.freeze_epochs,
                                             pretrained_lr=settings.init.pretrained_lr))


def _show(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
