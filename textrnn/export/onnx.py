"""Export stage [torch]: TextClassifier or Ensemble -> ONNX (native RNN/LSTM/GRU ops), then a parity check.

Uses the TorchScript exporter: it maps packed sequences to the ONNX operators' `sequence_lens`
and keeps batch and sequence length dynamic (the dynamo exporter fixed the length for nn.RNN).
"""

from __future__ import annotations

import io
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from textrnn.errors import ExportMismatchError
from textrnn.folder.store import ONNX_INPUT, ONNX_OUTPUT

if TYPE_CHECKING:
    from textrnn.folder import ModelFolder

OPSET = 17


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence Python warnings and the exporter's C++ shape-inference warnings (file descriptor 2)."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        with warnings.catch_warnings(), redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def embeddings_fp16(model: torch.nn.Module) -> list[str]:
    """Round the model's token embeddings to fp16, in place (what model.onnx stores); their weights' names."""
    names = []
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.Embedding):
                module.weight.copy_(module.weight.half().float())
                names.append(f"{name}.weight" if name else "weight")
    return names


def _store_fp16(path: Path, names: list[str]) -> None:
    """Store the initializers `names` of the ONNX file at `path` as fp16, each Gather from them followed
    by a Cast to fp32 (the embeddings: half the bytes, the same values once rounded)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    inits = {init.name: init for init in graph.initializer}
    casts = {}
    for name in names:
        init = inits.get(name)
        users = [node for node in graph.node if name in node.input]
        if init is None or init.data_type != TensorProto.FLOAT or not users \
                or any(node.op_type != "Gather" or node.input[0] != name or name in node.input[1:] for node in users):
            continue
        init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), name))
        for node in users:
            out = node.output[0]
            node.output[0] = f"{out}_fp16"
            casts[node.output[0]] = helper.make_node("Cast", [node.output[0]], [out], name=f"{node.name}_to_fp32",
                                                     to=TensorProto.FLOAT)
    if casts:
        nodes = [n for node in graph.node
                 for n in ((node, casts[node.output[0]]) if node.output and node.output[0] in casts else (node,))]
        del graph.node[:]
        graph.node.extend(nodes)
        onnx.save(model, str(path))


def export_onnx(model: torch.nn.Module, path: str | Path) -> Path:
    """Write `model` (on the CPU, eval mode) to `path` with dynamic batch and sequence axes; its token
    embeddings are stored as fp16 (and rounded so in `model`, in place, so both compute the same)."""
    model = model.cpu().eval()
    fp16 = embeddings_fp16(model)
    # any ids the vocabulary has (a tiny one may have fewer than 9); one row padded, one not
    ids = [1 + i % max(1, model.vocab_size - 1) for i in range(1, 8)]
    example = torch.tensor([[*ids[:3], 0], ids[3:7]], dtype=torch.int64)
    from textrnn.folder.saving import writing

    with _quiet(), writing(path):
        torch.onnx.export(
            model, (example,), str(path), dynamo=False, opset_version=OPSET,
            input_names=[ONNX_INPUT], output_names=[ONNX_OUTPUT],
            dynamic_axes={ONNX_INPUT: {0: "batch_size", 1: "sequence_length"},
                          ONNX_OUTPUT: {0: "batch_size"}},
        )
    _store_fp16(Path(path), fp16)
    return Path(path)


def check_parity(model: torch.nn.Module, onnx_path: str | Path, vocab_size: int, max_length: int,
                 atol: float = 1e-4, seed: int = 0) -> float:
    """Compare ONNX Runtime with PyTorch on random padded batches; return the largest difference.

    Covers batch sizes 1..64 and lengths from 1 token to beyond `max_length`, mixed within a batch.
    Raises ExportMismatchError when any logit differs by more than `atol` (absolute, after
    scaling by the logits' magnitude).
    """
    from textrnn.inference.sessions import default_threads, open_session

    model = model.cpu().eval()
    session = open_session(Path(onnx_path), "cpu", default_threads())  # as predict opens it
    rng = np.random.default_rng(seed)
    worst = 0.0
    for batch, seq_len in [(1, 1), (1, 7), (3, 1), (4, 13), (9, 25), (64, 40), (2, max_length + 9)]:
        lengths = rng.integers(1, seq_len + 1, size=batch)
        lengths[0] = seq_len
        ids = np.zeros((batch, seq_len), dtype=np.int64)
        for row, n in enumerate(lengths):
            ids[row, :n] = rng.integers(1, vocab_size, size=n)
        with torch.no_grad():
            expected = model(torch.from_numpy(ids)).numpy()
        got = session.run([ONNX_OUTPUT], {ONNX_INPUT: ids})[0]
        diff = float(np.abs(got - expected).max() / max(1.0, np.abs(expected).max()))
        worst = max(worst, diff)
        if not diff <= atol:
            raise ExportMismatchError(
                f"ONNX export differs from PyTorch by {diff:.2e} (tolerance {atol:.0e}) at batch "
                f"{batch} x {seq_len} tokens; the model was not saved")
    return worst


def reexport_model(folder: ModelFolder) -> float:
    """Rewrite a folder's model.onnx from its PyTorch weights, parity-checked; returns the parity.

    The int8 model, derived from the old file, is removed (run quantize again to rebuild it).
    """
    from textrnn.folder import store
    from textrnn.folder.records import ExportInfo
    from textrnn.folder.weights import save_weights

    model = folder.torch_model()
    tmp = folder.path / f".{store.ONNX_FILE}.partial"
    tmp_weights = folder.path / f".{store.WEIGHTS_FILE}.partial"
    try:
        export_onnx(model, tmp)
        parity = check_parity(model, tmp, model.vocab_size, folder.metadata.settings.tokenizer.max_length)
        save_weights(model.state_dict(), tmp, tmp_weights)  # each tensor once, beside the new model.onnx
        tmp.replace(folder.path / store.ONNX_FILE)
        tmp_weights.replace(folder.path / store.WEIGHTS_FILE)
    finally:
        tmp.unlink(missing_ok=True)
        tmp_weights.unlink(missing_ok=True)
    (folder.path / store.INT8_FILE).unlink(missing_ok=True)
    folder.update(folder.metadata.replace(int8=None, export=ExportInfo(OPSET, parity)))
    return parity
