"""Inference stage: tokenizer + ONNX Runtime + numpy. Never imports torch (fast cold start)."""

from __future__ import annotations

import ctypes
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from textrnn import store
from textrnn.data import Dataset
from textrnn.errors import DataError, DeviceError, ModelFolderError
from textrnn.metrics import Metrics, compute_metrics
from textrnn.tokenizer import encode, load_tokenizer, pad

CPU, CUDA = "CPUExecutionProvider", "CUDAExecutionProvider"


@dataclass(frozen=True)
class Prediction:
    """The top labels for one text, most probable first."""

    text: str
    label: str
    probability: float
    top: list[tuple[str, float]]


def _cuda_driver_present() -> bool:
    name = "nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1"
    try:
        ctypes.CDLL(name)
    except OSError:
        return False
    return True


def _session(path: Path, providers: list[str], threads: int | None) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=providers)


def open_session(path: Path, device: str = "auto", threads: int | None = None) -> ort.InferenceSession:
    """An ONNX Runtime session on `device` (auto|cpu|cuda).

    CUDA is only attempted where onnxruntime has the provider and an NVIDIA driver is present, so
    CPU machines never see the provider's load-failure noise; `cuda` that cannot load is an error.
    """
    want_cuda = device in ("auto", "cuda") and CUDA in ort.get_available_providers()
    if want_cuda and _cuda_driver_present():
        if hasattr(ort, "preload_dlls"):  # CUDA/cuDNN from pip's nvidia-* packages, if installed
            try:
                ort.preload_dlls()
            except Exception:  # noqa: BLE001 - best effort; the session below tells the truth
                pass
        ort.set_default_logger_severity(4)  # a failed CUDA load is handled below, not printed
        try:
            session = _session(path, [CUDA, CPU], threads)
        finally:
            ort.set_default_logger_severity(2)
        if CUDA in session.get_providers():
            return session
        if device == "cuda":
            raise DeviceError("--device cuda: ONNX Runtime's CUDA provider could not load (CUDA 12 "
                              "and cuDNN 9 libraries are needed); use --device cpu")
        return _session(path, [CPU], threads)
    if device == "cuda":
        why = ("onnxruntime has no CUDA provider (install onnxruntime-gpu)"
               if CUDA not in ort.get_available_providers() else "no NVIDIA driver was found")
        raise DeviceError(f"--device cuda: {why}; use --device cpu")
    return _session(path, [CPU], threads)


class Predictor:
    """Loads a model folder and classifies texts with ONNX Runtime."""

    def __init__(self, model_dir: str | Path, device: str = "auto", threads: int | None = None) -> None:
        self.model_dir = store.resolve_model(model_dir)
        self.metadata = store.read_metadata(self.model_dir)
        self.labels: list[str] = list(self.metadata["labels"])
        try:
            self.tokenizer = load_tokenizer(self.model_dir / store.TOKENIZER_FILE)
        except Exception as err:  # tokenizers raises a bare Exception on bad JSON
            raise ModelFolderError(f"{self.model_dir / store.TOKENIZER_FILE} is corrupt ({err})") from err
        onnx_path = self.model_dir / store.ONNX_FILE
        try:
            self.session = open_session(onnx_path, device, threads)
        except DeviceError:
            raise
        except Exception as err:  # onnxruntime raises its own exception types for bad files
            raise ModelFolderError(f"{onnx_path} is corrupt or not an ONNX model "
                                   f"({str(err).splitlines()[0][:200]})") from err
        self.provider = self.session.get_providers()[0]
        n_out = self.session.get_outputs()[0].shape[-1]
        if isinstance(n_out, int) and n_out != len(self.labels):
            raise ModelFolderError(f"{onnx_path} has {n_out} outputs but metadata lists "
                                   f"{len(self.labels)} labels")

    def predict_proba(self, texts: list[str], batch_size: int = 256) -> np.ndarray:
        """Class probabilities (n, classes) in input order; batches are formed by length."""
        ids = encode(self.tokenizer, texts)
        probs = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        order = np.argsort([len(x) for x in ids], kind="stable")
        for i in range(0, len(order), batch_size):
            idx = order[i: i + batch_size]
            logits = self.session.run(None, {"input_ids": pad([ids[j] for j in idx])})[0]
            probs[idx] = softmax(logits)
        return probs

    def predict(self, texts: list[str], top_k: int = 1, batch_size: int = 256) -> list[Prediction]:
        probs = self.predict_proba(texts, batch_size)
        k = max(1, min(top_k, len(self.labels)))
        out = []
        for text, p in zip(texts, probs, strict=False):
            best = np.argsort(-p, kind="stable")[:k]
            top = [(self.labels[j], float(p[j])) for j in best]
            out.append(Prediction(text, top[0][0], top[0][1], top))
        return out

    def evaluate(self, data: Dataset, batch_size: int = 256) -> Metrics:
        """Metrics of this model on labelled data; labels must be ones the model knows."""
        index = {label: i for i, label in enumerate(self.labels)}
        unknown = sorted(set(data.labels) - index.keys())
        if unknown:
            shown = ", ".join(repr(u) for u in unknown[:5])
            raise DataError(f"{data.source} has labels this model does not know: {shown} "
                            f"(model labels: {', '.join(self.labels)})")
        y = np.array([index[label] for label in data.labels])
        return compute_metrics(y, self.predict_proba(data.texts, batch_size), self.labels)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def load_predictor(model: str | Path | None = None, device: str = "auto",
                   threads: int | None = None) -> Predictor:
    """A Predictor for `model` (a folder) or the default model."""
    return Predictor(store.resolve_model(model), device, threads)
