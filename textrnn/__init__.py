"""textrnn: train recurrent text classifiers, export them to ONNX, serve them with ONNX Runtime.

The top-level API imports no torch: `load_predictor` and `load_dataset` are cheap; `train_model`
imports torch when called.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "load_dataset", "load_predictor", "train_model"]


def __getattr__(name: str) -> Any:
    # Lazy, so `import textrnn` stays light and the prediction path never loads torch.
    if name == "load_dataset":
        from textrnn.data import load_dataset
        return load_dataset
    if name == "load_predictor":
        from textrnn.infer import load_predictor
        return load_predictor
    if name == "train_model":
        from textrnn.pipeline import train_model
        return train_model
    raise AttributeError(f"module 'textrnn' has no attribute {name!r}")
