"""The whole training job [torch], in parts: read the data -> tokenizer -> build (and initialise) the
model -> fit (each ensemble member) -> export to ONNX + parity check -> evaluate with ONNX Runtime ->
record -> int8 -> save.

`train_model` is what `textrnn train` calls. Everything is written to a staging folder and moved
into place only when complete, so an interrupted or failed run never leaves a half model; only the
writing process (FitHooks.is_writer) saves.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from textrnn import __version__
from textrnn.config import Settings, TokenizerKind, parse_folds
from textrnn.data import Dataset, check_trainable, file_sha256, stratified_split
from textrnn.data.stream import read_any
from textrnn.errors import ConfigError
from textrnn.folder import ModelFolder, saving, store
from textrnn.folder.records import (
    DataInfo,
    ExportInfo,
    Layer,
    Metadata,
    Network,
    PretrainedInfo,
    SplitResult,
    TokenizerInfo,
    Training,
    write_metadata,
)
from textrnn.tasks import Task, task_for
from textrnn.training.loop import FitCallback, FitHooks, FitResult, PretrainedLayers

if TYPE_CHECKING:
    from textrnn.training.crossfit import CrossFit


class Progress(FitCallback):
    """What a training job reports: its stages, and the fit's epochs and batches (FitCallback)."""

    def on_stage(self, name: str) -> None: ...


@dataclass(frozen=True)
class TrainSummary:
    """What a training run produced."""

    model_dir: Path
    fit: FitResult  # the first member's
    members: list[FitResult]  # every member's, in order
    metadata: Metadata
    notes: list[str]  # things the user should know: a name taken while training, folders cleaned up

    @property
    def val(self) -> Any:
        return self.metadata.results["val"].metrics

    @property
    def test(self) -> Any | None:
        result = self.metadata.results.get("test")
        return result.metrics if result else None


@dataclass(frozen=True)
class Splits:
    """The data of a run, with the task it defines and each split's targets."""

    task: Task
    train: Dataset
    val: Dataset
    test: Dataset | None
    info: dict[str, DataInfo]
    notes: list[str] = field(default_factory=list)
    folds: np.ndarray | None = None  # cross-fitting: the fold each training text validates in

    @property
    def cross_fitted(self) -> bool:
        return self.folds is not None

    def targets(self, split: str) -> np.ndarray:
        return self.task.targets(getattr(self, split))


def read_splits(train_path: Path, val_path: Path | None, test_path: Path | None, settings: Settings,
                cross_fit: bool = True) -> Splits:
    """Read the files; with no validation file, hold out validation rows or (`--folds`) assign every
    training text a fold to validate in. `cross_fit` False: folds are not used (tune, torchrun)."""
    from textrnn.data.folds import choose_folds, fold_of_each_text

    cfg = settings.data
    cols = {"text_column": cfg.text_column, "label_column": cfg.label_column, "label_sep": cfg.label_sep,
            "multi_label": cfg.multi_label}
    train = read_any(train_path, **cols)  # streamed into compact storage (data/stream.py)
    check_trainable(train)
    notes = []
    k, note = choose_folds(cfg.folds, train, val_path is not None)
    if not cross_fit and k > 1:
        if parse_folds(cfg.folds) is not None:
            raise ConfigError("--folds needs one process that trains every fold: not with tune or torchrun (--folds 1)")
        k, note = 1, "one validation split, not cross-fitting (--folds auto): tune and torchrun do not cross-fit"
    notes += [note] if note else []
    folds = fold_of_each_text(train, k, settings.train.seed) if k > 1 else None
    if val_path is not None:
        val = read_any(val_path, **cols)
    elif folds is not None:
        val = train  # every training text validates once, out of fold
    else:
        train, val = stratified_split(train, cfg.val_split, settings.train.seed)
    test = read_any(test_path, **cols) if test_path is not None else None
    val_source = ("file" if val_path else f"cross-validated ({k} folds of train)" if folds is not None
                  else f"split of train ({cfg.val_split:g})")
    info = {"train": _describe(train, train_path, "file"), "val": _describe(val, val_path, val_source)}
    if test is not None:
        info["test"] = _describe(test, test_path, "file")
    task = task_for(train, None if settings.train.metric == "auto" else settings.train.metric.value,
                    settings.train.class_weight == "balanced")
    splits = Splits(task, train, val, test, info, notes, folds)
    for split in ("val", "test"):  # unknown labels are an error now (single-label), not after training
        if getattr(splits, split) is not None:
            splits.targets(split)
            if hasattr(task, "unknown"):
                labels, count = task.unknown(getattr(splits, split))
                if count:
                    splits.notes.append(f"{split}: {count:,} occurrences of {len(labels):,} labels not in the training "
                                        "data are left out of its targets (the model cannot predict them)")
    return splits


