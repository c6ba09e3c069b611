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
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np

from textrnn import __version__
from textrnn.config import Settings
from textrnn.data import Dataset, check_trainable, file_sha256, stratified_split
from textrnn.data.stream import read_any
from textrnn.folder import ModelFolder, saving, store
from textrnn.folder.records import (
    DataInfo,
    ExportInfo,
    Layer,
    Member,
    Metadata,
    Network,
    SplitResult,
    TokenizerInfo,
    Training,
    write_metadata,
)
from textrnn.tasks import Task
from textrnn.training.loop import FitCallback, FitHooks, FitResult


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

    def targets(self, split: str) -> np.ndarray:
        return self.task.targets(getattr(self, split))


def read_splits(train_path: Path, val_path: Path | None, test_path: Path | None, settings: Settings) -> Splits:
    """Read the files; hold out validation rows when there is no validation file."""
    cfg = settings.data
    cols = {"text_column": cfg.text_column, "label_column": cfg.label_column}
    train = read_any(train_path, **cols)  # streamed into compact storage (data/stream.py)
    check_trainable(train)
    if val_path is not None:
        val = read_any(val_path, **cols)
    else:
        train, val = stratified_split(train, cfg.val_split, settings.train.seed)
    test = read_any(test_path, **cols) if test_path is not None else None
    info = {"train": _describe(train, train_path, "file"),
            "val": _describe(val, val_path, "file" if val_path else f"split of train ({cfg.val_split:g})")}
    if test is not None:
        info["test"] = _describe(test, test_path, "file")
    splits = Splits(Task.from_training_data(train), train, val, test, info)
    for split in ("val", "test"):  # unknown labels are an error now, not after training
        if getattr(splits, split) is not None:
            splits.targets(split)
    return splits


def _describe(data: Dataset, path: Path | None, source: str) -> DataInfo:
    if path is None:
        return DataInfo(len(data), data.label_counts(), source)
    return DataInfo(len(data), data.label_counts(), source, str(Path(path).resolve()), file_sha256(path))


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


def fit_model(splits: Splits, tokenizer: Any, settings: Settings, progress: Progress | None,
              hooks: FitHooks | None) -> tuple[Any, list[FitResult]]:
    """The model, fitted: one network, or an ensemble of members from different seeds."""
    from textrnn.data.tokens import encode_compact
    from textrnn.model import Ensemble, build_member
    from textrnn.training.loop import fit_members

    # one flat array of ids each, not a million small arrays
    train_ids, val_ids = encode_compact(tokenizer, splits.train.texts), encode_compact(tokenizer, splits.val.texts)
    members = settings.model.members

    def on_member(i: int, n: int) -> None:
        if n > 1 and progress:
            progress.on_stage(f"Training member {i + 1} of {n}")

    models, fits = fit_members(lambda: build_member(settings.model, tokenizer.get_vocab_size(), splits.task),
                               members, splits.task, train_ids, splits.targets("train"), val_ids,
                               splits.targets("val"), settings.train, progress, on_member, hooks)
    if not models:  # a process of a distributed run other than the writer: the writer has the members
        return None, fits
    model = models[0] if len(models) == 1 else Ensemble(models, splits.task)
    return model, fits


def export_model(model: Any, tokenizer: Any, folder: Path, max_length: int) -> ExportInfo:
    """Write the tokenizer, the PyTorch weights and the ONNX model, checked against PyTorch."""
    from safetensors.torch import save_file

    from textrnn.export.onnx import OPSET, check_parity, export_onnx

    tokenizer.save(str(folder / store.TOKENIZER_FILE))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / store.WEIGHTS_FILE))
    export_onnx(model, folder / store.ONNX_FILE)
    parity = check_parity(model, folder / store.ONNX_FILE, tokenizer.get_vocab_size(), max_length)
    return ExportInfo(OPSET, parity)


def describe_training(splits: Splits, fits: list[FitResult], settings: Settings) -> Training:
    from textrnn.training.batches import member_seed

    first, planned = fits[0], settings.model.members
    interrupted = len(fits) < planned or any(f.stopped == "interrupted" for f in fits)
    return Training(
        metric=splits.task.metric, history=tuple(first.history), best_epoch=first.best_epoch,
        planned_epochs=first.epochs, patience=first.patience,
        stopped="interrupted" if interrupted else first.stopped,
        members=tuple(Member(member_seed(settings.train.seed, i, planned), f.best_epoch, len(f.history), f.stopped,
                             f.history[f.best_epoch - 1].val_score, f.history[f.best_epoch - 1].val_loss,
                             round(f.seconds, 2)) for i, f in enumerate(fits)),
        planned_members=planned, seconds=round(sum(f.seconds for f in fits), 2), precision=first.precision)


