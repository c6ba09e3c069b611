"""Batch stage: classify a table file on Ray Data (`textrnn predict --engine ray`). No torch.

    textrnn predict --engine ray --file texts.parquet --out predictions.parquet [--address ray://head:10001]

Ray Data reads the input (Parquet, CSV, JSON Lines, or text with one text per line), an actor pool
of BatchPredictors (one CPU and one ONNX Runtime session each) adds the prediction columns, and the
rows come back in input order with all their columns (an id column included). `--out FILE`
(.parquet, .csv or .jsonl) is written by this process as the rows arrive, into a temporary file
renamed at the end; `--out DIR/` lets the cluster write Parquet files into DIR in parallel. Needs
`pip install 'textrnn[ray]'`. On a cluster, input paths must be readable by every node (s3://, gs://,
a shared file system); the model travels with the predictor.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import MISSING, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textrnn.errors import ConfigError, DataError, MissingDependencyError
from textrnn.options import TEXT_COLUMN_HELP, setting

if TYPE_CHECKING:
    from textrnn.batch.predictor import BatchPredictor

INPUTS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "json", ".ndjson": "json",
          ".json": "json", ".txt": "text"}
OUTPUTS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
DISTRIBUTED = "Distributed"  # the help section of the Ray options
ROWS_PER_BATCH = 4096  # rows a Ray actor gets at a time (batched by length within them, 16 at a time)


@dataclass(frozen=True)
class TableRequest:
    """A table file to classify on Ray, where to write the result, and how. Each field with help is a
    `predict` option of its own (the others come from PredictRequest's)."""

    file: str
    out: str = setting(MISSING, "With --engine ray: write the input's rows and their predictions, in input order, to "
                             "FILE (.parquet, .csv, .jsonl), or as Parquet files into DIR/.", metavar="FILE",
                       panel=DISTRIBUTED)
    model: str | None = None
    text_column: str | None = setting(None, TEXT_COLUMN_HELP, metavar="NAME")
    top_k: int = 1
    device: str = "cpu"
    precision: str = "auto"
    address: str | None = setting(None, "With --engine ray: the Ray cluster (ray://head:10001, or auto); default: "
                                        "start Ray on this machine.", metavar="ADDR", panel=DISTRIBUTED)
    workers: int | None = setting(None, "With --engine ray: predicting actors, one CPU each (default: this "
                                        "machine's CPUs, or a cluster's CPUs less one, left for reading and "
                                        "writing).", metavar="N", min=1, panel=DISTRIBUTED)
    batch_size: int | None = None  # texts per ONNX Runtime batch
    rows_per_batch: int = ROWS_PER_BATCH
    force: bool = setting(False, "With --out: replace an existing file.", switch=True, panel=DISTRIBUTED)

    def check(self) -> None:
        if "://" not in self.file and not Path(self.file).exists():
            raise DataError(f"{self.file} does not exist")
        if self.input_format is None:
            raise DataError(f"{self.file}: unknown file type (expected one of {', '.join(sorted(INPUTS))})")
        if "://" in self.out and not self.to_folder:
            raise DataError(f"--out {self.out}: on remote storage, write a folder of Parquet files (end it with /)")
        if not self.to_folder and self.output_format is None:
            raise DataError(f"--out {self.out}: expected a .parquet, .csv or .jsonl file, or a folder ending in /")
        if "://" not in self.out and Path(self.out).exists() and not self.force:
            raise DataError(f"--out {self.out} exists; choose another name or pass --force to replace it")
        for name, value in (("top_k", self.top_k), ("workers", self.workers), ("batch_size", self.batch_size),
                            ("rows_per_batch", self.rows_per_batch)):
            if value is not None and value < 1:
                raise ConfigError(f"{name.replace('_', '-')} must be at least 1 (got {value})")

    @property
    def input_format(self) -> str | None:
        """By suffix; a folder (of Parquet files, as Ray and Spark write them) is Parquet."""
        path = Path(self.file.rstrip("/"))
        return INPUTS.get(path.suffix.lower()) or ("parquet" if path.is_dir() else None)

    @property
    def to_folder(self) -> bool:
        return self.out.endswith("/") or Path(self.out).is_dir()

    @property
    def output_format(self) -> str | None:
        return OUTPUTS.get(Path(self.out).suffix.lower())


@dataclass(frozen=True)
class TableResult:
    """What a table prediction did."""

    rows: int | None  # None: written by the cluster to remote storage (not counted)
    seconds: float
    out: str
    workers: int

    @property
    def rate(self) -> float | None:
        return None if self.rows is None else self.rows / max(self.seconds, 1e-9)


def _ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as err:
        raise MissingDependencyError("--engine ray needs Ray Data: pip install 'textrnn[ray]'") from err
    return ray


def start_ray(address: str | None = None, workers: int | None = None) -> Any:
    """Connect to the Ray cluster at `address`, or start Ray on this machine; quietly.

    Started here, Ray offers one CPU slot more than `workers` (default: this machine's CPUs): the actors
    hold a slot each and Ray Data starts them first, so without a spare slot its read and write tasks
    would wait forever (ray-project/ray#44687)."""
    ray = _ray()
    for name in ("ray", "ray.data"):  # warnings for Ray's users; textrnn reports what went wrong itself
        logging.getLogger(name).setLevel(logging.ERROR)
    # a table smaller than one batch has one block, which one actor takes: nothing to warn about
    warnings.filterwarnings("ignore", message="The minimum number of concurrent actors", category=UserWarning)
    if not ray.is_initialized():
        # Ray's C++ core logs at error level things its users cannot act on (an actor's arguments in
        # the object store: ray-project/ray#53727); failures reach textrnn as Python exceptions
        os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
        if address is None:
            kwargs["num_cpus"] = (workers or os.cpu_count() or 1) + 1
        with _quiet_stderr():  # the C++ core announces the log level it was given
            ray.init(address=address, **kwargs)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # rows come back in input order
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    return ray


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """File descriptor 2 to /dev/null for the block (output of C++ code, which Python cannot catch)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def read_table(ray: Any, path: str, fmt: str) -> Any:
    """A Ray Dataset of the file (text files: one row per non-blank line, column 'text')."""
    if fmt == "parquet":
        return ray.data.read_parquet(path)
    if fmt == "csv":
        return ray.data.read_csv(path)
    if fmt == "json":
        return ray.data.read_json(path, lines=True)
    ds = ray.data.read_text(path, drop_empty_lines=True)
    return ds.filter(lambda row: bool(row["text"].strip()))


def text_column_of(columns: list[str], wanted: str | None, path: str) -> str:
    """The text column, named or found by the names training data uses."""
    from textrnn.data.readers import TEXT_COLUMNS, find_column

    return find_column(columns, wanted, TEXT_COLUMNS, "text", path)


def predict_dataset(ds: Any, predictor: BatchPredictor, workers: int, rows_per_batch: int = ROWS_PER_BATCH) -> Any:
    """`ds` with the prediction columns: a pool of `workers` actors, one CPU each (the library call for a
    Ray Dataset you already have)."""
    import ray

    from textrnn.batch.predictor import RayActor

    # in the object store once, by reference: the actors' arguments stay small
    return ds.map_batches(RayActor, fn_constructor_kwargs={"predictor": [ray.put(predictor)]},
                          compute=ray.data.ActorPoolStrategy(size=workers), batch_size=rows_per_batch,
                          batch_format="pandas", num_cpus=1)


def predict_table(request: TableRequest) -> TableResult:
    """Classify a table file on Ray Data and write the rows with their predictions."""
    from textrnn.batch.predictor import BatchPredictor, PackedModel

    request.check()
    ray = _ray()
    started = time.perf_counter()
    packed = PackedModel.from_folder(request.model, request.precision)  # before Ray starts: a bad folder fails fast
    start_ray(request.address, request.workers)
    # one CPU slot left for reading and writing (see start_ray)
    workers = request.workers or max(1, int(ray.cluster_resources().get("CPU", 2)) - 1)
    try:
        # a file may be one block: cut it so that every actor gets work (streaming, order kept)
        ds = read_table(ray, request.file, request.input_format or "parquet").repartition(
            target_num_rows_per_block=request.rows_per_batch)
        column = text_column_of(list(ds.schema().names), request.text_column, request.file)
        predictor = BatchPredictor(packed, text_column=column, top_k=request.top_k, device=request.device,
                                   precision=request.precision, threads=1, batch_size=request.batch_size)
        out = predict_dataset(ds, predictor, workers, request.rows_per_batch)
        if request.to_folder:
            out.write_parquet(request.out)
            rows = _count_parquet(request.out) if "://" not in request.out else None
        else:
            rows = _write_file(out, Path(request.out), request.output_format or "parquet")
    except (DataError, KeyboardInterrupt):
        raise
    except Exception as err:  # Ray's and pyarrow's own types, for unreadable input or failed workers
        if not type(err).__module__.startswith(("ray", "pyarrow")) and not isinstance(err, OSError):
            raise
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        cause = (lines[-1] if lines else type(err).__name__)[:200]  # Ray puts the root cause last
        raise DataError(f"Ray Data could not classify {request.file}: {cause}") from err
    if rows == 0:
        raise DataError(f"no text to classify: {request.file} has no rows")
    return TableResult(rows, time.perf_counter() - started, request.out, workers)


def _count_parquet(folder: str) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in sorted(Path(folder).glob("*.parquet")))


def _write_file(ds: Any, out: Path, fmt: str) -> int:
    """Stream the rows of `ds`, in order, into one file (a temporary name, renamed when complete)."""
    import pyarrow as pa

    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    writer: Any = None
    rows = 0
    try:
        with open(partial, "wb") as f:
            for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None):
                table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
                if fmt == "parquet":
                    import pyarrow.parquet as pq

                    writer = writer or pq.ParquetWriter(f, table.schema)
                    writer.write_table(table)
                elif fmt == "csv":
                    import pyarrow.csv as pcsv

                    writer = writer or pcsv.CSVWriter(f, table.schema)
                    writer.write_table(table)
                else:
                    for record in table.to_pylist():
                        f.write((json.dumps(record, ensure_ascii=False, default=str) + "\n").encode())
                rows += table.num_rows
            if writer is not None:
                writer.close()
        os.replace(partial, out)
    finally:
        if partial.exists():
            partial.unlink()
    return rows
