"""The `textrnn models` screen: a table of the trained models in the models folder."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from textrnn.folder import ModelFolder, store
from textrnn.views.common import PLAIN, describe_cell, human_bytes, local_date, title


def _row(folder: ModelFolder | Path) -> tuple:
    """A model's cells; a folder that could not be read (a Path) shows its name and size only."""
    if isinstance(folder, Path):
        return ("", folder.name, "?", "unreadable", human_bytes(store.folder_bytes(folder)), "-", "-", False)
    meta, default = folder.metadata, folder.is_default
    scores = [f"{meta.results[s].metrics.score:.2%}" if s in meta.results else "-" for s in ("val", "test")]
    return ("*" if default else "", folder.name, local_date(meta.created), describe_cell(meta.settings.model),
            human_bytes(folder.size_bytes), *scores, default)


def models_table(folders: list[ModelFolder | Path], width: int = 100) -> Table:
    """Trained models: name, date, cell, size, validation and test accuracy; the default marked.

    Names are never cut (they are what --model takes): on a narrow terminal the date, then the cell,
    then the size column are left out instead.
    """
    cells = [_row(f) for f in folders]
    columns = [("", "left"), ("name", "left"), ("created", "left"), ("cell", "left"), ("size", "right"),
               ("val score", "right"), ("test score", "right")]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, (h, _) in enumerate(columns)]
    shown = list(range(len(columns)))
    for drop in (2, 3, 4):  # created, cell, size
        if sum(widths[i] + 2 for i in shown) <= width:
            break
        shown.remove(drop)
    table = Table(title=title(f"{len(folders)} trained model{'s' if len(folders) != 1 else ''}"),
                  padding=(0, 1, 0, 0), title_justify="left", **PLAIN, caption_justify="left",
                  caption="* the default for predict and report; scores: each model's task metric")
    for i in shown:
        name, justify = columns[i]
        table.add_column(name, justify=justify, no_wrap=True, min_width=widths[i])
    for c in cells:
        table.add_row(*[c[i] for i in shown], style="bold green" if c[-1] else None)
    return table


def models_data(folders: list[ModelFolder | Path]) -> list[dict]:
    """The models as JSON-ready rows (`textrnn models --json`)."""
    rows = []
    for f in folders:
        if not isinstance(f, ModelFolder):
            rows.append({"name": f.name, "path": str(f), "readable": False})
            continue
        meta = f.metadata
        rows.append({"name": f.name, "path": str(f.path), "readable": True, "created": meta.created,
                     "task": meta.task.kind, "cell": meta.settings.model.cell.value, "params": meta.network.params,
                     "size_bytes": f.size_bytes, "default": f.is_default, "metric": meta.training.metric,
                     **{f"{s}_score": meta.results[s].metrics.score if s in meta.results else None
                        for s in ("val", "test")}})
    return rows
