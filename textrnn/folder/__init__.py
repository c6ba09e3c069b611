"""The model folder, opened once: its path, typed metadata, tokenizer and model files.

    folder = ModelFolder.open("models/sst2")   # or None: the default model
    folder.metadata.training.best_epoch, folder.task.labels, folder.tokenizer, folder.onnx_file()

Opening resolves the path once (the DEFAULT pointer when no folder is given), checks that the
required files are there, reads metadata.json and checks its version and task. The typed records
(textrnn.folder.records) are built the first time `metadata` is asked for, and checked then: the
prediction path needs only the task and the vocabulary size, and stays a light import. No torch:
`torch_model()` imports it when called.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textrnn.errors import DataError, DeviceError, ModelFolderError
from textrnn.folder import store
from textrnn.folder.format import check_version, read_task, read_vocab_size
from textrnn.folder.store import INT8_FILE, METADATA_FILE, ONNX_FILE, REQUIRED_FILES, TOKENIZER_FILE, WEIGHTS_FILE
from textrnn.options import InferPrecision

if TYPE_CHECKING:
    from tokenizers import Tokenizer
    from torch import nn

    from textrnn.data import Dataset
    from textrnn.folder.records import Metadata
    from textrnn.tasks import Task

__all__ = ["PRECISIONS", "ModelFolder"]

PRECISIONS = tuple(p.value for p in InferPrecision)  # which ONNX file to run


def read_metadata(path: Path) -> dict[str, Any]:
    """metadata.json as JSON values, its version checked."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelFolderError(f"{path} is unreadable or corrupt ({err})") from err
    check_version(data, str(path))
    return data


