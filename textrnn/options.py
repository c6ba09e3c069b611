"""Settings stage: how every command's options are declared, once, and the Enums of their choices.

A setting is a dataclass field made with `setting()`: its type (choices are the Enums below), its
default, and what the command line needs to offer it (help, metavar, limits, help section). The
settings of `train` are the config fields (textrnn.config); `predict`'s are PredictRequest's
(textrnn.inference.request) and TableRequest's (textrnn.batch.tables); `serve`'s are ServeSettings',
Limits' and ServerOptions' (textrnn.serving.settings); every other command's are the fields of its
request, in the light `request.py` module of its stage (EvaluateRequest, ExportRequest, BenchRequest,
InspectRequest, ReportRequest, CheckRequest: README's code map says where).
textrnn.cli.options turns them into typer options, and textrnn.entry reads the fast `predict` path's
from PredictRequest. Imports nothing but the standard library (the fast path loads it).
"""

from __future__ import annotations

from dataclasses import field, fields
from enum import Enum
from typing import Any

from textrnn.errors import ConfigError


class Choice(str, Enum):
    """A setting with named choices; compares equal to, prints and serializes as its value."""

    __str__ = str.__str__
    __format__ = str.__format__


class TokenizerKind(Choice):
    word = "word"
    bpe = "bpe"
    wordpiece = "wordpiece"


class Cell(Choice):
    rnn = "rnn"
    lstm = "lstm"
    gru = "gru"


class Activation(Choice):
    tanh = "tanh"
    relu = "relu"


class Pooling(Choice):
    last = "last"
    mean = "mean"
    max = "max"
    maxmean = "maxmean"


class Device(Choice):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class TrainPrecision(Choice):
    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"


class Metric(Choice):
    auto = "auto"
    accuracy = "accuracy"
    macro_f1 = "macro_f1"
    micro_f1 = "micro_f1"


class ClassWeight(Choice):
    none = "none"
    balanced = "balanced"


class Pretrain(Choice):
    auto = "auto"
    on = "on"
    off = "off"


class FoldModel(Choice):
    refit = "refit"
    members = "members"
    distilled = "distilled"


class InferPrecision(Choice):
    """Which ONNX model runs: auto is the int8 one where the folder has it (CPU), else fp32."""

    auto = "auto"
    fp32 = "fp32"
    int8 = "int8"


class OutputFormat(Choice):
    """How `predict` writes: an aligned table, JSON lines (--json) or CSV (--csv)."""

    table = "table"
    json = "json"
    csv = "csv"


class Engine(Choice):
    """Where `predict` runs: this process, or Ray Data (textrnn.batch)."""

    local = "local"
    ray = "ray"


# help shared by several commands' settings (and by textrnn.cli.options' shared options)
MODEL_HELP = "Model folder (default: the last trained model)."
DEVICE_HELP = "ONNX Runtime device: auto uses CUDA only where it really loads; cuda never falls back."
PRECISION_HELP = "auto: the int8 model when the folder has one (CPU), else fp32."
THREADS_HELP = "CPU threads: that many batches run at once, one thread each (default: physical cores)."
TEXT_COLUMN_HELP = "Text column (default: found by name)."
LABEL_COLUMN_HELP = "Label column (default: found by name)."


def setting(default: Any, help: str, *, flag: str | None = None, metavar: str | None = None,
            short: str | None = None, switch: bool = False, min: float | None = None, max: float | None = None,
            panel: str | None = None, show_default: bool | None = None) -> Any:
    """A dataclass field that is also a command-line option: `--name` (or `--flag`; `short` adds e.g.
    -f), its help and metavar; `switch`: a bool given as `--name` alone (no --no-name); `min`/`max`:
    the bounds the CLI checks; `panel`: its help section (default: the class's `panel`, else Options).
    A `default` of dataclasses.MISSING makes a required field (an option that defaults to None)."""
    return field(default=default, metadata={"help": help, "flag": flag, "metavar": metavar, "short": short,
                                            "switch": switch, "min": min, "max": max, "panel": panel,
                                            "show_default": show_default})


def choices(config: Any) -> None:
    """Turn strings given for Choice fields of a dataclass into their Enum (ConfigError for others):
    call from __post_init__. Field annotations are read as written (`Device`, `Device | None`)."""
    kinds = {kind.__name__: kind for kind in Choice.__subclasses__()}
    for f in fields(config):
        value = getattr(config, f.name)
        name = f.type.removesuffix(" | None") if isinstance(f.type, str) else getattr(f.type, "__name__", "")
        kind = kinds.get(name)
        if kind is not None and value is not None and not isinstance(value, kind):
            try:
                object.__setattr__(config, f.name, kind(value))
            except ValueError:
                flag = f.metadata.get("flag") or f.name
                raise ConfigError(f"{flag} must be one of {', '.join(m.value for m in kind)} "
                                  f"(got {value!r})") from None
