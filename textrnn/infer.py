"""Inference stage: tokenizer + ONNX Runtime + numpy. Never imports torch (fast cold start)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnxruntime as ort

from textrnn import store
from textrnn.errors import ConfigError, DataError, DeviceError, ModelFolderError
from textrnn.tokenizer import encode, load_tokenizer, pad

if TYPE_CHECKING:  # imported when used: the one-text predict path stays light
    from concurrent.futures import ThreadPoolExecutor

    from textrnn.data import Dataset
    from textrnn.metrics import Metrics

CPU, CUDA = "CPUExecutionProvider", "CUDAExecutionProvider"
PRECISIONS = ("auto", "fp32", "int8")
CHUNK_SIZE = 2048  # texts read, predicted and written at a time by predict_stream
# Texts per batch when not given. CPU: 16, measured on 100,000 SST-2 lines with two batches at a
# time: as fast as 32 or 64 (+-10%), and the peak memory of the batches in flight stays small
# (1.13x that of 1,000 lines, against 1.24x at 32). GPUs want large batches.
CPU_BATCH, GPU_BATCH = 16, 256


@dataclass(frozen=True)
class Prediction:
    """The top labels for one text, most probable first."""

    text: str
    label: str
    probability: float
    top: list[tuple[str, float]]


def _cuda_driver_present() -> bool:
    import ctypes

    name = "nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1"
    try:
        ctypes.CDLL(name)
    except OSError:
        return False
    return True


def default_threads() -> int:
    """ONNX Runtime's own default: one intra-op thread per physical core this process may use."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return max(1, (os.cpu_count() or 2) // 2)
    cores = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add(((topology / "physical_package_id").read_text().strip(),
                       (topology / "core_id").read_text().strip()))
        except OSError:
            cores.add(("", str(cpu)))
    return max(1, len(cores))


def _session(path: Path, providers: list[str], threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    # set explicitly (never ORT's default) so the number reported is the number used
    options.intra_op_num_threads = threads
    if threads == 1:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=providers)


def session_threads(session: ort.InferenceSession) -> int:
    """Intra-op threads of a session made by `open_session`."""
    return int(session.get_session_options().intra_op_num_threads)


def open_session(path: Path, device: str = "auto", threads: int = 1) -> ort.InferenceSession:
    """An ONNX Runtime session on `device` (auto|cpu|cuda) with `threads` intra-op threads.

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


def choose_onnx_file(model_dir: Path, precision: str = "auto", device: str = "auto") -> tuple[Path, str]:
    """The ONNX file to run and its precision: int8 when present (CPU only), else fp32.

    The int8 file uses ONNX Runtime's CPU-only DynamicQuantizeLSTM kernel, so `device cuda` runs
    the fp32 model (an int8 model on CUDA would quietly run its LSTM on the CPU).
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)} (got {precision!r})")
    int8 = model_dir / store.INT8_FILE
    if precision == "int8":
        if not int8.is_file():
            raise ModelFolderError(f"{model_dir} has no int8 model ({store.INT8_FILE}); run "
                                   f"`textrnn export --int8 --model {model_dir}` or use --precision fp32")
        if device == "cuda":
            raise DeviceError("--precision int8 runs on the CPU only (ONNX Runtime has no CUDA kernel "
                              "for DynamicQuantizeLSTM); use --precision fp32 with --device cuda")
        return int8, "int8"
    if precision == "auto" and int8.is_file() and device != "cuda":
        return int8, "int8"
    return model_dir / store.ONNX_FILE, "fp32"