class ModelFolder:
    """A trained model's folder: `path`, `metadata` (typed), `task`, `tokenizer`, model files."""

    def __init__(self, path: Path, metadata: Metadata | dict[str, Any]) -> None:
        """From typed `metadata` (a folder being written), or metadata.json's content (opened)."""
        self.path = path
        self._raw = metadata if isinstance(metadata, dict) else None
        self._metadata = None if isinstance(metadata, dict) else metadata
        source = str(path / METADATA_FILE)
        self.task: Task = read_task(metadata, source) if isinstance(metadata, dict) else metadata.task
        self._tokenizer: Tokenizer | None = None

    @classmethod
    def open(cls, model: str | Path | None = None) -> ModelFolder:
        """The folder `model`, or the default model when None; ModelFolderError when it is missing,
        incomplete or its metadata is corrupt."""
        path = Path(model) if model is not None else store.default_model()
        if not path.is_dir():
            raise ModelFolderError(f"model folder {path} does not exist")
        missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
        if missing:
            raise ModelFolderError(f"model folder {path} is incomplete: missing {', '.join(missing)}")
        return cls(path, read_metadata(path / METADATA_FILE))

    @property
    def metadata(self) -> Metadata:
        """Everything metadata.json records, as typed records (built and checked on first use)."""
        if self._metadata is None:
            from textrnn.folder.records import Metadata

            self._metadata = Metadata.from_dict(self._raw, str(self.path / METADATA_FILE))
        return self._metadata

    @property
    def trained_vocab_size(self) -> int | None:
        """The vocabulary size the model was trained with (to check tokenizer.json against)."""
        if self._metadata is not None:
            return self._metadata.tokenizer.vocab_size if self._metadata.tokenizer else None
        return read_vocab_size(self._raw)

    def __repr__(self) -> str:
        return f"ModelFolder({str(self.path)!r})"

    @property
    def name(self) -> str:
        """The folder's name (a copied folder is known by its new name)."""
        return self.path.resolve().name if self.path.name in ("", ".", "..") else self.path.name

    @property
    def labels(self) -> tuple[str, ...]:
        return self.task.labels

    @property
    def tokenizer(self) -> Tokenizer:
        if self._tokenizer is None:
            from textrnn.tokenizer import load_tokenizer

            path = self.path / TOKENIZER_FILE
            try:
                self._tokenizer = load_tokenizer(path)
            except Exception as err:  # tokenizers raises a bare Exception on bad JSON
                raise ModelFolderError(f"{path} is corrupt ({str(err)[:160]})") from err
        return self._tokenizer

    @property
    def size_bytes(self) -> int:
        return store.folder_bytes(self.path)

    @property
    def is_default(self) -> bool:
        return store.is_default(self.path)

    def onnx_file(self, precision: str = "auto", device: str = "auto") -> tuple[Path, str]:
        """The ONNX file to run and its precision: int8 when present (CPU only), else fp32.

        The int8 file uses ONNX Runtime's CPU-only DynamicQuantizeLSTM kernel, so `device cuda` runs
        the fp32 model (an int8 model on CUDA would quietly run its LSTM on the CPU).
        """
        if precision not in PRECISIONS:
            raise ModelFolderError(f"precision must be one of {', '.join(PRECISIONS)} (got {precision!r})")
        int8 = self.path / INT8_FILE
        if precision == "int8":
            if not int8.is_file():
                raise ModelFolderError(f"{self.path} has no int8 model ({INT8_FILE}); run "
                                       f"`textrnn export --int8 --model {self.path}` or use --precision fp32")
            if device == "cuda":
                raise DeviceError("--precision int8 runs on the CPU only (ONNX Runtime has no CUDA kernel "
                                  "for DynamicQuantizeLSTM); use --precision fp32 with --device cuda")
            return int8, "int8"
        if precision == "auto" and int8.is_file() and device != "cuda":
            return int8, "int8"
        return self.path / ONNX_FILE, "fp32"

    def load_dataset(self, path: str | Path, text_column: str | None = None, label_column: str | None = None,
                     label_sep: str | None = None, multi_label: bool = False) -> Dataset:
        """A labelled file read as this model's training data was (its columns and label separator),
        unless told otherwise."""
        from textrnn.data.stream import read_any  # as training reads it (streamed, Parquet too)

        cfg = self.metadata.settings.data
        return read_any(path, text_column or cfg.text_column, label_column or cfg.label_column,
                        label_sep=label_sep or cfg.label_sep, multi_label=multi_label or cfg.multi_label)

    def validation_data(self) -> Dataset:
        """The exact validation set the model was trained with, rebuilt from the metadata.

        Reads the --val file, or re-splits the training file with the saved seed and fraction; the
        file must still be there and unchanged (checked by SHA-256).
        """
        from textrnn.data import file_sha256, stratified_split

        meta = self.metadata
        own_file = meta.data["val"].path is not None
        info = meta.data["val"] if own_file else meta.data["train"]
        if info.path is None or not Path(info.path).is_file():
            raise DataError(f"the validation data of this model ({info.path}) is no longer there; pass --data FILE")
        if file_sha256(info.path) != info.sha256:
            raise DataError(f"{info.path} has changed since the model was trained; pass --data FILE")
        data = self.load_dataset(info.path)  # as training read it
        if own_file:
            return data
        return stratified_split(data, meta.settings.data.val_split, meta.settings.train.seed)[1]

    def torch_model(self) -> nn.Module:
        """The PyTorch model from model.safetensors and the weights it reads from model.onnx (a
        TextClassifier or an Ensemble, Mixed with its TF-IDF model where it has one), CPU, eval. [torch]"""
        from textrnn.folder.weights import load_weights
        from textrnn.model import build_model

        weights = self.path / WEIGHTS_FILE
        if not weights.is_file():
            raise ModelFolderError(f"model folder {self.path} has no {WEIGHTS_FILE} (the PyTorch weights)")
        meta = self.metadata
        vocab = self.tokenizer.get_vocab_size()
        model = build_model(meta.settings.model, vocab, self.task, members=meta.members)
        try:
            state = load_weights(weights, self.path / ONNX_FILE)  # what model.onnx holds is read from it
            if meta.linear is not None:  # mixed with the TF-IDF model (textrnn.model.tfidf)
                from textrnn.model.tfidf import complete_old_weights, compose

                cols = state.get("linear.cols")  # a sparse table (else the dense fp32 one of older folders)
                model = compose(model, self.task, vocab, meta.linear, top_k=None if cols is None else cols.shape[1])
                state = complete_old_weights(state, model)
            model.load_state_dict(state)
        except Exception as err:  # safetensors and torch raise several types for bad or mismatched files
            raise ModelFolderError(f"{weights} is corrupt or does not fit this model's settings "
                                   f"({str(err)[:160]})") from err
        return model.eval()

    def update(self, metadata: Metadata) -> None:
        """Record new metadata (after re-export or quantization), atomically."""
        from textrnn.folder.records import write_metadata

        write_metadata(self.path / METADATA_FILE, metadata)
        self._metadata, self._raw, self.task = metadata, None, metadata.task
