"""The PyTorch weights of a model folder, each stored once [torch, onnx].

model.onnx holds every tensor of the model, most under their PyTorch names (the embedding, the
classifier, the linear n-gram model's compact table, key rows and idf), the recurrent layers' as the
ONNX RNN/LSTM/GRU operators want them (both directions stacked, input and recurrent biases joined,
gates reordered). model.safetensors holds only the tensors found in neither form (none, for the models
textrnn exports today) and names the others in its metadata: `textrnn.in_onnx` (a JSON list: read
from model.onnx under the same name) and `textrnn.from_onnx` (a JSON object: name -> [initializer,
direction, half of a joined bias or -1, gate order]); loading reads them back from model.onnx.

A model.safetensors without these entries (written before) holds every tensor and loads as is.
The prediction path never reads this file: model.onnx is self-contained.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

IN_ONNX = "textrnn.in_onnx"  # safetensors metadata: JSON list of the tensors read from model.onnx
FROM_ONNX = "textrnn.from_onnx"  # safetensors metadata: JSON object, tensors cut out of model.onnx's
# PyTorch gate blocks -> the ONNX operator's: LSTM (i, f, g, o) -> (i, o, f, c); GRU (r, z, n) -> (z, r, h)
GATE_ORDERS = {"same": None, "lstm": (0, 3, 1, 2), "gru": (1, 0, 2)}


def _to_onnx_gates(value: np.ndarray, order: tuple[int, ...] | None) -> np.ndarray:
    if order is None:
        return value
    blocks = np.split(value, len(order))
    return np.concatenate([blocks[k] for k in order])


def _from_onnx_gates(value: np.ndarray, order: tuple[int, ...] | None) -> np.ndarray:
    if order is None:
        return value
    blocks = np.split(value, len(order))
    out = [None] * len(order)
    for k, block in zip(order, blocks, strict=True):
        out[k] = block
    return np.concatenate(out)


def _cut(init: np.ndarray, direction: int, half: int) -> np.ndarray:
    part = init[direction]
    return part if half < 0 else np.split(part, 2)[half]


def _find(value: np.ndarray, inits: dict[str, np.ndarray]) -> list | None:
    """Where `value` (a recurrent layer's weight or bias) lies in an ONNX operator's stacked, joined,
    reordered initializer: [name, direction, half or -1, gate order], or None."""
    if value.dtype != np.float32 or value.ndim not in (1, 2):
        return None
    for name, init in inits.items():
        if init.dtype != value.dtype or init.ndim != value.ndim + 1 or init.shape[0] > 2:
            continue
        for direction in range(init.shape[0]):
            for half in ((0, 1) if value.ndim == 1 else (-1,)):
                part = _cut(init, direction, half)
                if part.shape != value.shape:
                    continue
                for order_name, order in GATE_ORDERS.items():
                    if (order is None or len(value) % len(order) == 0) and \
                            np.array_equal(_to_onnx_gates(value, order), part):
                        return [name, direction, half, order_name]
    return None


def _initializers(onnx_path: Path) -> dict[str, np.ndarray]:
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_path)).graph
    return {init.name: numpy_helper.to_array(init) for init in graph.initializer}


def _same(init: np.ndarray, value: np.ndarray) -> bool:
    """Whether an initializer holds `value`: the same, or fp16 of an fp32 tensor holding fp16 values."""
    if init.dtype == np.float16 and value.dtype == np.float32:
        return init.shape == value.shape and np.array_equal(init.astype(np.float32), value)
    return init.dtype == value.dtype and np.array_equal(init, value)


def save_weights(state: dict[str, torch.Tensor], onnx_path: Path, path: Path) -> list[str]:
    """Write `state` to `path` (safetensors), leaving out every tensor that `onnx_path` holds, under the
    same name or as a recurrent operator's part; returns the names left out (read back by `load_weights`)."""
    from safetensors.torch import save_file

    inits = _initializers(onnx_path)
    shared, derived, rest = [], {}, {}
    for name, tensor in state.items():
        value = tensor.detach().cpu().contiguous()
        array = value.numpy()
        init = inits.get(name)
        if init is not None and _same(init, array):
            shared.append(name)
        elif (where := _find(array, inits)) is not None:
            derived[name] = where
        else:
            rest[name] = value
    save_file(rest, str(path), metadata={IN_ONNX: json.dumps(sorted(shared)), FROM_ONNX: json.dumps(derived)})
    return sorted([*shared, *derived])


def load_weights(path: Path, onnx_path: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a model: model.safetensors's own, and those it names as stored in model.onnx."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    shared, derived = json.loads(meta.get(IN_ONNX, "[]")), json.loads(meta.get(FROM_ONNX, "{}"))
    state = load_file(str(path))
    if shared or derived:
        inits = _initializers(onnx_path)
        missing = [name for name in [*shared, *(w[0] for w in derived.values())] if name not in inits]
        if missing:
            raise ValueError(f"{onnx_path.name} lacks {', '.join(missing[:3])}, which {path.name} says it holds")
        for name in shared:  # fp16 initializers (the embeddings) back to the fp32 the modules hold
            value = inits[name]
            state[name] = torch.from_numpy(value.astype(np.float32) if value.dtype == np.float16 else value.copy())
        for name, (init, direction, half, order) in derived.items():
            value = _from_onnx_gates(_cut(inits[init], direction, half), GATE_ORDERS[order])
            state[name] = torch.from_numpy(np.array(value, copy=True))
    return state
