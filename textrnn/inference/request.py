"""Inference stage: what `textrnn predict` is asked (PredictRequest) and what `textrnn evaluate` is
asked (EvaluateRequest), each of their options declared once, as a field (textrnn.options.setting):
the typer commands build their options from them, and the fast one-text entry point (textrnn.entry)
reads its own from PredictRequest. A light import (no ONNX Runtime), so that building the CLI costs
nothing; textrnn.inference.predict opens the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textrnn.errors import ConfigError, DataError
from textrnn.options import (
    DEVICE_HELP,
    LABEL_COLUMN_HELP,
    MODEL_HELP,
    PRECISION_HELP,
    TEXT_COLUMN_HELP,
    THREADS_HELP,
    Device,
    InferPrecision,
    OutputFormat,
    choices,
    setting,
)

CHUNK_SIZE = 2048  # texts read, predicted and written at a time (Predictor.predict_stream)
EXPLANATIONS = "Explanations"  # the help section of --explain and --label


@dataclass(frozen=True)
class PredictRequest:
    """What to classify (texts and/or a file, '-' for stdin), with which model, and how to write it.
    Each field with help is a `predict` option (textrnn.cli.options builds them; textrnn.entry reads
    the fast path's)."""

    texts: tuple[str, ...] = ()  # the TEXT arguments
    file: str | None = setting(None, "Read one text per line from this file ('-': stdin); streamed, any size.",
                               short="-f", metavar="FILE")
    model: str | None = setting(None, MODEL_HELP, metavar="DIR")
    top_k: int | None = setting(None, "Show the k most probable labels per text (default: 1; multi-label models: "
                                      "every label at or above its threshold, at most K).", metavar="K", min=1,
                                show_default=False)
    threshold: float | None = setting(None, "Multi-label models: give every label with probability >= X, instead "
                                            "of each label's threshold tuned on validation.", metavar="X", min=0.0,
                                      max=1.0)
    min_labels: int = setting(1, "Multi-label models: at least the N most probable labels per text, even below "
                                 "their thresholds (0: none).", metavar="N", min=0)
    format: OutputFormat = OutputFormat.table  # --json, --csv
    device: Device = setting(Device.auto, DEVICE_HELP)
    precision: InferPrecision = setting(InferPrecision.auto, PRECISION_HELP)
    threads: int | None = setting(None, THREADS_HELP, metavar="N", min=1)
    batch_size: int | None = setting(None, "Texts per inference batch (default: 16 on the CPU, fastest here with "
                                           "batches run side by side; 256 on CUDA).", metavar="N", min=1)
    chunk_size: int = setting(CHUNK_SIZE, "Texts read, predicted and written at a time (batched by length within "
                                          "a chunk).", metavar="N", min=1)
    explain: bool = setting(False, "Show why: each token's weight for the label (its effect on the label's "
                                   "log-odds: the mean of removing it from the text and of it alone), the text "
                                   "coloured by it (or [+0.31]token notation without colour); with --json, tokens "
                                   "with their character spans. Multi-label: each chosen label.", switch=True,
                            panel=EXPLANATIONS)
    label: str | None = setting(None, "With --explain: explain this label instead of the predicted one.",
                                metavar="LABEL", panel=EXPLANATIONS)

    def __post_init__(self) -> None:
        if self.texts == ("-",):  # one '-' argument: the texts come from stdin
            object.__setattr__(self, "texts", ())
            object.__setattr__(self, "file", "-")
        choices(self)

    def check(self) -> None:
        """DataError or ConfigError for what cannot run, before anything is loaded or written."""
        if not self.texts and self.file is None:
            raise DataError("no text to classify: pass TEXT arguments, --file FILE, or '-' for stdin")
        for n, text in enumerate(self.texts, start=1):
            if not text.strip():
                raise DataError(f"text {n} is empty")
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


@dataclass(frozen=True)
class EvaluateRequest:
    """Which labelled file to score, how to read it, and with which model (textrnn.inference.predict's
    `evaluate_file`). Each field with help is an `evaluate` option."""

    data: Path  # the DATA argument
    model: Path | None = setting(None, MODEL_HELP, metavar="DIR")
    text_column: str | None = setting(None, TEXT_COLUMN_HELP, metavar="NAME")
    label_column: str | None = setting(None, LABEL_COLUMN_HELP, metavar="NAME")
    label_sep: str | None = setting(None, "Several labels per text, separated by this (default: as the model was "
                                          "trained).", metavar="SEP")
    multi_label: bool = setting(False, "Read the file as multi-label even if every text has one label.",
                                switch=True)
    device: Device = setting(Device.auto, DEVICE_HELP)

    def __post_init__(self) -> None:
        choices(self)
