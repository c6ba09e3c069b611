"""Export stage: what `textrnn export` is asked (ExportRequest) and what `textrnn bench` is asked
(BenchRequest), each option declared once, as a field (textrnn.options.setting) that the typer
commands build their options from. A light import (no torch, no ONNX Runtime), so that building the
CLI costs nothing; textrnn.export.quantize's `export_model` does an ExportRequest, textrnn.export.bench's
`bench_model` a BenchRequest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textrnn.errors import ConfigError
from textrnn.options import MODEL_HELP, Device, choices, setting

MAX_DROP = 0.5  # score points an int8 model may lose on validation


@dataclass(frozen=True)
class ExportRequest:
    """Which model to export again, and how: model.onnx from its weights, or an int8 model (`int8`)
    judged on `data` (default: its validation set) with the largest drop `max_drop`."""

    model: Path | None = setting(None, MODEL_HELP, metavar="DIR")
    int8: bool = setting(False, "Write model.int8.onnx (dynamic int8, LSTM only), kept only if the validation score "
                                "drops <= --max-drop points.", switch=True)
    max_drop: float | None = setting(None, f"Largest validation score drop (points) accepted for int8 [default: "
                                           f"{MAX_DROP}].", metavar="POINTS", min=0.0, show_default=False)
    data: Path | None = setting(None, "Labelled file to compare fp32 and int8 on (default: the model's validation "
                                      "set, rebuilt from its metadata).", metavar="FILE")

    def check(self) -> None:
        if not self.int8 and (self.data is not None or self.max_drop is not None):
            raise ConfigError("--data and --max-drop apply only with --int8")


@dataclass(frozen=True)
class BenchRequest:
    """Which model to time on which texts, where, and against what (textrnn.export.bench's `bench_model`)."""

    model: Path | None = setting(None, MODEL_HELP, metavar="DIR")
    data: Path | None = setting(None, "Texts: .csv/.tsv/.jsonl (text column) or one text per line (default: the "
                                      "model's validation set).", metavar="FILE")
    device: Device = setting(Device.cpu, "cpu; cuda (ONNX Runtime CUDA provider and torch on the GPU; never falls "
                                         "back); auto (cuda where it loads).")
    threads: int | None = setting(None, "CPU threads (default: physical cores): ONNX runs that many batches side by "
                                        "side, one thread each (as predict does); torch uses them inside each batch.",
                                  metavar="N", min=1)
    limit: int | None = setting(None, "Use at most this many texts.", metavar="N", min=1)
    torch: bool = setting(True, "Include PyTorch eager (same weights) when torch is installed.")
    peak: bool = setting(False, "Measure this CPU's fp32 matrix-product peak and show each engine's share.")

    def __post_init__(self) -> None:
        choices(self)
