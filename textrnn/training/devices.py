"""Training stage [torch]: which device and which floating-point precision a fit runs in, and with
which software (the versions a model folder records)."""

from __future__ import annotations

import platform
from importlib import metadata as importlib_metadata

import torch

from textrnn.errors import DeviceError


def resolve_device(name: str) -> torch.device:
    """'auto' -> CUDA when torch can use it, else CPU; 'cuda' without CUDA is an error."""
    if name == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if name == "cuda":
        raise DeviceError("--device cuda: this torch build or machine has no usable CUDA GPU "
                          f"(torch {torch.__version__}); use --device cpu")
    return torch.device("cpu")


def native_bf16() -> bool:
    """Whether this CPU runs bfloat16 natively (AVX512-BF16 or AMX) in oneDNN, which the LSTM needs."""
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def resolve_precision(name: str, device: torch.device) -> torch.dtype:
    """'auto' -> bfloat16 on a CPU with native bfloat16, else float32.

    CUDA stays float32 under 'auto' (not yet measured there); 'bf16' forces it, except on a CPU
    without native bfloat16, where oneDNN has no LSTM kernel for it (an error, not a crash mid-fit).
    """
    if name == "bf16":
        if device.type == "cpu" and not native_bf16():
            raise DeviceError("--precision bf16: this CPU has no native bfloat16 (AVX512-BF16 or AMX), "
                              "which PyTorch's CPU LSTM needs; use --precision fp32 (or auto)")
        return torch.bfloat16
    if name == "auto" and device.type == "cpu" and native_bf16():
        return torch.bfloat16
    return torch.float32


def software_versions() -> dict[str, str]:
    """Python's and the main libraries' versions, as a model or encoder folder records them."""
    out = {"python": platform.python_version()}
    for dist in ("torch", "onnx", "onnxruntime-gpu", "onnxruntime", "tokenizers", "numpy"):
        try:
            out[dist] = importlib_metadata.version(dist)
        except importlib_metadata.PackageNotFoundError:
            pass
    return out
