"""What a model folder's metadata.json holds, as typed, frozen records; read and written here only.

Format version 2 (this textrnn writes it):

    {"format_version": 2, "textrnn_version", "created",
     "task": {"kind": "single_label", "labels": [...]},
     "settings": {"data": {...}, "tokenizer": {...}, "model": {...}, "train": {...}},
     "data": {"train": DataInfo, "val": DataInfo, "test": DataInfo},
     "tokenizer": TokenizerInfo, "network": Network, "training": Training, "export": ExportInfo,
     "int8": Int8Info | null, "results": {"val": {"metrics", "analysis"}, "test": {...}},
     "test_torch_score": float | null, "versions": {...}}

Metrics and analysis records are the task's own types (textrnn.tasks). Version 1 folders (textrnn
0.1 before the reshape) are read by `_from_v1` and keep loading, predicting and reporting.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textrnn.config import Settings
from textrnn.errors import ModelFolderError
from textrnn.folder.format import FORMAT_VERSION, check_version, read_task
from textrnn.schema import SchemaError, from_json, to_json
from textrnn.tasks import Task


@dataclass(frozen=True)
class DataInfo:
    """One split: rows and label counts, and the file it came from (path, SHA-256) if any."""

    rows: int
    label_counts: dict[str, int]
    source: str = "file"  # "file", or how it was split off: "split of train (0.1)"
    path: str | None = None
    sha256: str | None = None
    cardinality: float | None = None  # labels per text, for multi-label data


@dataclass(frozen=True)
class TokenizerInfo:
    """The trained vocabulary and how well it covers the validation texts."""

    kind: str
    vocab_size: int
    val_unknown_rate: float = 0.0
    val_truncated_share: float = 0.0


@dataclass(frozen=True)
class Layer:
    """A row of the Keras-like model summary."""

    layer: str
    output_shape: str
    params: int


@dataclass(frozen=True)
class Network:
    """The model's layers and parameter count."""

    layers: tuple[Layer, ...] = ()
    params: int = 0


@dataclass(frozen=True)
class EpochStats:
    """One epoch's training and validation numbers; `score` is the task's metric (Training.metric)."""

    epoch: int
    loss: float
    score: float
    val_loss: float
    val_score: float
    seconds: float


@dataclass(frozen=True)
class Member:
    """One ensemble member's fit."""

    seed: int
    best_epoch: int
    epochs: int
    stopped: str
    val_score: float
    val_loss: float
    train_seconds: float


@dataclass(frozen=True)
class Training:
    """How training went: the first member's history, the plan, every member, the time."""

    metric: str = "accuracy"
    history: tuple[EpochStats, ...] = ()
    best_epoch: int = 0
    planned_epochs: int | None = None
    patience: int | None = None
    stopped: str = "completed"  # completed | early_stopping | interrupted | diverged
    members: tuple[Member, ...] = ()
    planned_members: int = 1
    seconds: float = 0.0  # fitting, all members
    total_seconds: float | None = None  # the whole job: data, tokenizer, fit, export, evaluation
    precision: str | None = None  # what ran: fp32 or bf16
    folds: tuple[Member, ...] = ()  # cross-fitted: each fold network's fit, scored on its held-out fold
    fold_model: str | None = None  # cross-fitted: "refit" / "distilled" (one network on all texts), "members" (the
    #                                folds'), or "first fold" (the TF-IDF model's share is 1: the network is unused)
    refit_epochs: int | None = None  # cross-fitted refit: epochs trained on all texts


@dataclass(frozen=True)
class ExportInfo:
    """The ONNX export and its largest difference from PyTorch on the parity check."""

    opset: int
    parity_max_diff: float


@dataclass(frozen=True)
class Int8Info:
    """What int8 quantization decided (kept | refused | skipped), with the numbers behind it."""

    status: str
    reason: str
    fp32_score: float | None = None
    int8_score: float | None = None
    drop_points: float | None = None
    max_drop_points: float = 0.5
    val_rows: int | None = None
    fp32_seconds: float | None = None
    int8_seconds: float | None = None

    @property
    def kept(self) -> bool:
        return self.status == "kept"


