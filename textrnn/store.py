"""Model folders: file names, the default-model pointer, atomic saving and validated loading.

A model folder is self-contained:
    model.onnx         the classifier for ONNX Runtime (input_ids -> logits)
    tokenizer.json     the Hugging Face tokenizer (truncation included)
    model.safetensors  the PyTorch weights (safe format, no pickle)
    metadata.json      format version, labels, every setting, data, history, metrics, versions
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from textrnn.errors import ModelFolderError

ONNX_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
WEIGHTS_FILE = "model.safetensors"
METADATA_FILE = "metadata.json"
DEFAULT_POINTER = "DEFAULT"
FORMAT_VERSION = 1
REQUIRED_FILES = (ONNX_FILE, TOKENIZER_FILE, METADATA_FILE)


def models_root() -> Path:
    """Where models go: $TEXTRNN_MODELS, else ./models."""
    return Path(os.environ.get("TEXTRNN_MODELS", "models"))


def set_default(model_dir: Path) -> None:
    """Point predict/report at `model_dir` (written atomically)."""
    root = models_root()
    root.mkdir(parents=True, exist_ok=True)
    target = model_dir.resolve()
    try:
        value = str(target.relative_to(root.resolve()))
    except ValueError:
        value = str(target)
    _write_atomic(root / DEFAULT_POINTER, value + "\n")


def default_model() -> Path:
    pointer = models_root() / DEFAULT_POINTER
    if not pointer.is_file():
        raise ModelFolderError(f"no trained model yet (no {pointer}); run `textrnn train DATA` first "
                               "or pass --model DIR")
    value = pointer.read_text(encoding="utf-8").strip()
    path = Path(value)
    return path if path.is_absolute() else models_root() / path


def resolve_model(model: str | Path | None) -> Path:
    """The model folder to use: `model` if given, else the default; checked for completeness."""
    path = Path(model) if model is not None else default_model()
    if not path.is_dir():
        raise ModelFolderError(f"model folder {path} does not exist")
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise ModelFolderError(f"model folder {path} is incomplete: missing {', '.join(missing)}")
    return path


def read_metadata(model_dir: Path) -> dict[str, Any]:
    path = model_dir / METADATA_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelFolderError(f"{path} is unreadable or corrupt ({err})") from err
    if not isinstance(meta, dict) or "labels" not in meta or "format_version" not in meta:
        raise ModelFolderError(f"{path} is not a textrnn metadata file (no labels/format_version)")
    if meta["format_version"] > FORMAT_VERSION:
        raise ModelFolderError(f"{path} has format version {meta['format_version']}; this textrnn "
                               f"reads up to {FORMAT_VERSION}: upgrade textrnn")
    return meta


def write_json(path: Path, value: Any) -> None:
    _write_atomic(path, json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def staging(final: Path, overwrite: bool = False) -> Iterator[Path]:
    """A temporary folder beside `final`, moved into place only if the block completes.

    On any error or Ctrl-C the temporary folder is removed and `final` is untouched.
    """
    if final.exists() and not overwrite:
        raise ModelFolderError(f"{final} already exists; choose another --out or pass --force")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.partial-"))
    try:
        yield tmp
        if final.exists():
            old = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.old-"))
            os.replace(final, old / "model")
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def list_models() -> list[Path]:
    root = models_root()
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and (p / METADATA_FILE).is_file())


def folder_bytes(model_dir: Path) -> int:
    """Total size of the files in a model folder."""
    return sum(p.stat().st_size for p in model_dir.iterdir() if p.is_file())


def is_default(model_dir: Path) -> bool:
    """Whether `model_dir` is the model that predict/report use without --model."""
    try:
        return default_model().resolve() == model_dir.resolve()
    except ModelFolderError:
        return False
