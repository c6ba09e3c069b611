"""The metadata.json format: its version, and the few facts the prediction path needs, read straight
from the JSON without building every record (so `textrnn predict` stays a light import).

Version 1 (textrnn before the reshape) kept the labels at the top level; version 2 keeps the task.
Everything else is read into typed records by textrnn.folder.records, which uses these too.
"""

from __future__ import annotations

from typing import Any

from textrnn.errors import ModelFolderError
from textrnn.tasks import Task, task_from_dict

FORMAT_VERSION = 2
READS = (1, 2)


def check_version(data: Any, source: str) -> int:
    """The format version of a metadata.json's content, or a clear error."""
    if not isinstance(data, dict) or "format_version" not in data:
        raise ModelFolderError(f"{source} is not a textrnn metadata file (no format_version)")
    version = data["format_version"]
    if not isinstance(version, int) or isinstance(version, bool):
        raise ModelFolderError(f"{source}: format_version must be a whole number (got {version!r})")
    if version > FORMAT_VERSION:
        raise ModelFolderError(f"{source} has format version {version}; this textrnn reads up to "
                               f"{FORMAT_VERSION}: upgrade textrnn")
    if version not in READS:
        raise ModelFolderError(f"{source} has format version {version}, which this textrnn cannot read")
    if version == 1 and "labels" not in data:
        raise ModelFolderError(f"{source} is not a textrnn metadata file (no labels)")
    return version


def read_task(data: dict[str, Any], source: str) -> Task:
    """The task (kind and labels) a checked metadata.json records."""
    raw = {"kind": "single_label", "labels": data.get("labels")} if data["format_version"] == 1 else data.get("task")
    try:
        return task_from_dict(raw)
    except ModelFolderError as err:
        raise ModelFolderError(f"{source}: {err}") from err


def read_vocab_size(data: dict[str, Any]) -> int | None:
    """The vocabulary size the model was trained with, if recorded."""
    tokenizer = data.get("tokenizer")
    size = tokenizer.get("vocab_size") if isinstance(tokenizer, dict) else None
    return size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else None
