"""Export stage, measured: latency and throughput of one model on given texts, PyTorch eager vs ONNX
fp32 vs ONNX int8.

Every engine is timed from text to class probabilities (tokenizing included):
- latency: one text per call (batch 1), p50 and p95 over `latency_texts` calls;
- throughput: all texts at batch 64 and 256. ONNX rows run `predict --file`'s path (chunks, batches
  formed by length and run side by side, one thread each; predict's own CPU default is batch 16);
  "PyTorch eager" is the same weights in `TextClassifier.forward` with batches in
  input order, padded to each batch's longest text.
torch is imported only for the PyTorch row (and skipped when it is not installed).

FLOPs per text (multiply-add = 2 FLOPs), from the model's config, T = tokens in the text:
    RNN layer l, per direction, per token: 2 * gates * H * (I_l + H)
        gates: LSTM 4, GRU 3, simple RNN 1; H hidden size; I_0 = embedding size, I_l = directions * H
    n-gram bag: (2T - 1) * ngram_dim additions; classifier: 2 * features * classes
    times the number of ensemble members
Embedding lookups, biases, activations and pooling are left out (a few percent at most).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from textrnn.config import Cell, ModelConfig, Pooling
from textrnn.errors import ConfigError
from textrnn.export.request import BenchRequest
from textrnn.folder import ModelFolder

GATES = {Cell.lstm: 4, Cell.gru: 3, Cell.rnn: 1}
BATCH_SIZES = (64, 256)


def flops_per_token(model: ModelConfig) -> float:
    """Recurrent FLOPs per token of a model config."""
    dirs = 2 if model.bidirectional else 1
    hidden, gates = model.hidden_size, GATES[model.cell]
    total = 0.0
    for layer in range(model.layers):
        inputs = model.embedding_dim if layer == 0 else dirs * hidden
        total += dirs * 2 * gates * hidden * (inputs + hidden)
    return total


def flops_per_text(model: ModelConfig, tokens: float, classes: int) -> float:
    """FLOPs to classify one text of `tokens` tokens (see the module docstring for the formula)."""
    dirs = 2 if model.bidirectional else 1
    features = dirs * model.hidden_size * (2 if model.pooling == Pooling.maxmean else 1)
    total = flops_per_token(model) * tokens
    if model.ngram_buckets:
        features += model.ngram_dim
        total += (2 * tokens - 1) * model.ngram_dim
    return total + 2 * features * classes


def peak_gflops(size: int = 2048, repeats: int = 3) -> float:
    """This CPU's fp32 matrix-product speed (numpy's BLAS, all its threads), a practical peak."""
    a = np.random.default_rng(0).standard_normal((size, size), dtype=np.float32)
    a @ a  # warm-up
    best = min(_timed(lambda: a @ a) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@dataclass(frozen=True)
class EngineResult:
    """One engine's numbers; throughput maps batch size to texts per second."""

    engine: str
    provider: str
    threads: int
    p50_ms: float
    p95_ms: float
    throughput: dict[int, float]


