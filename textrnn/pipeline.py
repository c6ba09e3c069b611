"""The whole training job [torch]: data -> tokenizer -> fit (each ensemble member) -> ONNX export + parity
-> evaluate -> save.

`train_model` is what `textrnn train` calls. Everything is written to a temporary folder and moved
into place only when complete, so an interrupted or failed run never leaves a half model.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np

from textrnn import __version__, store
from textrnn.analysis import analyze_predictions
from textrnn.config import DataConfig, ModelConfig, TokenizerConfig, TrainConfig, to_dict
from textrnn.data import Dataset, check_trainable, file_sha256, load_dataset, stratified_split
from textrnn.errors import DataError
from textrnn.metrics import Metrics, compute_metrics
from textrnn.train import FitCallback, FitResult


@dataclass(frozen=True)
class TrainSummary:
    """What a training run produced."""

    model_dir: Path
    fit: FitResult  # the first member's
    members: list[FitResult]  # every member's, in order
    val: Metrics
    test: Metrics | None
    test_torch_accuracy: float | None
    parity_max_diff: float
    metadata: dict[str, Any]
    notes: list[str]  # things the user should know: a name taken while training, folders cleaned up


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("torch", "onnx", "onnxruntime-gpu", "onnxruntime", "tokenizers", "numpy"):
        try:
            out[dist] = importlib_metadata.version(dist)
        except importlib_metadata.PackageNotFoundError:
            pass
    return out


def _describe(data: Dataset, path: Path | None, role: str) -> dict[str, Any]:
    info: dict[str, Any] = {"rows": len(data), "label_counts": data.label_counts(), "source": role}
    if path is not None:
        info.update(path=str(path.resolve()), sha256=file_sha256(path))
    return info


def _describe_member(result: FitResult, seed: int) -> dict[str, Any]:
    best = result.history[result.best_epoch - 1]
    return {"seed": seed, "best_epoch": result.best_epoch, "epochs": len(result.history),
            "stopped": result.stopped, "val_accuracy": best.val_accuracy, "val_loss": best.val_loss,
            "train_seconds": round(result.seconds, 2)}


def _label_ids(data: Dataset, labels: list[str], role: str) -> np.ndarray:
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted(set(data.labels) - index.keys())
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:5])
        raise DataError(f"{data.source} ({role}) has labels not in the training data: {shown}")
    return np.array([index[label] for label in data.labels], dtype=np.int64)


def default_model_dir(train_path: Path) -> Path:
    """models/<data name>-<time>, with a suffix if taken (saving adds one if it is taken meanwhile)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = store.models_root() / f"{train_path.stem}-{stamp}"
    path, n = base, 2
    while path.exists():
        path, n = base.with_name(f"{base.name}-{n}"), n + 1
    return path


