"""Batch stage: a batch predictor for distributed data engines (Ray Data, Spark). No torch.

A `BatchPredictor` is built on the driver from a model folder and sent to the workers: it carries
the few files prediction needs (metadata.json, tokenizer.json, the ONNX model: a few MB) as bytes, so
it works on a cluster whose workers cannot see the driver's disk. It loads lazily: each worker
process writes the files once into a private temporary folder and opens its own ONNX Runtime
session on its first batch (cached for the process, so Spark tasks and Ray calls in one worker share
it). A call maps a table batch (pandas DataFrame, or Ray's dict of numpy arrays) to the same rows
with the prediction columns added, in the same order (as `textrnn predict --csv` names them):
`label`, `probability`, and `label_2`, `probability_2`, ... with `top_k` > 1.

    predictor = BatchPredictor("models/sst2", text_column="text")
    # Ray Data: an actor pool, one CPU (one ONNX Runtime thread) per actor
    ds.map_batches(RayActor, fn_constructor_kwargs={"predictor": predictor}, concurrency=8,
                   batch_size=1024, batch_format="pandas")
    # Spark: every column of df, plus the predictions
    df.mapInPandas(predictor.map_frames, schema=predictor.spark_schema(df.schema))
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from textrnn.errors import DataError, ModelFolderError
from textrnn.folder import ModelFolder
from textrnn.folder.store import INT8_FILE, METADATA_FILE, ONNX_FILE, TOKENIZER_FILE

if TYPE_CHECKING:
    from textrnn.inference.predictor import Predictor

__all__ = ["BatchPredictor", "PackedModel", "RayActor", "prediction_columns"]

_OPENED: dict[tuple, Predictor] = {}  # this process's predictors, by model digest and options


@dataclass(frozen=True)
class PackedModel:
    """The files of a model folder that prediction needs, as bytes (picklable, a few MB)."""

    name: str
    files: tuple[tuple[str, bytes], ...]

    @classmethod
    def from_folder(cls, model: str | Path | None, precision: str = "auto") -> PackedModel:
        """Pack `model` (a folder, or the default model); the int8 model only where it would be used."""
        folder = ModelFolder.open(model)
        names = [METADATA_FILE, TOKENIZER_FILE, ONNX_FILE]
        if precision != "fp32" and (folder.path / INT8_FILE).is_file():
            names.append(INT8_FILE)
        try:
            return cls(folder.name, tuple((name, (folder.path / name).read_bytes()) for name in names))
        except OSError as err:
            raise ModelFolderError(f"cannot read {folder.path}: {err.strerror}") from err

    @property
    def digest(self) -> str:
        h = hashlib.sha256()
        for name, data in self.files:
            h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
        return h.hexdigest()[:16]

    def unpack(self) -> Path:
        """A folder holding the files in this process's temporary directory (written once per process)."""
        folder = Path(tempfile.gettempdir()) / f"textrnn-{os.getpid()}-{self.digest}" / self.name
        if not (folder / METADATA_FILE).is_file():
            folder.mkdir(parents=True, exist_ok=True)
            atexit.register(shutil.rmtree, folder.parent, ignore_errors=True)
            for name, data in self.files:
                partial = folder / f".{name}.partial"
                partial.write_bytes(data)
                partial.replace(folder / name)
        return folder


def prediction_columns(top_k: int, taken: Iterable[str] = ()) -> list[str]:
    """The columns a BatchPredictor adds: label, probability[, label_2, probability_2, ...], each with
    the prefix `predicted_` when the input has a column of one of these names (a labelled file's own
    `label` is kept)."""
    names = ["label", "probability", *(f"{name}_{i}" for i in range(2, top_k + 1) for name in ("label", "probability"))]
    return [f"predicted_{n}" for n in names] if set(names) & set(taken) else names


