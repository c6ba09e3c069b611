"""Inference stage: tokenizer + ONNX Runtime + numpy. Never imports torch (fast cold start)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from textrnn.errors import ConfigError, DataError, DeviceError, ModelFolderError
from textrnn.folder import ModelFolder
from textrnn.folder.store import ONNX_INPUT
from textrnn.inference.request import CHUNK_SIZE
from textrnn.inference.sessions import CPU, default_threads, open_session, session_threads
from textrnn.tasks import Prediction
from textrnn.tokenizer import encode, pad

if TYPE_CHECKING:  # imported when used: the one-text predict path stays light
    from concurrent.futures import ThreadPoolExecutor

    from textrnn.data import Dataset

__all__ = ["CHUNK_SIZE", "Prediction", "Predictor", "load_predictor"]

# Texts per batch when not given. CPU: 16, measured on 100,000 SST-2 lines with two batches at a
# time: as fast as 32 or 64 (+-10%), and the peak memory of the batches in flight stays small
# (1.13x that of 1,000 lines, against 1.24x at 32). GPUs want large batches.
CPU_BATCH, GPU_BATCH = 16, 256


class Predictor:
    """Classifies texts with a model folder's ONNX model in ONNX Runtime.

    `precision`: auto (the int8 model when the folder has one, else fp32), fp32 or int8.
    `onnx_path` overrides the file (used to score a candidate int8 model before keeping it).
    `threads` (default: physical cores): on the CPU, that many batches run at once, each on one
    thread. The recurrent kernels split a batch's small per-step products poorly across threads
    (int8 gained 1.3x from a second thread here), while batches run side by side scale nearly
    linearly (1.9x), and tokenizing the next chunk overlaps with them.
    """

    def __init__(self, folder: ModelFolder | str | Path | None, device: str = "auto", threads: int | None = None,
                 precision: str = "auto", onnx_path: Path | None = None, threshold: float | None = None) -> None:
        self.folder = folder if isinstance(folder, ModelFolder) else ModelFolder.open(folder)
        self.task = self.folder.task
        if threshold is not None:  # one decision threshold for every label, instead of the tuned ones
            if not 0.0 <= threshold <= 1.0:
                raise ConfigError(f"--threshold must be in [0, 1] (got {threshold})")
            self.task = self.task.with_threshold(threshold)
        self.labels = list(self.task.labels)
        self.tokenizer = self.folder.tokenizer
        if onnx_path is None:
            onnx_path, self.precision = self.folder.onnx_file(precision, device)
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
        self._explainer: Any = None
        self._check_parts()

    @property
    def model_dir(self) -> Path:
        return self.folder.path

    def _check_parts(self) -> None:
        """Refuse, in one line, a folder whose files do not belong together (rather than fail in
        ONNX Runtime at the first text): the graph's input and output, the tokenizer's vocabulary
        against the one the model was trained with, the labels against the output width."""
        onnx_path = self.onnx_path
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or inputs[0].name != ONNX_INPUT or inputs[0].type != "tensor(int64)" \
                or len(inputs[0].shape) != 2:
            found = ", ".join(f"{i.name} {i.type} rank {len(i.shape)}" for i in inputs)
            raise ModelFolderError(f"{onnx_path} is not a textrnn classifier: it takes {found}, "
                                   f"not {ONNX_INPUT} tensor(int64) (batch, tokens)")
        if not outputs or len(outputs[0].shape) != 2 or "float" not in outputs[0].type:
            raise ModelFolderError(f"{onnx_path} is not a textrnn classifier: its output is not "
                                   "(batch, classes) floats")
        n_out = outputs[0].shape[-1]
        if isinstance(n_out, int) and n_out != len(self.labels):
            raise ModelFolderError(f"{onnx_path} has {n_out} outputs but metadata lists "
                                   f"{len(self.labels)} labels")
        trained, have = self.folder.trained_vocab_size, self.tokenizer.get_vocab_size()
        if trained is not None and trained != have:
            raise ModelFolderError(f"{self.folder.path / 'tokenizer.json'} has {have:,} tokens but the model "
                                   f"was trained with {trained:,}: the folder's files come from different models")

    def predict_proba(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        """Class probabilities (n, classes) in input order; batches are formed by length."""
        return self._gather(len(texts), self._submit(encode(self.tokenizer, texts), batch_size))

    def predict(self, texts: list[str], top_k: int | None = None, batch_size: int | None = None,
                min_labels: int = 1) -> list[Prediction]:
        """The labels of each text: its top_k (default 1) for a single-label model; for a multi-label one
        every label at or above its threshold (at least `min_labels`, at most `top_k`)."""
        return self.task.decode(texts, self.predict_proba(texts, batch_size), top_k, min_labels)

    def predict_stream(self, texts: Iterable[str], top_k: int | None = None, batch_size: int | None = None,
                       chunk_size: int = CHUNK_SIZE, min_labels: int = 1) -> Iterator[list[Prediction]]:
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
                yield self.task.decode(done, self._gather(len(done), jobs), top_k, min_labels)
            if started is None:
                return
            pending = started

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities (n, classes) of a batch of right-padded token ids (n, tokens), in one run."""
        return self._run(batch)

    def explain(self, texts: list[str], label: str | None = None, top_k: int | None = None,
                min_labels: int = 1) -> list[Any]:
        """Why each text gets its labels (textrnn.inference.explain): every token's weight for the
        predicted label (the top_k; multi-label: each chosen label; or `label`), and the linear part's
        exact terms. One TextExplanation per text, in order."""
        return self.explainer.explain(texts, label, min_labels, top_k)

    @property
    def explainer(self) -> Any:
        """The Explainer of this model (made on first use)."""
        if self._explainer is None:
            from textrnn.inference.explain import Explainer

            self._explainer = Explainer(self)
        return self._explainer

    def _run(self, batch: np.ndarray) -> np.ndarray:
        try:
            logits = self.session.run(None, {ONNX_INPUT: batch})[0]
        except Exception as err:  # onnxruntime raises its own types (Fail, InvalidArgument, ...)
            raise ModelFolderError(f"{self.onnx_path} failed on a batch of {batch.shape[0]} texts "
                                   f"({str(err).splitlines()[0][:160]}); do the folder's files belong "
                                   "together?") from err
        return self.task.probabilities(logits)

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

    def evaluate(self, data: Dataset, batch_size: int | None = None) -> Any:
        """The task's metrics of this model on labelled data; labels must be ones the model knows (for a
        multi-label model, most of them: a few new ones are left out, as in training)."""
        targets = self.task.targets(data)
        if hasattr(self.task, "unknown"):
            unknown, count = self.task.unknown(data)
            total = sum(len(labels) for labels in data.labels)
            if count and count > total / 2:
                raise DataError(f"{count:,} of the {total:,} labels in {data.source} are not the model's "
                                f"({', '.join(repr(u) for u in unknown[:3])}, ...): is it the right model and file?")
        return self.task.evaluate(targets, self.predict_proba(data.texts, batch_size))


def load_predictor(model: str | Path | None = None, device: str = "auto", threads: int | None = None,
                   precision: str = "auto", threshold: float | None = None) -> Predictor:
    """A Predictor for `model` (a folder) or the default model."""
    return Predictor(ModelFolder.open(model), device, threads, precision, threshold=threshold)