class Predictor:
    """Loads a model folder and classifies texts with ONNX Runtime.

    `precision`: auto (the int8 model when the folder has one, else fp32), fp32 or int8.
    `onnx_path` overrides the file (used to score a candidate int8 model before keeping it).
    `threads` (default: physical cores): on the CPU, that many batches run at once, each on one
    thread. The recurrent kernels split a batch's small per-step products poorly across threads
    (int8 gained 1.3x from a second thread here), while batches run side by side scale nearly
    linearly (1.9x), and tokenizing the next chunk overlaps with them.
    """

    def __init__(self, model_dir: str | Path, device: str = "auto", threads: int | None = None,
                 precision: str = "auto", onnx_path: Path | None = None) -> None:
        self.model_dir = store.resolve_model(model_dir)
        self.metadata = store.read_metadata(self.model_dir)
        self.labels: list[str] = list(self.metadata["labels"])
        try:
            self.tokenizer = load_tokenizer(self.model_dir / store.TOKENIZER_FILE)
        except Exception as err:  # tokenizers raises a bare Exception on bad JSON
            raise ModelFolderError(f"{self.model_dir / store.TOKENIZER_FILE} is corrupt ({err})") from err
        if onnx_path is None:
            onnx_path, self.precision = choose_onnx_file(self.model_dir, precision, device)
        else:
            self.precision = precision
        self.onnx_path = onnx_path
        try:
            self.session = open_session(onnx_path, device, threads=1)
        except DeviceError:
            raise
        except Exception as err:  # onnxruntime raises its own exception types for bad files
            raise ModelFolderError(f"{onnx_path} is corrupt or not an ONNX model "
                                   f"({str(err).splitlines()[0][:200]})") from err
        self.provider = self.session.get_providers()[0]
        # CUDA: one stream of batches (the GPU does the work)
        self.workers = (threads or default_threads()) if self.provider == CPU else 1
        self.threads = self.workers * session_threads(self.session)
        self._pool: ThreadPoolExecutor | None = None
        self._check_parts(onnx_path)

    def _check_parts(self, onnx_path: Path) -> None:
        """Refuse, in one line, a folder whose files do not belong together (rather than fail in
        ONNX Runtime at the first text): the graph's input and output, the tokenizer's vocabulary
        against the one the model was trained with, the labels against the output width."""
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or inputs[0].name != "input_ids" or inputs[0].type != "tensor(int64)" \
                or len(inputs[0].shape) != 2:
            found = ", ".join(f"{i.name} {i.type} rank {len(i.shape)}" for i in inputs)
            raise ModelFolderError(f"{onnx_path} is not a textrnn classifier: it takes {found}, "
                                   "not input_ids tensor(int64) (batch, tokens)")
        if not outputs or len(outputs[0].shape) != 2 or "float" not in outputs[0].type:
            raise ModelFolderError(f"{onnx_path} is not a textrnn classifier: its output is not "
                                   "(batch, classes) floats")
        n_out = outputs[0].shape[-1]
        if isinstance(n_out, int) and n_out != len(self.labels):
            raise ModelFolderError(f"{onnx_path} has {n_out} outputs but metadata lists "
                                   f"{len(self.labels)} labels")
        trained = (self.metadata.get("tokenizer") or {}).get("vocab_size")
        have = self.tokenizer.get_vocab_size()
        if isinstance(trained, int) and trained != have:
            raise ModelFolderError(f"{self.model_dir / store.TOKENIZER_FILE} has {have:,} tokens but the model "
                                   f"was trained with {trained:,}: the folder's files come from different models")

    def predict_proba(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        """Class probabilities (n, classes) in input order; batches are formed by length."""
        return self._gather(len(texts), self._submit(encode(self.tokenizer, texts), batch_size))

    def predict(self, texts: list[str], top_k: int = 1, batch_size: int | None = None) -> list[Prediction]:
        return self._predictions(texts, self.predict_proba(texts, batch_size), top_k)

    def predict_stream(self, texts: Iterable[str], top_k: int = 1, batch_size: int | None = None,
                       chunk_size: int = CHUNK_SIZE) -> Iterator[list[Prediction]]:
        """Predictions for any number of texts, one chunk at a time, in input order.

        Reads `chunk_size` texts from the iterable, tokenizes them and starts their batches
        (formed by length within the chunk, so they carry little padding); while those run, the
        next chunk is read and tokenized. At most two chunks are held: memory stays flat however
        many texts there are.
        """
        it = iter(texts)
        pending = None
        while True:
            chunk = list(islice(it, chunk_size))
            started = (chunk, self._submit(encode(self.tokenizer, chunk), batch_size)) if chunk else None
            if pending is not None:
                done, jobs = pending
                yield self._predictions(done, self._gather(len(done), jobs), top_k)
            if started is None:
                return
            pending = started

    def _run(self, batch: np.ndarray) -> np.ndarray:
        try:
            logits = self.session.run(None, {"input_ids": batch})[0]
        except Exception as err:  # onnxruntime raises its own types (Fail, InvalidArgument, ...)
            raise ModelFolderError(f"{self.onnx_path} failed on a batch of {batch.shape[0]} texts "
                                   f"({str(err).splitlines()[0][:160]}); do the folder's files belong "
                                   "together?") from err
        return softmax(logits)

    def _submit(self, ids: list[np.ndarray], batch_size: int | None) -> list:
        """Start (or, with one worker, run) every batch of `ids`: [(indices, probabilities or future)]."""
        batch_size = batch_size or (CPU_BATCH if self.provider == CPU else GPU_BATCH)
        order = np.argsort([len(x) for x in ids], kind="stable")
        batches = [order[i: i + batch_size] for i in range(0, len(order), batch_size)]
        if self.workers == 1 or len(batches) == 1:
            return [(idx, self._run(pad([ids[j] for j in idx]))) for idx in batches]
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor  # not on the one-text path

            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="textrnn-infer")
        return [(idx, self._pool.submit(self._run, pad([ids[j] for j in idx]))) for idx in batches]

    def _gather(self, n: int, jobs: list) -> np.ndarray:
        probs = np.zeros((n, len(self.labels)), dtype=np.float32)
        for idx, result in jobs:
            probs[idx] = result if isinstance(result, np.ndarray) else result.result()
        return probs

    def _predictions(self, texts: list[str], probs: np.ndarray, top_k: int) -> list[Prediction]:
        k = max(1, min(top_k, len(self.labels)))
        if k == 1:  # the common case, vectorised
            best = probs.argmax(axis=1)
            return [Prediction(t, self.labels[j], float(p), [(self.labels[j], float(p))])
                    for t, j, p in zip(texts, best.tolist(), probs[np.arange(len(texts)), best].tolist(),
                                       strict=True)]
        out = []
        for text, p in zip(texts, probs, strict=True):
            best = np.argsort(-p, kind="stable")[:k]
            top = [(self.labels[j], float(p[j])) for j in best]
            out.append(Prediction(text, top[0][0], top[0][1], top))
        return out

    def evaluate(self, data: Dataset, batch_size: int | None = None) -> Metrics:
        """Metrics of this model on labelled data; labels must be ones the model knows."""
        from textrnn.metrics import compute_metrics

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
                   threads: int | None = None, precision: str = "auto") -> Predictor:
    """A Predictor for `model` (a folder) or the default model."""
    return Predictor(store.resolve_model(model), device, threads, precision)
