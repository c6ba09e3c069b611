"""The PyTorch weights of a model folder, each stored once [torch, onnx].

model.onnx holds most of the network's tensors under their PyTorch names (the embedding, the
classifier, the linear n-gram model's table, key rows and idf). model.safetensors holds only the
tensors that model.onnx does not hold unchanged under the same name (the recurrent layers, which the
exporter stores in the ONNX operators' gate order, and any tensor it folded), and names the others in
its metadata (`textrnn.in_onnx`); loading reads those back from model.onnx's initializers.

A model.safetensors without that entry (written before this) holds every tensor and loads as is.
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


def _initializers(onnx_path: Path) -> dict[str, np.ndarray]:
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_path)).graph
    return {init.name: numpy_helper.to_array(init) for init in graph.initializer}


def save_weights(state: dict[str, torch.Tensor], onnx_path: Path, path: Path) -> list[str]:
    """Write `state` to `path` (safetensors), leaving out every tensor that `onnx_path` holds unchanged
    under the same name; returns the names left out (read back by `load_weights`)."""
    from safetensors.torch import save_file

    inits = _initializers(onnx_path)
    shared, rest = [], {}
    for name, tensor in state.items():
        value = tensor.detach().cpu().contiguous()
        init = inits.get(name)
        if init is not None and init.dtype == value.numpy().dtype and np.array_equal(init, value.numpy()):
            shared.append(name)
        else:
            rest[name] = value
    save_file(rest, str(path), metadata={IN_ONNX: json.dumps(sorted(shared))})
    return sorted(shared)


def load_weights(path: Path, onnx_path: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a model: model.safetensors's own, and those it names as stored in model.onnx."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as f:
        shared = json.loads((f.metadata() or {}).get(IN_ONNX, "[]"))
    state = load_file(str(path))
    if shared:
        inits = _initializers(onnx_path)
        missing = [name for name in shared if name not in inits]
        if missing:
            raise ValueError(f"{onnx_path.name} lacks {', '.join(missing[:3])}, which {path.name} says it holds")
        state.update({name: torch.from_numpy(inits[name].copy()) for name in shared})
    return state
