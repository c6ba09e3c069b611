"""Training stage [torch]: pretrain a recurrent encoder as a language model on unlabelled text.

`textrnn pretrain TEXTS... --out DIR` trains the tokenizer on the texts, then a forward (and, for a
bidirectional encoder, a backward) language model, keeping the epoch with the lowest perplexity on
held-out texts, and saves a pretrained encoder folder (textrnn.folder.encoder) that
`textrnn train --init DIR` starts a classifier from. ULMFiT (Howard and Ruder, 2018) found a
language model on the task's own text alone cut TREC-6 error from 13.4 to 10.7.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from torch import nn

from textrnn import __version__
from textrnn.config import ModelConfig, PretrainConfig, TokenizerConfig
from textrnn.data import file_sha256, read_texts
from textrnn.errors import DataError
from textrnn.folder import saving
from textrnn.folder.encoder import ENCODER_METADATA, ENCODER_WEIGHTS, Corpus, EncoderMetadata, LMEpoch
from textrnn.folder.records import EpochStats
from textrnn.folder.store import write_json
from textrnn.model.language_model import LanguageModel
from textrnn.tokenizer import encode, pad, train_tokenizer
from textrnn.training.batches import length_batches, seed_everything
from textrnn.training.devices import resolve_device, resolve_precision, software_versions
from textrnn.training.epochs import FitCallback, FitHooks, FitResult, Loss, Objective, fit_epochs
from textrnn.training.steps import adamw, autocast

MIN_TOKENS = 2  # a text of one token has nothing to predict
LM_WEIGHT_DECAY = 0.01
LM_CLIP_NORM = 1.0


@dataclass
class LMResult:
    """A pretraining run: the model at its best epoch and how it got there."""

    model: LanguageModel
    history: list[LMEpoch]
    best_epoch: int = 0
    stopped: str = "completed"  # completed | budget (minutes or tokens) | interrupted
    seconds: float = 0.0
    tokens: int = 0  # training tokens an epoch
    seen: int = 0  # training tokens of every step taken


@torch.no_grad()
def perplexity(model: LanguageModel, ids: list[np.ndarray], device: torch.device, batch_size: int = 256) -> float:
    model.eval()
    total, n = 0.0, 0
    for idx in length_batches(np.array([len(x) for x in ids]), batch_size, min_group=8):
        loss, count = model(torch.from_numpy(pad([ids[j] for j in idx])).to(device))
        total, n = total + float(loss), n + count
    model.train()
    return math.exp(total / max(n, 1))


class LanguageModeling(Objective):
    """The language model's objective in the one fit loop (textrnn.training.epochs): the mean loss of
    predicting each next (and previous) token, so an epoch's statistics are weighted by tokens; the
    best epoch has the lowest held-out perplexity, and no epoch stops early; the budget (training
    tokens, `config.tokens`; minutes, `config.minutes`) ends the fit at the batch that spends it."""

    what = "pretraining"
    clip_norm = LM_CLIP_NORM

    def __init__(self, train: list[np.ndarray], val: list[np.ndarray], config: PretrainConfig, device: torch.device,
                 dtype: torch.dtype, hooks: FitHooks) -> None:
        self.train, self.val, self.config, self.device, self.dtype = train, val, config, device, dtype
        self.lr, self.lengths, self.any_process = config.lr, np.array([len(x) for x in train]), hooks.any_process
        self.seen, self.lowest = 0, math.inf  # training tokens of every step taken; the best perplexity
        self.deadline = time.perf_counter() + config.minutes * 60 if config.minutes else None

    def optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        return adamw(model.parameters(), self.config.lr, LM_WEIGHT_DECAY)

    def loss(self, model: nn.Module, rows: np.ndarray) -> Loss | None:
        x = torch.from_numpy(pad([self.train[j] for j in rows])).to(self.device)
        with autocast(self.device, self.dtype):
            loss_sum, count = model(x)
        return Loss(loss_sum.float() / count, count) if count else None

    def spent(self, rows: np.ndarray) -> bool:
        self.seen += int(self.lengths[rows].sum())
        tokens = self.config.tokens is not None and self.seen >= self.config.tokens
        # the clock differs between processes: they stop at the batch where any of them ran out of time
        return tokens or (self.deadline is not None and self.any_process(time.perf_counter() > self.deadline))

    def end_epoch(self, model: nn.Module, epoch: int, loss: float, score: float,
                  started: float) -> tuple[EpochStats, bool, bool]:
        val_ppl = perplexity(model, self.val, self.device)
        is_best = val_ppl < self.lowest
        self.lowest = min(self.lowest, val_ppl)
        stats = EpochStats(epoch, loss, math.exp(loss), math.log(val_ppl), val_ppl, time.perf_counter() - started)
        return stats, is_best, False


def fit_language_model(ids: list[np.ndarray], vocab_size: int, model_config: ModelConfig, config: PretrainConfig,
                       callback: FitCallback | None = None, keep_on_interrupt: bool = True,
                       device: torch.device | None = None, hooks: FitHooks | None = None) -> LMResult:
    """Train a LanguageModel on token ids, keeping the epoch with the lowest held-out perplexity, through
    the classifier's fit loop (textrnn.training.epochs) with the LanguageModeling objective. Ctrl-C
    keeps the best finished epoch when the language model is what the job makes (`keep_on_interrupt`);
    where it is one stage of a job (train, tune), Ctrl-C is raised on: it ends the job. `device`: where
    it trains (a training job passes its own; default: CUDA when there is one, else the CPU); the
    precision is `config.precision` on that device. `hooks`: in a distributed run, every process trains
    the same language model (FitHooks.alike: the same stops, Ctrl-C agreed by all)."""
    ids = [x for x in ids if len(x) >= MIN_TOKENS]
    if len(ids) < 20:
        raise DataError(f"too little text to pretrain on: {len(ids)} texts of two or more tokens (need 20)")
    hooks = hooks.alike() if hooks is not None else FitHooks()
    seed_everything(config.seed)
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(ids))
    n_val = max(1, int(round(len(ids) * config.val_share)))
    val, train = [ids[i] for i in order[:n_val]], [ids[i] for i in order[n_val:]]
    device = device if device is not None else resolve_device("auto")
    dtype = resolve_precision(config.precision, device)
    lm_config = replace(model_config, dropout=config.lm_dropout, embedding_dropout=config.lm_dropout)
    model = LanguageModel(lm_config, vocab_size).to(device)
    objective = LanguageModeling(train, val, config, device, dtype, hooks)
    fit = FitResult(precision="bf16" if dtype == torch.bfloat16 else "fp32", epochs=config.epochs)
    fit_epochs(model, objective, lambda: length_batches(objective.lengths, config.batch_size, rng), config.epochs,
               fit, hooks, callback)
    if fit.stopped == "interrupted" and not keep_on_interrupt:
        raise KeyboardInterrupt
    history = [LMEpoch(e.epoch, e.score, e.val_score, e.seconds) for e in fit.history]
    return LMResult(model.cpu(), history, fit.best_epoch, fit.stopped, fit.seconds,
                    int(objective.lengths.sum()), objective.seen)


def save_encoder(folder: Path, tokenizer: object, result: LMResult, tokenizer_config: TokenizerConfig,
                 model_config: ModelConfig, config: PretrainConfig, corpus: tuple[Corpus, ...] = ()) -> Path:
    """Write a pretrained encoder folder (tokenizer, weights, encoder.json) into `folder`."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    with saving.writing(folder / "tokenizer.json"):
        tokenizer.save(str(folder / "tokenizer.json"))
    with saving.writing(folder / ENCODER_WEIGHTS):
        save_file({k: v.contiguous() for k, v in result.model.state_dict().items()}, str(folder / ENCODER_WEIGHTS))
    meta = EncoderMetadata(tokenizer_config, model_config, tokenizer.get_vocab_size(), corpus, result.tokens,
                           tuple(result.history), result.best_epoch, result.stopped, round(result.seconds, 2),
                           config.__dict__ | {"precision": config.precision.value},
                           datetime.now(timezone.utc).isoformat(timespec="seconds"), __version__, software_versions())
    write_json(folder / ENCODER_METADATA, meta.to_dict())
    return folder


