"""textrnn: train recurrent text classifiers, export them to ONNX, serve them with ONNX Runtime.

The top-level API imports no torch: `load_predictor`, `open_model` and `load_dataset` are cheap;
`train_model` imports torch when called.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["Settings", "__version__", "load_dataset", "load_predictor", "open_model", "train_model"]


def __getattr__(name: str) -> Any:
    # Lazy, so `import textrnn` stays light and the prediction path never loads torch.
    if name == "load_dataset":
        from textrnn.data import load_dataset
        return load_dataset
    if name == "load_predictor":
        from textrnn.inference.predictor import load_predictor
        return load_predictor
    if name == "open_model":
        from textrnn.folder import ModelFolder
        return ModelFolder.open
    if name == "Settings":
        from textrnn.config import Settings
        return Settings
    if name == "train_model":
        from textrnn.training.job import train_model
        return train_model
    raise AttributeError(f"module 'textrnn' has no attribute {name!r}")