@dataclass(frozen=True)
class PretrainedInfo:
    """Where the pretrained layers came from, what they cover, and how training treated them."""

    kind: str  # "word vectors" | "language model"
    source: str  # the vectors file or the encoder folder
    sha256: str | None = None
    dim: int = 0
    format: str = ""
    vocab_types: int = 0  # vocabulary words (without [PAD], [UNK])
    covered_types: int = 0  # of them, with a vector
    covered_tokens: float = 0.0  # share of training tokens whose word has a vector
    bad_lines: int = 0
    duplicates: int = 0
    lowercase_matches: int = 0
    perplexity: float | None = None  # the encoder's held-out perplexity
    layers: tuple[str, ...] = ()  # the parameters filled
    freeze_epochs: int = 0
    lr_scale: float = 1.0


@dataclass(frozen=True)
class LinearInfo:
    """The TF-IDF model mixed with the network (textrnn.model.tfidf; `--linear`): its size, how it was
    chosen on validation, and what each part and the mix scored there."""

    features: int  # unigram and bigram features kept (the weight table has one more row)
    buckets: int  # hashed bigram keys
    alpha: float  # the linear model's share of the mixed probabilities
    c: float  # inverse regularisation strength of the logistic regression
    network_val_score: float
    linear_val_score: float
    mixed_val_score: float
    seconds: float = 0.0
    refit_texts: int = 0  # refitted with C and alpha kept on this many texts (training + validation); 0: not
    sublinear_tf: bool = False  # a feature's count weighs 1 + ln(count) (False: the count, folders saved before)
    pooling: str = "mean"  # how the two are mixed: "geometric" (Task.pool) or "mean" of the probabilities (before)
    scale: float = 1.0  # geometric pool: both weights times this, a temperature chosen with the share (1: before)


@dataclass(frozen=True)
class Trial:
    """One trial of `textrnn tune`: the settings it tried and how it ended."""

    number: int
    params: dict[str, Any]
    state: str  # complete | pruned | time up | interrupted | failed
    val_score: float | None = None
    val_loss: float | None = None
    epochs: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class Tuning:
    """A `textrnn tune` search: the budget, every trial, which one this model is."""

    budget_seconds: float
    seconds: float
    seed: int
    metric: str
    trials: tuple[Trial, ...]
    best_trial: int
    fixed: tuple[str, ...] = ()  # settings the user gave, never searched
    stopped: str = "budget"  # budget | trials | interrupted
    search: str = "optuna TPE sampler, median pruner"


@dataclass(frozen=True)
class SplitResult:
    """The scores of one split (the task's metrics record) and, for validation, its analysis."""

    metrics: Any
    analysis: Any | None = None


@dataclass(frozen=True)
class Metadata:
    """Everything a model folder records besides its model files."""

    task: Task
    settings: Settings
    data: dict[str, DataInfo]
    tokenizer: TokenizerInfo | None  # None: a model from before the tokenizer was described
    network: Network
    training: Training
    export: ExportInfo | None = None
    int8: Int8Info | None = None
    pretrained: PretrainedInfo | None = None
    tuning: Tuning | None = None
    linear: LinearInfo | None = None  # the linear n-gram model mixed in, if any
    results: dict[str, SplitResult] = field(default_factory=dict)
    test_torch_score: float | None = None
    versions: dict[str, str] = field(default_factory=dict)
    created: str = ""
    textrnn_version: str = ""
    format_version: int = FORMAT_VERSION

    @property
    def labels(self) -> tuple[str, ...]:
        return self.task.labels

    @property
    def members(self) -> int:
        """Models averaged in the ONNX graph (1 unless an ensemble; an interrupted one may have fewer
        than planned)."""
        return max(1, len(self.training.members))

    def replace(self, **changes: Any) -> Metadata:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format_version": FORMAT_VERSION, "textrnn_version": self.textrnn_version,
                               "created": self.created, "task": self.task.to_dict()}
        for f in dataclasses.fields(self):
            if f.name not in out and f.name != "task":
                out[f.name] = to_json(getattr(self, f.name))
        return out

    @classmethod
    def from_dict(cls, data: Any, source: str = "metadata.json") -> Metadata:
        """Read a metadata.json of any version this textrnn reads; ModelFolderError names what is wrong."""
        version = check_version(data, source)
        task = read_task(data, source)
        for key, value in data.items():
            if key in ("config", "settings", "tokenizer", "metrics", "data", "training") \
                    and value is not None and not isinstance(value, dict):
                raise ModelFolderError(f"{source}: {key!r} must be an object (got {type(value).__name__})")
        if version == 1:
            data = _from_v1(data)
        try:
            values: dict[str, Any] = {"task": task}
            for name, hint in _FIELDS.items():
                if name in data:
                    values[name] = _field(name, hint, data[name])
                elif name in ("settings", "data", "network", "training"):
                    raise SchemaError(name, "is missing")
            results = _field("results", dict[str, dict[str, Any]], data.get("results", {}))
            values["results"] = {split: SplitResult(
                from_json(task.metrics_type, r.get("metrics"), f"results.{split}.metrics"),
                from_json(task.analysis_type, r["analysis"], f"results.{split}.analysis")
                if r.get("analysis") is not None else None) for split, r in results.items()}
            return cls(**values)
        except SchemaError as err:
            raise ModelFolderError(f"{source}: {err}") from err