def train_model(train_path: str | Path, *, val_path: str | Path | None = None,
                test_path: str | Path | None = None, out: str | Path | None = None,
                force: bool = False, data_config: DataConfig = DataConfig(),
                tokenizer_config: TokenizerConfig = TokenizerConfig(),
                model_config: ModelConfig = ModelConfig(), train_config: TrainConfig = TrainConfig(),
                callback: FitCallback | None = None,
                on_stage: Callable[[str], None] | None = None,
                make_default: bool = True, int8: bool = False) -> TrainSummary:
    """Train, export and evaluate a classifier; save it as a model folder and return a summary."""
    import torch
    from safetensors.torch import save_file

    from textrnn.export import OPSET, check_parity, export_onnx
    from textrnn.infer import Predictor
    from textrnn.model import Ensemble, TextClassifier
    from textrnn.tokenizer import encode, train_tokenizer, unknown_rate
    from textrnn.train import fit_members, member_seed, predict_logits

    stage = on_stage or (lambda name: None)
    started = time.perf_counter()
    train_path = Path(train_path)
    stage("Reading data")
    cols = {"text_column": data_config.text_column, "label_column": data_config.label_column}
    train_data = load_dataset(train_path, **cols)
    check_trainable(train_data)
    if val_path is not None:
        val_data = load_dataset(val_path, **cols)
    else:
        train_data, val_data = stratified_split(train_data, data_config.val_split, train_config.seed)
    test_data = load_dataset(test_path, **cols) if test_path is not None else None
    labels = sorted(set(train_data.labels))
    y_train = _label_ids(train_data, labels, "train")
    y_val = _label_ids(val_data, labels, "validation")
    y_test = _label_ids(test_data, labels, "test") if test_data is not None else None
    final_dir = Path(out) if out is not None else default_model_dir(train_path)

    with store.staging(final_dir, overwrite=force) as staged:
        tmp = staged.path
        stage("Training tokenizer")
        tokenizer = train_tokenizer(train_data.texts, tokenizer_config)
        train_ids, val_ids = encode(tokenizer, train_data.texts), encode(tokenizer, val_data.texts)
        truncated = float(np.mean([len(x) >= tokenizer_config.max_length for x in val_ids]))

        members = model_config.members

        def on_member(i: int, n: int) -> None:
            if n > 1:
                stage(f"Training member {i + 1} of {n}")

        models, fits = fit_members(
            lambda: TextClassifier(model_config, tokenizer.get_vocab_size(), len(labels)), members,
            train_ids, y_train, val_ids, y_val, train_config, callback, on_member)
        model = models[0] if len(models) == 1 else Ensemble(models)
        result = fits[0]

        stage("Exporting to ONNX")
        tokenizer.save(str(tmp / store.TOKENIZER_FILE))
        save_file({k: v.contiguous() for k, v in model.state_dict().items()},
                  str(tmp / store.WEIGHTS_FILE))
        export_onnx(model, tmp / store.ONNX_FILE)
        parity = check_parity(model, tmp / store.ONNX_FILE, tokenizer.get_vocab_size(),
                              tokenizer_config.max_length)

        meta: dict[str, Any] = {
            "format_version": store.FORMAT_VERSION,
            "textrnn_version": __version__,
            "name": final_dir.name,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "labels": labels,
            "config": {"data": to_dict(data_config), "tokenizer": to_dict(tokenizer_config),
                       "model": to_dict(model_config), "train": to_dict(train_config)},
            "data": {"train": _describe(train_data, train_path, "file"),
                     "val": _describe(val_data, Path(val_path) if val_path else None,
                                      "file" if val_path else f"split of train ({data_config.val_split:g})")},
            "tokenizer": {"kind": tokenizer_config.kind, "vocab_size": tokenizer.get_vocab_size(),
                          "val_unknown_rate": unknown_rate(tokenizer, val_data.texts),
                          "val_truncated_share": truncated},
            "summary": model.summary(),
            "params": int(sum(p.numel() for p in model.parameters())),
            "history": [asdict(h) for h in result.history],  # the first member's
            "best_epoch": result.best_epoch,
            "planned_epochs": result.epochs,
            "patience": result.patience,
            "stopped": ("interrupted" if len(fits) < members or any(f.stopped == "interrupted" for f in fits)
                        else result.stopped),
            "members": [_describe_member(f, member_seed(train_config.seed, i, members))
                        for i, f in enumerate(fits)],
            "planned_members": members,
            "train_seconds": round(sum(f.seconds for f in fits), 2),
            "train_precision": result.precision,
            "export": {"opset": OPSET, "parity_max_diff": parity},
            "versions": _versions(),
        }
        store.write_json(tmp / store.METADATA_FILE, meta)

        stage("Evaluating with ONNX Runtime")
        predictor = Predictor(tmp, device="cpu")
        val_probs = predictor.predict_proba(val_data.texts)
        val_metrics = compute_metrics(y_val, val_probs, labels)
        meta["metrics"] = {"val": val_metrics.to_dict()}
        # calibration, confused pairs and misclassified examples, so `textrnn report` needs no data
        meta["analysis"] = {"val": analyze_predictions(val_data.texts, y_val, val_probs, labels)}
        test_metrics, torch_acc = None, None
        if test_data is not None:
            test_metrics = compute_metrics(y_test, predictor.predict_proba(test_data.texts), labels)
            with torch.no_grad():
                torch_logits = predict_logits(model, encode(tokenizer, test_data.texts))
            torch_acc = float((torch_logits.argmax(1) == y_test).mean())
            meta["data"]["test"] = _describe(test_data, Path(test_path), "file")
            meta["metrics"]["test"] = test_metrics.to_dict()
            meta["metrics"]["test_torch_accuracy"] = torch_acc
        meta["total_seconds"] = round(time.perf_counter() - started, 2)
        store.write_json(tmp / store.METADATA_FILE, meta)
        del predictor
        if int8:  # issue 4: int8 model, kept only if fast (LSTM) and accurate; see textrnn/quantize.py
            from textrnn.quantize import quantize_model

            stage("Quantizing to int8")
            quantize_model(tmp, val_data)
            meta = store.read_metadata(tmp)
    notes = []
    if staged.swept.folders:
        notes.append(f"removed {len(staged.swept.folders)} staging folder(s) left by killed runs "
                     f"({staged.swept.bytes / 2**20:.1f} MB) from {staged.requested.parent}")
    final_dir = staged.final
    if staged.renamed:
        meta["name"] = final_dir.name
        store.write_json(final_dir / store.METADATA_FILE, meta)
        if out is not None:
            notes.append(f"{staged.requested} was created by something else while training; "
                         f"saved as {final_dir} instead")
    if make_default:
        store.set_default(final_dir)
    return TrainSummary(final_dir, result, fits, val_metrics, test_metrics, torch_acc, parity, meta, notes)
