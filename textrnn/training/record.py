"""Training stage [torch]: after the fit, the record of a run.

    export_model       the tokenizer, the PyTorch weights and the ONNX model, checked against PyTorch
    evaluate_model     validation and test scored with ONNX Runtime (thresholds tuned on validation)
    record_and_save    export, the metadata (what ran, on which data, with which results), int8 if asked
    finish             after the staging folder is in place: notes for the user, the DEFAULT pointer

Everything is written into a staging folder (textrnn.folder.saving) that is moved into place only
when complete.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from textrnn import __version__
from textrnn.config import Settings
from textrnn.folder import ModelFolder, saving, store
from textrnn.folder.records import (
    ExportInfo,
    Layer,
    Metadata,
    Network,
    SplitResult,
    TokenizerInfo,
    Training,
    write_metadata,
)
from textrnn.training.devices import software_versions
from textrnn.training.epochs import FitResult
from textrnn.training.splits import Splits

if TYPE_CHECKING:
    from textrnn.training.crossfit import CrossFit
    from textrnn.training.fitting import Fitted
    from textrnn.training.start import Start


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


def default_model_dir(train_path: Path) -> Path:
    """models/<data name>-<time>, with a suffix if taken (saving adds one if it is taken meanwhile)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = store.models_root() / f"{train_path.stem}-{stamp}"
    path, n = base, 2
    while path.exists():
        path, n = base.with_name(f"{base.name}-{n}"), n + 1
    return path


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


def evaluate_model(folder: Path, meta: Metadata, splits: Splits, fitted: Fitted, tokenizer: Any) -> Metadata:
    """Score validation (and test) with the exported ONNX model; test also with PyTorch, to compare.
    Cross-fitted: thresholds are tuned on the out-of-fold probabilities of every training text, which
    are also the validation scores (a --val file is then scored by the model, as a held-out check)."""
    import torch

    from textrnn.inference.predictor import Predictor
    from textrnn.tokenizer import encode
    from textrnn.training.loop import predict_logits

    predictor = Predictor(ModelFolder(folder, meta), device="cpu")
    model, cross_fit = fitted.model, fitted.cross_fit
    # a TF-IDF model refitted on validation too: its held-out probabilities tune thresholds and score
    held_out = fitted.tfidf.held_out_probs if fitted.tfidf is not None and cross_fit is None else None
    y_val = splits.targets("val")
    if cross_fit is not None:
        task = splits.task.calibrate(cross_fit.targets, cross_fit.oof)
        val_probs = cross_fit.oof if splits.val is splits.train else predictor.predict_proba(splits.val.texts)
    else:
        val_probs = held_out if held_out is not None else predictor.predict_proba(splits.val.texts)
        task = splits.task.calibrate(y_val, val_probs)  # decision thresholds tuned on validation (multi-label)
    val_metrics = task.evaluate(y_val, val_probs)
    results = {"val": SplitResult(val_metrics, task.analyze(splits.val.texts, y_val, val_probs, val_metrics))}
    torch_score = None
    if splits.test is not None:
        y_test = splits.targets("test")
        results["test"] = SplitResult(task.evaluate(y_test, predictor.predict_proba(splits.test.texts)))
        with torch.no_grad():
            torch_score = task.torch_score(y_test, predict_logits(model, encode(tokenizer, splits.test.texts)))
    return meta.replace(task=task, results=results, test_torch_score=torch_score)


def record_and_save(folder: Path, splits: Splits, start: Start, fitted: Fitted, started: float, int8: bool,
                    stage: Callable[[str], None], **extra: Any) -> Metadata:
    """Export the fitted model into `folder` (a staging folder), score it with ONNX Runtime and write
    its metadata (`extra`: more Metadata fields, such as a tuning record); int8 if asked."""
    from textrnn.tokenizer import encode, unknown_rate

    tokenizer, settings, model = start.tokenizer, start.settings, fitted.model
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
        training=describe_training(splits, fitted.fits, settings, fitted.cross_fit), export=export,
        pretrained=start.info, linear=fitted.tfidf.info if fitted.tfidf is not None else None,
        versions=software_versions(), created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        textrnn_version=__version__, **extra)
    write_metadata(folder / store.METADATA_FILE, meta)
    stage("Evaluating with ONNX Runtime")
    meta = evaluate_model(folder, meta, splits, fitted, tokenizer)
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