@dataclass
class BenchResult:
    """All engines on one model and one set of texts."""

    model_dir: Path
    texts: int  # texts per throughput pass
    mean_tokens: float
    flops_per_text: float
    engines: list[EngineResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "engine: why"
    peak_gflops: float | None = None  # this CPU's fp32 matrix-product peak, when measured

    def gflops(self, texts_per_second: float) -> float:
        return self.flops_per_text * texts_per_second / 1e9


def _latency(predict_one: Callable[[str], Any], texts: list[str]) -> tuple[float, float]:
    predict_one(texts[0])  # warm-up
    times = [_timed(lambda t=t: predict_one(t)) for t in texts]
    return float(np.percentile(times, 50) * 1e3), float(np.percentile(times, 95) * 1e3)


def _onnx_engine(folder: ModelFolder, precision: str, texts: list[str], latency_texts: list[str], device: str,
                 threads: int | None, batch_sizes: tuple[int, ...]) -> EngineResult:
    from textrnn.inference.predictor import Predictor

    predictor = Predictor(folder, device=device, threads=threads, precision=precision)
    p50, p95 = _latency(lambda t: predictor.predict([t]), latency_texts)
    throughput = {}
    for batch in batch_sizes:
        # warm-up: enough batches for every worker thread to have run one (not timed)
        predictor.predict(texts[: batch * 2 * predictor.workers], batch_size=batch)
        seconds = _timed(lambda b=batch: [None for _ in predictor.predict_stream(texts, batch_size=b)])
        throughput[batch] = len(texts) / seconds
    return EngineResult(f"ONNX {precision}", predictor.provider, predictor.threads, p50, p95, throughput)


def _torch_engine(folder: ModelFolder, texts: list[str], latency_texts: list[str], device: str,
                  threads: int | None, batch_sizes: tuple[int, ...], sort: bool = False) -> EngineResult:
    import torch

    from textrnn.inference.sessions import default_threads
    from textrnn.tokenizer import encode, pad
    from textrnn.training.devices import resolve_device

    torch.set_num_threads(threads or default_threads())
    target = resolve_device(device)
    model = folder.torch_model().to(target)
    tokenizer = folder.tokenizer

    @torch.inference_mode()
    def predict(batch_texts: list[str], batch: int) -> np.ndarray:
        ids = encode(tokenizer, batch_texts)
        order = np.argsort([len(x) for x in ids], kind="stable") if sort else np.arange(len(ids))
        probs = np.zeros((len(ids), model.num_classes), dtype=np.float32)
        for i in range(0, len(ids), batch):
            idx = order[i: i + batch]
            x = torch.from_numpy(pad([ids[j] for j in idx])).to(target)
            probs[idx] = folder.task.probabilities(model(x).float().cpu().numpy())
        return probs

    p50, p95 = _latency(lambda t: predict([t], 1), latency_texts)
    throughput = {}
    for batch in batch_sizes:
        predict(texts[:batch], batch)  # warm-up
        throughput[batch] = len(texts) / _timed(lambda b=batch: predict(texts, b))
    name = "PyTorch eager" + (" (length-sorted)" if sort else "")
    return EngineResult(name, str(target), torch.get_num_threads(), p50, p95, throughput)


def run_bench(folder: ModelFolder, texts: list[str], *, device: str = "cpu", threads: int | None = None,
              engines: tuple[str, ...] = ("fp32", "int8", "torch"), batch_sizes: tuple[int, ...] = BATCH_SIZES,
              latency_texts: int = 200, min_texts: int = 2048,
              on_engine: Callable[[str], None] | None = None) -> BenchResult:
    """Time each engine in `engines` (fp32, int8, torch, torch-sorted) on `texts`.

    Texts are repeated up to `min_texts` so that throughput passes are long enough to time.
    """
    from textrnn.tokenizer import encode

    texts = [t for t in texts if t.strip()]
    if not texts:
        raise ConfigError("no texts to benchmark on")
    if len(texts) < min_texts:
        texts = (texts * (min_texts // len(texts) + 1))[:min_texts]
    meta = folder.metadata
    mean_tokens = float(np.mean([len(x) for x in encode(folder.tokenizer, texts)]))
    result = BenchResult(folder.path, len(texts), mean_tokens,
                         flops_per_text(meta.settings.model, mean_tokens, len(meta.labels)) * meta.members)
    latency = texts[:latency_texts]
    for engine in engines:
        if on_engine:
            on_engine(engine)
        if engine in ("fp32", "int8"):
            if engine == "int8" and folder.onnx_file("auto", device)[1] != "int8":
                why = ("runs on the CPU only" if device == "cuda" else
                       (meta.int8.reason if meta.int8 else None) or "no int8 model (run `textrnn export --int8`)")
                result.skipped.append(f"ONNX int8: {why}")
                continue
            result.engines.append(_onnx_engine(folder, engine, texts, latency, device, threads, batch_sizes))
        elif engine in ("torch", "torch-sorted"):
            try:
                import torch  # noqa: F401
            except ImportError:
                result.skipped.append("PyTorch eager: torch is not installed")
                continue
            result.engines.append(_torch_engine(folder, texts, latency, device, threads, batch_sizes,
                                                sort=engine == "torch-sorted"))
        else:
            raise ConfigError(f"unknown engine {engine!r} (expected fp32, int8, torch, torch-sorted)")
    return result


def bench_model(request: BenchRequest, on_engine: Callable[[str], None] | None = None) -> BenchResult:
    """Do a BenchRequest (`textrnn bench`): its model timed on its texts (default: the model's validation
    set), ONNX fp32 and int8, and PyTorch eager unless told not to; the CPU's peak when asked."""
    from textrnn.data import read_texts

    folder = ModelFolder.open(request.model)
    texts = folder.validation_data().texts if request.data is None else read_texts(request.data)
    texts = texts[:request.limit] if request.limit else texts
    engines = ("fp32", "int8", "torch") if request.torch else ("fp32", "int8")
    result = run_bench(folder, texts, device=request.device.value, threads=request.threads, engines=engines,
                       on_engine=on_engine)
    if request.peak:
        result.peak_gflops = peak_gflops()
    return result