def evaluate_model(folder: Path, meta: Metadata, splits: Splits, model: Any, tokenizer: Any) -> Metadata:
    """Score validation (and test) with the exported ONNX model; test also with PyTorch, to compare."""
    import torch

    from textrnn.inference.predictor import Predictor
    from textrnn.tokenizer import encode
    from textrnn.training.loop import predict_logits

    task = splits.task
    predictor = Predictor(ModelFolder(folder, meta), device="cpu")
    val_probs = predictor.predict_proba(splits.val.texts)
    y_val = splits.targets("val")
    results = {"val": SplitResult(task.evaluate(y_val, val_probs), task.analyze(splits.val.texts, y_val, val_probs))}
    torch_score = None
    if splits.test is not None:
        y_test = splits.targets("test")
        results["test"] = SplitResult(task.evaluate(y_test, predictor.predict_proba(splits.test.texts)))
        with torch.no_grad():
            torch_score = task.torch_score(y_test, predict_logits(model, encode(tokenizer, splits.test.texts)))
    return meta.replace(results=results, test_torch_score=torch_score)


def train_model(train_path: str | Path, *, val_path: str | Path | None = None, test_path: str | Path | None = None,
                out: str | Path | None = None, force: bool = False, settings: Settings = Settings(),
                int8: bool = False, make_default: bool = True, progress: Progress | None = None,
                hooks: FitHooks | None = None) -> TrainSummary | None:
    """Train, export and evaluate a classifier; save it as a model folder and return a summary (None in
    the processes of a distributed run that do not write: see textrnn.training.distributed)."""
    from textrnn.tokenizer import encode, train_tokenizer, unknown_rate

    hooks = hooks or FitHooks()
    stage: Callable[[str], None] = progress.on_stage if progress else (lambda name: None)
    started = time.perf_counter()
    train_path = Path(train_path)
    val_path, test_path = (Path(p) if p is not None else None for p in (val_path, test_path))
    stage("Reading data")
    splits = read_splits(train_path, val_path, test_path, settings)
    if not hooks.is_writer:  # its part of the training; the writer saves
        fit_model(splits, train_tokenizer(splits.train.texts, settings.tokenizer), settings, progress, hooks)
        return None
    final_dir = Path(out) if out is not None else default_model_dir(train_path)

    with saving.staging(final_dir, overwrite=force) as staged:
        tmp = staged.path
        stage("Training tokenizer")
        tokenizer = train_tokenizer(splits.train.texts, settings.tokenizer)
        val_ids = encode(tokenizer, splits.val.texts)
        model, fits = fit_model(splits, tokenizer, settings, progress, hooks)
        stage("Exporting to ONNX")
        export = export_model(model, tokenizer, tmp, settings.tokenizer.max_length)
        meta = Metadata(
            task=splits.task, settings=settings, data=splits.info,
            tokenizer=TokenizerInfo(settings.tokenizer.kind.value, tokenizer.get_vocab_size(),
                                    unknown_rate(tokenizer, splits.val.texts),
                                    float(np.mean([len(x) >= settings.tokenizer.max_length for x in val_ids]))),
            network=Network(tuple(Layer(**row) for row in model.summary()),
                            int(sum(p.numel() for p in model.parameters()))),
            training=describe_training(splits, fits, settings), export=export, versions=_versions(),
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"), textrnn_version=__version__)
        write_metadata(tmp / store.METADATA_FILE, meta)
        stage("Evaluating with ONNX Runtime")
        meta = evaluate_model(tmp, meta, splits, model, tokenizer)
        meta = meta.replace(training=replace(meta.training, total_seconds=round(time.perf_counter() - started, 2)))
        write_metadata(tmp / store.METADATA_FILE, meta)
        if int8:  # an int8 model, kept only if fast (LSTM) and accurate; see textrnn/export/quantize.py
            from textrnn.export.quantize import quantize_model

            stage("Quantizing to int8")
            folder = ModelFolder(tmp, meta)
            quantize_model(folder, splits.val)
            meta = folder.metadata
    notes = []
    if staged.swept.folders:
        notes.append(f"removed {len(staged.swept.folders)} staging folder(s) left by killed runs "
                     f"({staged.swept.bytes / 2**20:.1f} MB) from {staged.requested.parent}")
    final_dir = staged.final
    if staged.renamed and out is not None:
        notes.append(f"{staged.requested} was created by something else while training; "
                     f"saved as {final_dir} instead")
    if make_default:
        store.set_default(final_dir)
    return TrainSummary(final_dir, fits[0], fits, meta, notes)
