"""Inference stage: the model a `textrnn predict` request (textrnn.inference.request) opens, after its
checks; textrnn.views.predictions writes the answer. Shared by the typer command and the fast
one-text entry point (textrnn.entry), so both check the same things. No torch, typer or rich.
"""

from __future__ import annotations

from collections.abc import Callable

from textrnn.inference.predictor import Predictor, load_predictor
from textrnn.inference.request import PredictRequest
from textrnn.inference.sessions import CPU

__all__ = ["PredictRequest", "open_predictor"]


def open_predictor(request: PredictRequest, notice: Callable[[str], None] | None = None) -> Predictor:
    """Check the request and load its model (nothing is written yet)."""
    request.check()
    predictor = load_predictor(request.model, request.device, request.threads, request.precision, request.threshold)
    if notice and (predictor.provider != CPU or request.device == "cuda"):
        notice(f"running on {predictor.provider} ({predictor.precision})")
    return predictor
