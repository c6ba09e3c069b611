"""Model folders on disk: file names, the models folder and its default-model pointer.

A model folder is self-contained:
    model.onnx         the classifier for ONNX Runtime (input_ids -> logits); every weight, once
    tokenizer.json     the Hugging Face tokenizer (truncation included)
    model.safetensors  the PyTorch weights (safe format, no pickle): those model.onnx lacks, and where
                       the others are in model.onnx (textrnn.folder.weights)
    metadata.json      format version, task and labels, every setting, data, history, metrics, versions

Saving one, without ever losing a file textrnn did not write, is textrnn.folder.saving.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from textrnn.errors import ModelFolderError

ONNX_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
WEIGHTS_FILE = "model.safetensors"
METADATA_FILE = "metadata.json"
ONNX_INPUT, ONNX_OUTPUT = "input_ids", "logits"  # model.onnx's input (batch, tokens) int64 and output (batch, classes)
LOCK_FILE = ".textrnn-lock"  # held (flock) by the process writing a staging folder
DEFAULT_POINTER = "DEFAULT"
REQUIRED_FILES = (ONNX_FILE, TOKENIZER_FILE, METADATA_FILE)
# what --force may replace: the files of a model folder, or of a pretrained encoder folder
MODEL_FILES = frozenset({ONNX_FILE, INT8_FILE, TOKENIZER_FILE, WEIGHTS_FILE, METADATA_FILE, LOCK_FILE,
                         "encoder.safetensors", "encoder.json"})


def os_error(action: str, path: Path, err: OSError) -> ModelFolderError:
    return ModelFolderError(f"cannot {action} {path}: {err.strerror or err}")


def models_root() -> Path:
    """Where models go: $TEXTRNN_MODELS, else ./models."""
    root = Path(os.environ.get("TEXTRNN_MODELS") or "models")
    if root.exists() and not root.is_dir():
        raise ModelFolderError(f"the models folder {root} is a file, not a folder "
                               "(set TEXTRNN_MODELS to a folder)")
    return root


def _umask() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: read it by setting it (and put it back)
    os.umask(mask)
    return mask


def as_created(path: Path, directory: bool) -> None:
    """Give a file or folder made by tempfile (0600/0700) the permissions the user's umask gives
    new ones, so that a service running as another user can read a model (as with `cp`)."""
    path.chmod((0o777 if directory else 0o666) & ~_umask())


def set_default(model_dir: Path) -> None:
    """Point predict/report at `model_dir` (written atomically)."""
    root = models_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise os_error("create the models folder", root, err) from err
    target = model_dir.resolve()
    try:
        value = str(target.relative_to(root.resolve()))
    except ValueError:
        value = str(target)
    from textrnn import interrupts

    with interrupts.held():
        _write_atomic(root / DEFAULT_POINTER, value + "\n")


def default_model() -> Path:
    pointer = models_root() / DEFAULT_POINTER
    if not pointer.is_file():
        raise ModelFolderError(f"no trained model yet (no {pointer}); run `textrnn train DATA` first "
                               "or pass --model DIR")
    try:
        value = pointer.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as err:
        raise ModelFolderError(f"{pointer} is unreadable or corrupt; train again or pass --model DIR") from err
    if not value or "\n" in value or "\x00" in value or not value.isprintable():
        raise ModelFolderError(f"{pointer} does not hold a folder path; train again or pass --model DIR")
    path = Path(value)
    return path if path.is_absolute() else models_root() / path


def write_json(path: Path, value: Any) -> None:
    _write_atomic(path, json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def _write_atomic(path: Path, text: str) -> None:
    import tempfile

    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise os_error("write", path, err) from err
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        as_created(Path(tmp), directory=False)
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise os_error("write", path, err) from err
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
