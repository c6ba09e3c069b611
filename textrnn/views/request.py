"""Views stage: what `textrnn report` is asked (ReportRequest), each option declared once, as a field
(textrnn.options.setting) that the typer command builds its options from, and the model folders it
shows (`report_folders`). A light import (textrnn.folder, which loads numpy, is imported when used)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textrnn.errors import ConfigError
from textrnn.options import MODEL_HELP, setting

if TYPE_CHECKING:
    from textrnn.folder import ModelFolder


@dataclass(frozen=True)
class ReportRequest:
    """One model's report (`model`, or the one folder in `models`), or several side by side (`compare`:
    `models` and `model`, else every trained model)."""

    models: tuple[Path, ...] = ()  # the MODEL arguments
    model: Path | None = setting(None, MODEL_HELP, metavar="DIR")
    compare: bool = setting(False, "Show MODELS side by side (all trained models if none given).", switch=True)


def report_folders(request: ReportRequest) -> list[ModelFolder]:
    """The model folders a report shows: one, or with `compare` at least two (ConfigError otherwise)."""
    from textrnn.folder import ModelFolder, store

    if request.compare:
        wanted = [*request.models, *([request.model] if request.model is not None else [])]  # --model counts too
        folders = [ModelFolder.open(m) for m in (wanted or store.list_models())]
        if len(folders) < 2:
            raise ConfigError(f"--compare needs at least two model folders (got {len(folders)})")
        return folders
    model = request.model
    if request.models:
        if len(request.models) > 1 or model is not None:
            raise ConfigError("give one model folder (or --model DIR); to compare several, add --compare")
        model = request.models[0]
    return [ModelFolder.open(model)]