def pretrain(paths: list[str | Path], out: str | Path, tokenizer_config: TokenizerConfig = TokenizerConfig(),
             model_config: ModelConfig = ModelConfig(), config: PretrainConfig = PretrainConfig(),
             text_column: str | None = None, force: bool = False, progress: FitCallback | None = None) -> Path:
    """Pretrain an encoder on the texts of `paths` (one text per line, or the text column of a
    .csv/.tsv/.jsonl file) and save it as a pretrained encoder folder; returns where."""
    stage = getattr(progress, "on_stage", lambda name: None)
    stage("Reading texts")
    texts, corpus = [], []
    for path in paths:
        read = read_texts(path, text_column)
        texts += read
        corpus.append(Corpus(str(Path(path).resolve()), file_sha256(path), len(read)))
    if not texts:
        raise DataError("no text to pretrain on: the files have no non-blank texts")
    with saving.staging(out, overwrite=force) as staged:
        stage("Training tokenizer")
        tokenizer = train_tokenizer(texts, tokenizer_config)
        stage("Pretraining the language model")
        result = fit_language_model(encode(tokenizer, texts), tokenizer.get_vocab_size(), model_config, config,
                                    progress)
        save_encoder(staged.path, tokenizer, result, tokenizer_config, model_config, config, tuple(corpus))
    return staged.final


def load_encoder(folder: str | Path) -> tuple[EncoderMetadata, object, dict[str, torch.Tensor]]:
    """A pretrained encoder folder: its metadata, tokenizer and the classifier-shaped encoder weights."""
    from safetensors.torch import load_file

    from textrnn.errors import ModelFolderError
    from textrnn.folder.encoder import read_encoder
    from textrnn.tokenizer import load_tokenizer

    meta = read_encoder(folder)
    try:
        tokenizer = load_tokenizer(Path(folder) / "tokenizer.json")
    except Exception as err:  # tokenizers raises a bare Exception on bad JSON
        raise ModelFolderError(f"{folder}/tokenizer.json is corrupt ({str(err)[:120]})") from err
    if tokenizer.get_vocab_size() != meta.vocab_size:
        raise ModelFolderError(f"{folder}: tokenizer.json has {tokenizer.get_vocab_size():,} tokens but the encoder "
                               f"was trained with {meta.vocab_size:,}: the files come from different runs")
    model = LanguageModel(meta.model, meta.vocab_size)
    try:
        model.load_state_dict(load_file(str(Path(folder) / ENCODER_WEIGHTS)))
    except Exception as err:  # safetensors and torch raise several types
        raise ModelFolderError(f"{folder}/{ENCODER_WEIGHTS} is corrupt or does not fit its settings "
                               f"({str(err)[:160]})") from err
    return meta, tokenizer, model.encoder_state()