_FIELDS: dict[str, Any] = {"settings": Settings, "data": dict[str, DataInfo], "tokenizer": TokenizerInfo | None,
                           "network": Network, "training": Training, "export": ExportInfo | None,
                           "int8": Int8Info | None, "pretrained": PretrainedInfo | None, "tuning": Tuning | None,
                           "linear": LinearInfo | None, "test_torch_score": float | None,
                           "versions": dict[str, str], "created": str, "textrnn_version": str}


def _field(name: str, hint: Any, value: Any) -> Any:
    """One top-level value as `hint`, errors naming it (`training.history[3].loss: ...`)."""
    holder = dataclasses.make_dataclass("Metadata", [(name, hint)], frozen=True)
    return getattr(from_json(holder, {name: value}), name)


def _from_v1(d: dict[str, Any]) -> dict[str, Any]:
    """A format-1 metadata.json (one flat object, accuracy-named history) in the format-2 shape."""
    members = [{"seed": m.get("seed", 0), "best_epoch": m.get("best_epoch", 0), "epochs": m.get("epochs", 0),
                "stopped": m.get("stopped", "completed"), "val_score": m.get("val_accuracy", 0.0),
                "val_loss": m.get("val_loss", 0.0), "train_seconds": m.get("train_seconds", 0.0)}
               for m in d.get("members") or [] if isinstance(m, dict)]
    history = [{"epoch": h.get("epoch"), "loss": h.get("loss"), "score": h.get("accuracy"),
                "val_loss": h.get("val_loss"), "val_score": h.get("val_accuracy"), "seconds": h.get("seconds", 0.0)}
               for h in d.get("history") or [] if isinstance(h, dict)]
    metrics = d.get("metrics") or {}
    analysis = d.get("analysis") or {}
    results = {split: {"metrics": metrics[split], "analysis": analysis.get(split)}
               for split in ("val", "test") if split in metrics}
    int8 = d.get("int8")
    if isinstance(int8, dict):
        int8 = {**{k: v for k, v in int8.items() if k not in ("fp32_accuracy", "int8_accuracy")},
                "fp32_score": int8.get("fp32_accuracy"), "int8_score": int8.get("int8_accuracy")}
    return {
        "format_version": 1, "textrnn_version": d.get("textrnn_version", ""), "created": d.get("created", ""),
        "task": {"kind": "single_label", "labels": d.get("labels")},
        "settings": d.get("config", {}),
        "data": d.get("data", {}),
        "tokenizer": d.get("tokenizer"),
        "network": {"layers": d.get("summary", []), "params": d.get("params", 0)},
        "training": {"metric": "accuracy", "history": history, "best_epoch": d.get("best_epoch", 0),
                     "planned_epochs": d.get("planned_epochs"), "patience": d.get("patience"),
                     "stopped": d.get("stopped", "completed"), "members": members,
                     "planned_members": d.get("planned_members", max(1, len(members))),
                     "seconds": d.get("train_seconds", 0.0), "total_seconds": d.get("total_seconds"),
                     "precision": d.get("train_precision")},
        "export": d.get("export"),
        "int8": int8,
        "results": results,
        "test_torch_score": metrics.get("test_torch_accuracy"),
        "versions": d.get("versions", {}),
    }


def write_metadata(path: Path, meta: Metadata) -> None:
    """Write metadata.json atomically (the one place that writes it)."""
    from textrnn.folder.store import write_json

    write_json(path, meta.to_dict())