class BatchPredictor:
    """Adds predictions to table batches (pandas or Ray's numpy dicts); picklable, loads lazily.

    `text_column`: the column holding the texts. `threads`: ONNX Runtime threads in each worker
    (default 1: a distributed engine runs one worker per core). `device` and `precision` as for
    `textrnn predict`; `batch_size`: texts per ONNX Runtime batch (formed by length within a table
    batch).
    """

    def __init__(self, model: str | Path | PackedModel | None = None, *, text_column: str = "text", top_k: int = 1,
                 device: str = "cpu", precision: str = "auto", threads: int = 1, batch_size: int | None = None) -> None:
        self.packed = model if isinstance(model, PackedModel) else PackedModel.from_folder(model, precision)
        self.text_column, self.top_k = text_column, top_k
        self.device, self.precision, self.threads, self.batch_size = device, precision, threads, batch_size
        if top_k < 1:
            raise DataError(f"top_k must be at least 1 (got {top_k})")

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__)  # no session, no tokenizer: those are opened where the batches are

    @property
    def predictor(self) -> Predictor:
        """This process's Predictor for the model (opened on first use)."""
        key = (self.packed.digest, self.device, self.precision, self.threads)
        predictor = _OPENED.get(key)
        if predictor is None:
            from textrnn.inference.predictor import Predictor

            predictor = Predictor(ModelFolder.open(self.packed.unpack()), self.device, self.threads, self.precision)
            _OPENED[key] = predictor
        return predictor

    @property
    def labels(self) -> list[str]:
        return self.predictor.labels

    def predict_columns(self, texts: list[str | None], taken: Iterable[str] = ()) -> dict[str, list]:
        """The prediction columns for `texts`, in order; a missing or blank text gets none (None)."""
        predictor = self.predictor
        names = prediction_columns(self.top_k, taken)
        columns: dict[str, list] = {name: [None] * len(texts) for name in names}
        rows = [i for i, t in enumerate(texts) if t is not None and t.strip()]
        kept = [texts[i] for i in rows]
        predictions = predictor.task.decode(kept, predictor.predict_proba(kept, self.batch_size), self.top_k)
        for i, p in zip(rows, predictions, strict=True):
            for j, (label, probability) in enumerate(p.top):  # fewer than top_k labels: the rest stay None
                columns[names[2 * j]][i] = label
                columns[names[2 * j + 1]][i] = probability
        return columns

    def __call__(self, batch: Any) -> Any:
        """`batch` (a pandas DataFrame or a dict of numpy arrays) with the prediction columns added."""
        names = list(batch.keys() if isinstance(batch, dict) else batch.columns)
        if self.text_column not in names:
            raise DataError(f"the input has no {self.text_column!r} column (found: {', '.join(map(str, names))}); "
                            "name it with --text-column")
        values = batch[self.text_column]
        texts = [None if t is None or t != t else str(t)  # None, or NaN in pandas
                 for t in (values.tolist() if hasattr(values, "tolist") else values)]
        columns = self.predict_columns(texts, names)
        if isinstance(batch, dict):
            out = dict(batch)
            for name, values in columns.items():
                out[name] = np.asarray(values, dtype=np.float64 if "probability" in name else object)
            return out
        out = batch.copy()
        for name, values in columns.items():
            out[name] = values
        return out

    def map_frames(self, frames: Iterator[Any]) -> Iterator[Any]:
        """For Spark's `DataFrame.mapInPandas`: each pandas DataFrame with its predictions."""
        for frame in frames:
            yield self(frame)

    def spark_schema(self, input_schema: Any) -> Any:
        """The Spark schema of `mapInPandas(self.map_frames, ...)`: the input's columns and the predictions'."""
        from pyspark.sql.types import DoubleType, StringType, StructField, StructType

        extra = [StructField(name, DoubleType() if "probability" in name else StringType(), True)
                 for name in prediction_columns(self.top_k, input_schema.names)]
        return StructType([*input_schema.fields, *extra])


class RayActor:
    """Ray Data's actor-pool form of a BatchPredictor: `ds.map_batches(RayActor, fn_constructor_kwargs=
    {"predictor": predictor}, compute=ray.data.ActorPoolStrategy(size=N))`; each actor opens the model
    once, in its constructor. `predictor` may also be `[ray.put(predictor)]` (the model in the object
    store once, the actors' arguments small)."""

    def __init__(self, predictor: BatchPredictor | list) -> None:
        if isinstance(predictor, list):
            import ray

            predictor = ray.get(predictor[0])
        self.predictor = predictor
        predictor.predictor  # noqa: B018 - open the session now, not on the first batch

    def __call__(self, batch: Any) -> Any:
        return self.predictor(batch)
