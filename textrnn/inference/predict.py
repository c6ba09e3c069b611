"""Inference stage: the model a `textrnn predict` request (textrnn.inference.request) opens, after its
checks; textrnn.views.predictions writes the answer. Shared by the typer command and the fast one-text
entry point (textrnn.entry), so both check the same things. Also `textrnn evaluate`'s request, scored
(`evaluate_file`). No torch, typer or rich.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textrnn.inference.predictor import Predictor, load_predictor
from textrnn.inference.request import EvaluateRequest, PredictRequest
from textrnn.inference.sessions import CPU

__all__ = ["EvaluateRequest", "PredictRequest", "evaluate_file", "open_predictor"]


def open_predictor(request: PredictRequest, notice: Callable[[str], None] | None = None) -> Predictor:
    """Check the request and load its model (nothing is written yet)."""
    request.check()
    predictor = load_predictor(request.model, request.device, request.threads, request.precision, request.threshold)
    if notice and (predictor.provider != CPU or request.device == "cuda"):
        notice(f"running on {predictor.provider} ({predictor.precision})")
    return predictor


def evaluate_file(request: EvaluateRequest) -> tuple[Predictor, Any]:
    """The model's scores on the request's labelled file, with ONNX Runtime: (the predictor, its task's
    metrics record)."""
    predictor = load_predictor(request.model, request.device)
    data = predictor.folder.load_dataset(request.data, request.text_column, request.label_column, request.label_sep,
                                         request.multi_label)
    return predictor, predictor.evaluate(data)