def _describe(data: Dataset, path: Path | None, source: str) -> DataInfo:
    cardinality = round(data.cardinality, 4) if data.multi_label else None
    if path is None:
        return DataInfo(len(data), data.label_counts(), source, cardinality=cardinality)
    return DataInfo(len(data), data.label_counts(), source, str(Path(path).resolve()), file_sha256(path),
                    cardinality)


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("torch", "onnx", "onnxruntime-gpu", "onnxruntime", "tokenizers", "numpy"):
        try:
            out[dist] = importlib_metadata.version(dist)
        except importlib_metadata.PackageNotFoundError:
            pass
    return out


def default_model_dir(train_path: Path) -> Path:
    """models/<data name>-<time>, with a suffix if taken (saving adds one if it is taken meanwhile)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = store.models_root() / f"{train_path.stem}-{stamp}"
    path, n = base, 2
    while path.exists():
        path, n = base.with_name(f"{base.name}-{n}"), n + 1
    return path


@dataclass
class Start:
    """What a model starts from: the tokenizer, the settings that fit it, pretrained knowledge."""

    tokenizer: Any
    settings: Settings
    initialize: Callable[[Any], list[str]] | None = None  # fills a new member; returns the names filled
    info: PretrainedInfo | None = None
    notes: list[str] = field(default_factory=list)
    cross_fit: CrossFit | None = None  # what a cross-fitted fit chose on (textrnn.training.crossfit)


def prepare_start(splits: Splits, settings: Settings, progress: Progress | None = None) -> Start:
    """Train the tokenizer, or take it (and the sizes) from a pretrained encoder; read word vectors;
    pretrain a language model on the training texts."""
    from textrnn.tokenizer import train_tokenizer

    init = settings.init
    if pretrains(settings, splits):
        return _pretrained_on_training_texts(splits, settings, progress)
    if init.init:
        from textrnn.model.pretrained import encoder_initializer
        from textrnn.training.pretrain import load_encoder

        meta, tokenizer, state = load_encoder(init.init)
        m = meta.model
        model = replace(settings.model, cell=m.cell, activation=m.activation, bidirectional=m.bidirectional,
                        layers=m.layers, embedding_dim=m.embedding_dim, hidden_size=m.hidden_size)
        start = Start(tokenizer, replace(settings, tokenizer=meta.tokenizer, model=model), encoder_initializer(state))
        start.info = PretrainedInfo("language model", str(Path(init.init).resolve()), dim=m.embedding_dim,
                                    perplexity=meta.history[meta.best_epoch - 1].val_perplexity
                                    if meta.best_epoch else None)
        if model != settings.model:
            start.notes.append(f"the encoder's sizes are used: {model.cell} {model.layers}x{model.hidden_size}, "
                               f"embedding {model.embedding_dim}, {'bi' if model.bidirectional else 'uni'}directional")
        return start
    if init.embeddings:
        from textrnn.data.vectors import read_vectors
        from textrnn.errors import ConfigError, DataError
        from textrnn.model.pretrained import coverage, vector_initializer
        from textrnn.tokenizer import word_counts

        if settings.tokenizer.kind != "word":
            raise ConfigError(f"--embeddings maps word vectors onto whole words: use --tokenizer word "
                              f"(got {settings.tokenizer.kind})")
        counts = word_counts(splits.train.texts, settings.tokenizer)
        vectors = read_vectors(init.embeddings, set(counts), lowercase_match=True)
        if not vectors.vectors:
            raise DataError(f"{init.embeddings} has no vector for any word of the training data "
                            f"({len(counts):,} words; {vectors.read:,} vectors read): wrong language or tokenization?")
        notes = []
        if vectors.dim != settings.model.embedding_dim:
            notes.append(f"the vectors have {vectors.dim} dimensions: --embedding-dim {vectors.dim} "
                         f"(was {settings.model.embedding_dim})")
            settings = replace(settings, model=replace(settings.model, embedding_dim=vectors.dim))
        tokenizer = train_tokenizer(splits.train.texts, settings.tokenizer, keep=vectors.vectors.__contains__)
        vocab = tokenizer.get_vocab()
        cov = coverage(vectors.vectors, vocab, counts)
        info = PretrainedInfo("word vectors", str(Path(init.embeddings).resolve()), vectors.sha256, vectors.dim,
                              vectors.format, cov.vocab, cov.types, round(cov.tokens, 4), vectors.bad_lines,
                              vectors.duplicates, vectors.lowercase_matches)
        share = cov.types / max(cov.vocab, 1)
        notes.append(f"vectors for {cov.types:,} of {cov.vocab:,} vocabulary words ({share:.1%}), "
                     f"{cov.tokens:.1%} of training tokens"
                     + (f"; {vectors.bad_lines:,} bad lines skipped" if vectors.bad_lines else ""))
        return Start(tokenizer, settings, vector_initializer(vectors.vectors, vocab, vectors.dim), info, notes)
    return Start(train_tokenizer(splits.train.texts, settings.tokenizer), settings)


MIN_PRETRAIN_TEXTS = 1000  # auto: below this, too little text for a language model to learn from
MAX_PRETRAIN_TEXTS = 50_000  # auto: from this, the labelled texts teach enough (sst2: 81.9 without, 81.1 with)


def pretrains(settings: Settings, splits: Splits) -> bool:
    """Whether this run pretrains a language model on its training texts: --pretrain on, or auto with no
    other knowledge given (--init, --embeddings) and MIN_PRETRAIN_TEXTS to MAX_PRETRAIN_TEXTS training texts."""
    init = settings.init
    if init.pretrained or init.pretrain == "off":
        return False
    return init.pretrain == "on" or MIN_PRETRAIN_TEXTS <= len(splits.train) < MAX_PRETRAIN_TEXTS


def _pretrained_on_training_texts(splits: Splits, settings: Settings, progress: Progress | None) -> Start:
    from textrnn.config import PretrainConfig
    from textrnn.model.pretrained import encoder_initializer
    from textrnn.tokenizer import encode, train_tokenizer
    from textrnn.training.pretrain import fit_language_model

    tokenizer = train_tokenizer(splits.train.texts, settings.tokenizer)
    if progress:
        progress.on_stage("Pretraining a language model on the training texts")
    config = PretrainConfig(epochs=settings.init.pretrain_epochs, minutes=settings.init.pretrain_minutes,
                            tokens=settings.init.pretrain_tokens,
                            seed=settings.train.seed, precision=settings.train.precision)
    metric = getattr(progress, "metric", None)
    if metric is not None:  # the progress lines speak of perplexity meanwhile
        progress.metric = "perplexity"
    try:
        result = fit_language_model(encode(tokenizer, splits.train.texts), tokenizer.get_vocab_size(), settings.model,
                                    config, progress, keep_on_interrupt=False)  # Ctrl-C here ends the job
    finally:
        if metric is not None:
            progress.metric = metric
    best = result.history[result.best_epoch - 1]
    info = PretrainedInfo("language model", "the training texts", dim=settings.model.embedding_dim,
                          perplexity=round(best.val_perplexity, 2))
    return Start(tokenizer, settings, encoder_initializer(result.model.encoder_state()), info,
                 [f"language model: held-out perplexity {best.val_perplexity:.1f} after {result.best_epoch} "
                  f"epochs ({result.seconds:.0f} s)"])


def fit_model(splits: Splits, start: Start, progress: Progress | None,
              hooks: FitHooks | None, linear: bool = True) -> tuple[Any, list[FitResult], Start]:
    """The model, fitted: one network, or an ensemble of members from different seeds, each started
    from the pretrained knowledge (if any); then, with `linear` and the setting on, mixed with the
    linear n-gram model (`mix_in_linear`). Cross-fitted splits: see `fit_cross_fitted`."""
    from textrnn.data.tokens import encode_compact
    from textrnn.model import Ensemble
    from textrnn.training.loop import fit_members

    if splits.cross_fitted:  # a network per fold, then the final one (textrnn.training.crossfit)
        from textrnn.training.crossfit import fit_cross_fitted

        make_member, pretrained = member_factory(splits, start)
        model, fits, start.cross_fit, notes = fit_cross_fitted(splits, start, make_member, pretrained, progress, hooks)
        start.notes += notes
        return model, fits, start
    tokenizer, settings = start.tokenizer, start.settings
    # one flat array of ids each, not a million small arrays
    train_ids, val_ids = encode_compact(tokenizer, splits.train.texts), encode_compact(tokenizer, splits.val.texts)
    members = settings.model.members

    def on_member(i: int, n: int) -> None:
        if n > 1 and progress:
            progress.on_stage(f"Training member {i + 1} of {n}")

    make_member, pretrained = member_factory(splits, start)
    models, fits = fit_members(make_member, members, splits.task, train_ids, splits.targets("train"), val_ids,
                               splits.targets("val"), settings.train, progress, on_member, hooks, pretrained)
    if not models:  # a process of a distributed run other than the writer: the writer has the members
        return None, fits, start
    model = models[0] if len(models) == 1 else Ensemble(models, splits.task)
    if linear:
        model = mix_in_linear(model, splits, start, progress, (train_ids, val_ids))
    return model, fits, start


def member_factory(splits: Splits, start: Start) -> tuple[Callable[[], Any], PretrainedLayers | None]:
    """(a function that builds a new member, started from the pretrained knowledge; how training treats
    the pretrained layers, if any). Records the layers filled in `start.info`."""
    from textrnn.model import build_member

    settings, vocab = start.settings, start.tokenizer.get_vocab_size()
    filled: list[str] = []

    def make_member() -> Any:
        member = build_member(settings.model, vocab, splits.task)
        if start.initialize is not None:
            filled[:] = start.initialize(member)
        return member

    if start.initialize is None:
        return make_member, None
    filled[:] = start.initialize(build_member(settings.model, vocab, splits.task))
    pretrained = PretrainedLayers(tuple(filled), settings.init.freeze_epochs, settings.init.pretrained_lr)
    start.info = replace(start.info, layers=tuple(filled), freeze_epochs=pretrained.freeze_epochs,
                         lr_scale=pretrained.lr_scale)
    return make_member, pretrained


def mix_in_linear(model: Any, splits: Splits, start: Start, progress: Progress | None,
                  ids: tuple[Any, Any] | None = None) -> Any:
    """The fitted network mixed with a linear n-gram model where the settings ask for one and validation
    gives it a share (textrnn.training.linear); `ids`: the training and validation token ids, if at hand."""
    from textrnn.data.tokens import encode_compact
    from textrnn.training.linear import content_tokens, mix_linear

    tokenizer, settings = start.tokenizer, start.settings
    if not settings.model.linear:
        return model
    if progress:
        progress.on_stage("Fitting the linear n-gram model")
    train_ids, val_ids = ids or (encode_compact(tokenizer, splits.train.texts),
                                 encode_compact(tokenizer, splits.val.texts))
    return mix_linear(model, splits.task, train_ids, splits.targets("train"), val_ids, splits.targets("val"),
                      tokenizer.get_vocab_size(), settings.train.seed,
                      content_tokens(tokenizer.get_vocab(), tokenizer.get_vocab_size(),
                                     settings.tokenizer.kind == TokenizerKind.word),
                      refit=splits.info["val"].source != "file")  # a validation file stays held out


def export_model(model: Any, tokenizer: Any, folder: Path, max_length: int) -> ExportInfo:
    """Write the tokenizer, the PyTorch weights and the ONNX model, checked against PyTorch."""
    from textrnn.export.onnx import OPSET, check_parity, export_onnx
    from textrnn.folder.weights import save_weights

    with saving.writing(folder / store.TOKENIZER_FILE):  # a full disk: one clear error, nothing saved
        tokenizer.save(str(folder / store.TOKENIZER_FILE))
    export_onnx(model, folder / store.ONNX_FILE)
    with saving.writing(folder / store.WEIGHTS_FILE):  # each tensor once: what model.onnx lacks, and where the rest is
        save_weights(model.state_dict(), folder / store.ONNX_FILE, folder / store.WEIGHTS_FILE)
    parity = check_parity(model, folder / store.ONNX_FILE, tokenizer.get_vocab_size(), max_length)
    return ExportInfo(OPSET, parity)


def describe_training(splits: Splits, fits: list[FitResult], settings: Settings,
                      cross_fit: CrossFit | None = None) -> Training:
    from textrnn.training.loop import describe_members

    if cross_fit is not None:
        return cross_fit.describe(splits.task.metric, fits, settings.train.seed)
    first, planned = fits[0], settings.model.members
    interrupted = len(fits) < planned or any(f.stopped == "interrupted" for f in fits)
    return Training(
        metric=splits.task.metric, history=tuple(first.history), best_epoch=first.best_epoch,
        planned_epochs=first.epochs, patience=first.patience,
        stopped="interrupted" if interrupted else first.stopped,
        members=describe_members(fits, settings.train.seed, planned),
        planned_members=planned, seconds=round(sum(f.seconds for f in fits), 2), precision=first.precision)


def evaluate_model(folder: Path, meta: Metadata, splits: Splits, model: Any, tokenizer: Any,
                   cross_fit: CrossFit | None = None) -> Metadata:
    """Score validation (and test) with the exported ONNX model; test also with PyTorch, to compare.
    Cross-fitted: thresholds are tuned on the out-of-fold probabilities of every training text, which
    are also the validation scores (a --val file is then scored by the model, as a held-out check)."""
    import torch

    from textrnn.inference.predictor import Predictor
    from textrnn.tokenizer import encode
    from textrnn.training.loop import predict_logits

    predictor = Predictor(ModelFolder(folder, meta), device="cpu")
    # a linear part refitted on validation too: its held-out probabilities tune thresholds and score
    held_out = getattr(model, "held_out_val_probs", None)
    y_val = splits.targets("val")
    if cross_fit is not None:
        task = splits.task.calibrate(cross_fit.targets, cross_fit.oof)
        val_probs = cross_fit.oof if splits.val is splits.train else predictor.predict_proba(splits.val.texts)
    else:
        val_probs = held_out if held_out is not None else predictor.predict_proba(splits.val.texts)
        task = splits.task.calibrate(y_val, val_probs)  # decision thresholds tuned on validation (multi-label)
    results = {"val": SplitResult(task.evaluate(y_val, val_probs), task.analyze(splits.val.texts, y_val, val_probs))}
    torch_score = None
    if splits.test is not None:
        y_test = splits.targets("test")
        results["test"] = SplitResult(task.evaluate(y_test, predictor.predict_proba(splits.test.texts)))
        with torch.no_grad():
            torch_score = task.torch_score(y_test, predict_logits(model, encode(tokenizer, splits.test.texts)))
    return meta.replace(task=task, results=results, test_torch_score=torch_score)


def record_and_save(folder: Path, splits: Splits, start: Start, model: Any, fits: list[FitResult],
                    started: float, int8: bool, stage: Callable[[str], None], **extra: Any) -> Metadata:
    """Export the fitted model into `folder` (a staging folder), score it with ONNX Runtime and write
    its metadata (`extra`: more Metadata fields, such as a tuning record); int8 if asked."""
    from textrnn.tokenizer import encode, unknown_rate

    tokenizer, settings = start.tokenizer, start.settings
    stage("Exporting to ONNX")
    export = export_model(model, tokenizer, folder, settings.tokenizer.max_length)
    val_ids = encode(tokenizer, splits.val.texts)
    meta = Metadata(
        task=splits.task, settings=settings, data=splits.info,
        tokenizer=TokenizerInfo(settings.tokenizer.kind.value, tokenizer.get_vocab_size(),
                                unknown_rate(tokenizer, splits.val.texts),
                                float(np.mean([len(x) >= settings.tokenizer.max_length for x in val_ids]))),
        network=Network(tuple(Layer(**row) for row in model.summary()),
                        int(sum(p.numel() for p in model.parameters()))),
        training=describe_training(splits, fits, settings, start.cross_fit), export=export, pretrained=start.info,
        linear=getattr(model, "info", None),
        versions=_versions(), created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        textrnn_version=__version__, **extra)
    write_metadata(folder / store.METADATA_FILE, meta)
    stage("Evaluating with ONNX Runtime")
    meta = evaluate_model(folder, meta, splits, model, tokenizer, start.cross_fit)
    meta = meta.replace(training=replace(meta.training, total_seconds=round(time.perf_counter() - started, 2)))
    write_metadata(folder / store.METADATA_FILE, meta)
    if int8 and meta.training.stopped != "interrupted":  # kept only if fast (LSTM), accurate: export/quantize.py
        from textrnn.export.quantize import quantize_model

        stage("Quantizing to int8")
        model_folder = ModelFolder(folder, meta)
        quantize_model(model_folder, splits.val)
        meta = model_folder.metadata
    return meta


def finish(staged: saving.Staged, out: str | Path | None, make_default: bool) -> tuple[Path, list[str]]:
    """After the staging folder was moved into place: what to tell the user, and the DEFAULT pointer."""
    notes = []
    if staged.swept.folders:
        notes.append(f"removed {len(staged.swept.folders)} staging folder(s) left by killed runs "
                     f"({staged.swept.bytes / 2**20:.1f} MB) from {staged.requested.parent}")
    if staged.renamed and out is not None:
        notes.append(f"{staged.requested} was created by something else while training; "
                     f"saved as {staged.final} instead")
    if make_default:
        store.set_default(staged.final)
    return staged.final, notes


def train_model(train_path: str | Path, *, val_path: str | Path | None = None, test_path: str | Path | None = None,
                out: str | Path | None = None, force: bool = False, settings: Settings = Settings(),
                int8: bool = False, make_default: bool = True, progress: Progress | None = None,
                hooks: FitHooks | None = None) -> TrainSummary | None:
    """Train, export and evaluate a classifier; save it as a model folder and return a summary (None in
    the processes of a distributed run that do not write: see textrnn.training.distributed)."""
    hooks = hooks or FitHooks()
    stage: Callable[[str], None] = progress.on_stage if progress else (lambda name: None)
    started = time.perf_counter()
    train_path = Path(train_path)
    val_path, test_path = (Path(p) if p is not None else None for p in (val_path, test_path))
    stage("Reading data")
    from textrnn.training.distributed import is_launched

    splits = read_splits(train_path, val_path, test_path, settings, cross_fit=not is_launched())
    for note in splits.notes:
        stage(note)
    if progress is not None and hasattr(progress, "metric"):  # epoch lines name the task's score
        progress.metric = splits.task.metric
    if not hooks.is_writer:  # its part of the training; the writer saves
        fit_model(splits, prepare_start(splits, settings, progress), progress, hooks)
        return None
    final_dir = Path(out) if out is not None else default_model_dir(train_path)

    with saving.staging(final_dir, overwrite=force) as staged:
        stage("Training tokenizer" if not settings.init.init else "Loading the pretrained encoder")
        start = prepare_start(splits, settings, progress)
        for note in start.notes:
            stage(note)
        model, fits, start = fit_model(splits, start, progress, hooks)
        meta = record_and_save(staged.path, splits, start, model, fits, started, int8, stage)
    final_dir, notes = finish(staged, out, make_default)
    return TrainSummary(final_dir, fits[0], fits, meta, notes)
