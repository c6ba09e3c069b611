"""The `textrnn report --compare` screen: several models side by side (the settings that differ, then
their scores, best in bold green), their validation curves in one chart, and compare.png."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from textrnn.folder import ModelFolder
from textrnn.views.common import PLAIN, line_chart, title


def flatten_settings(folder: ModelFolder) -> dict[str, Any]:
    """Settings as 'stage.name' -> value, plus the training data file, for comparing models."""
    meta = folder.metadata
    flat: dict[str, Any] = {}
    for stage, values in meta.settings.to_dict().items():
        for key, value in values.items():
            auto = stage == "train" and key in ("epochs", "patience") and value is None
            flat[f"{stage}.{key}"] = "auto" if auto else value  # None there: planned from the data size
    train = meta.data.get("train")
    if train is not None and train.path is not None:
        flat["data.train"] = Path(train.path).name + f" ({(train.sha256 or '')[:8]})"
    if meta.task.kind != "single_label":
        flat["task"] = meta.task.kind
    return flat


def differing_settings(folders: list[ModelFolder]) -> dict[str, list[Any]]:
    """Settings whose values are not the same across all models (missing ones shown as None)."""
    flats = [flatten_settings(f) for f in folders]
    keys = sorted({k for f in flats for k in f})
    return {k: [f.get(k) for f in flats] for k in keys if len({repr(f.get(k)) for f in flats}) > 1}


Row = tuple[str, Callable[[ModelFolder], Any], str, bool | None]  # name, getter, format, higher is better


def _headline(split: str, i: int) -> Callable[[ModelFolder], Any]:
    def get(f: ModelFolder) -> Any:
        result = f.metadata.results.get(split)
        rows = result.metrics.headline() if result else []
        return rows[i][1] if i < len(rows) else None
    return get


def compare_rows(folders: list[ModelFolder]) -> list[Row]:
    """Parameters, epochs, time, then the headline scores of validation and test (by name)."""
    rows: list[Row] = [
        ("parameters", lambda f: f.metadata.network.params, "{:,}", None),
        ("epochs (best)", lambda f: f"{len(f.metadata.training.history)} ({f.metadata.training.best_epoch})",
         "{}", None),
        ("train seconds", lambda f: f.metadata.training.seconds, "{:.0f}", False),
    ]
    for split, keep in (("val", None), ("test", 2)):
        seen: dict[str, Row] = {}
        for folder in folders:
            result = folder.metadata.results.get(split)
            for i, (name, _, fmt, higher) in enumerate(result.metrics.headline() if result else []):
                seen.setdefault(name, (f"{split} {name}", _headline(split, i), fmt, higher))
        rows += list(seen.values())[:keep]
        if split == "val":
            rows.append(("val ECE", lambda f: getattr(f.metadata.results["val"].analysis, "ece", None)
                         if "val" in f.metadata.results else None, "{:.4f}", False))
    return rows


def compare_data(folders: list[ModelFolder]) -> dict[str, Any]:
    """Settings that differ and the scores of each model, as JSON-ready data."""
    return {"models": [f.name for f in folders], "differing_settings": differing_settings(folders),
            "scores": {name: [get(f) for f in folders] for name, get, _, _ in compare_rows(folders)}}


def compare_table(folders: list[ModelFolder]) -> Table:
    """Models side by side: the settings that differ, then scores with the best in bold green."""
    table = Table(title=title(f"Comparing {len(folders)} models"), title_justify="left", **PLAIN)
    table.add_column("", overflow="fold")
    for f in folders:
        table.add_column(f.name, justify="right", overflow="fold")
    diffs = differing_settings(folders)
    for key, values in diffs.items():
        table.add_row(key, *["-" if v is None else str(v) for v in values])
    if not diffs:
        table.add_row(Text("same settings", style="dim"), *["" for _ in folders])
    table.add_section()
    for name, get, fmt, higher in compare_rows(folders):
        values = [get(f) for f in folders]
        if all(v is None for v in values):
            continue
        nums = [v for v in values if isinstance(v, (int, float))]
        best = (max(nums) if higher else min(nums)) if nums and higher is not None and len(folders) > 1 else None
        table.add_row(name, *[Text("-" if v is None else fmt.format(v),
                                   style="bold green" if v is not None and v == best else "") for v in values])
    return table


def compare_curves(folders: list[ModelFolder], width: int = 80, height: int = 14,
                   color: bool = True) -> RenderableType | None:
    """The validation score per epoch of each model in one chart."""
    palette = ["cyan", "orange", "green", "magenta", "blue", "red", "yellow", "white"]
    series = [(f.name[:20], [h.epoch for h in f.metadata.training.history],
               [h.val_score for h in f.metadata.training.history], palette[i % len(palette)])
              for i, f in enumerate(folders) if len(f.metadata.training.history) >= 2]
    if not series:
        return None
    metrics = sorted({f.metadata.training.metric for f in folders})
    return line_chart(series, f"validation {' / '.join(metrics)}", width, height, color)


def render_compare(folders: list[ModelFolder], width: int = 100, color: bool = True) -> RenderableType:
    parts: list[RenderableType] = [compare_table(folders)]
    chart = compare_curves(folders, width=min(width, 120), color=color)
    if chart is not None:
        parts.append(chart)
    return Group(*parts)


def save_compare_png(folders: list[ModelFolder], out: Path) -> Path:
    """compare.png: validation loss and score per epoch of each model."""
    from textrnn.views.pictures import out_dir, pyplot, save

    plt = pyplot()
    out = out_dir(Path(out))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    metrics = " / ".join(sorted({f.metadata.training.metric for f in folders}))
    for ax, key, name in ((axes[0], "val_loss", "validation loss"), (axes[1], "val_score", f"validation {metrics}")):
        for f in folders:
            history = f.metadata.training.history
            ax.plot([h.epoch for h in history], [getattr(h, key) for h in history], marker=".", label=f.name)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    return save(fig, out / "compare.png")
