"""Inference stage: what `textrnn predict` is asked (PredictRequest: each of its options declared
once, as a field) and the model it opens; textrnn.views.predictions writes the answer. Shared by the
typer command and the fast one-text entry point (textrnn.entry), so both check the same things.
No torch, typer or rich.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from textrnn.errors import ConfigError, DataError
from textrnn.folder import PRECISIONS
from textrnn.inference.predictor import CHUNK_SIZE, Predictor, load_predictor
from textrnn.inference.sessions import CPU, DEVICES

FORMATS = ("table", "json", "csv")


@dataclass(frozen=True)
class PredictRequest:
    """What to classify (texts and/or a file, '-' for stdin), with which model, and how to write it."""

    texts: tuple[str, ...] = ()
    file: str | None = None
    model: str | None = None
    top_k: int | None = None  # single-label: 1; multi-label: every label at or above its threshold
    format: str = "table"
    device: str = "auto"
    precision: str = "auto"
    threads: int | None = None
    batch_size: int | None = None
    chunk_size: int = CHUNK_SIZE
    threshold: float | None = None  # multi-label: one threshold for every label instead of the tuned ones
    min_labels: int = 1  # multi-label: at least this many labels per text (the most probable)
    explain: bool = False  # each token's weight for each label given (textrnn.inference.explain)
    label: str | None = None  # with explain: explain this label instead

    def __post_init__(self) -> None:
        if self.texts == ("-",):  # one '-' argument: the texts come from stdin
            object.__setattr__(self, "texts", ())
            object.__setattr__(self, "file", "-")

    def check(self) -> None:
        """DataError or ConfigError for what cannot run, before anything is loaded or written."""
        if not self.texts and self.file is None:
            raise DataError("no text to classify: pass TEXT arguments, --file FILE, or '-' for stdin")
        for n, text in enumerate(self.texts, start=1):
            if not text.strip():
                raise DataError(f"text {n} is empty")
        if self.format not in FORMATS:
            raise ConfigError(f"format must be one of {', '.join(FORMATS)} (got {self.format!r})")
        if self.min_labels < 0:
            raise ConfigError(f"min-labels must be >= 0 (got {self.min_labels})")
        for name, value in (("top_k", self.top_k), ("threads", self.threads), ("batch_size", self.batch_size),
                            ("chunk_size", self.chunk_size)):
            if value is not None and value < 1:
                raise ConfigError(f"{name.replace('_', '-')} must be at least 1 (got {value})")
        if self.label is not None and not self.explain:
            raise ConfigError("--label chooses the label to explain: add --explain")
        if self.explain and self.format == "csv":
            raise ConfigError("--explain writes text or --json (a record per text with its tokens), not --csv")
        if self.device not in DEVICES or self.precision not in PRECISIONS:
            raise ConfigError(f"unknown device {self.device!r} or precision {self.precision!r}")


def open_predictor(request: PredictRequest, notice: Callable[[str], None] | None = None) -> Predictor:
    """Check the request and load its model (nothing is written yet)."""
    request.check()
    predictor = load_predictor(request.model, request.device, request.threads, request.precision, request.threshold)
    if notice and (predictor.provider != CPU or request.device == "cuda"):
        notice(f"running on {predictor.provider} ({predictor.precision})")
    return predictor
