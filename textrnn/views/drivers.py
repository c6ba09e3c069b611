"""The report's "What each class responds to" section (textrnn.inference.drivers): per class, the
words whose removal lowers it most over the explained texts, and the linear n-gram part's strongest
n-grams; drivers.png draws them as bars; `drivers_data` is the same as JSON."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from textrnn.inference.drivers import ClassDrivers, Drivers
from textrnn.views.common import PLAIN, title


def _cell(drivers: tuple[Any, ...], style: str) -> Text:
    out = Text()
    for i, d in enumerate(drivers):
        if i:
            out.append(", ")
        out.append(d.ngram, style=style)
        out.append(f" {d.weight:+.2f}", style="dim")
    return out or Text("—", style="dim")


def render_drivers(drivers: Drivers) -> RenderableType:
    """A table: class, words (occlusion over the texts), n-grams (the linear part)."""
    have_linear = drivers.share is not None
    what = (f"mean fall in the class's log-odds when the word is removed, over {drivers.texts:,} {drivers.source}"
            if drivers.texts else f"no texts to explain ({drivers.source})")
    table = Table(title=title("What each class responds to"), title_justify="left", **PLAIN)
    table.add_column("Class", overflow="fold", max_width=24)
    table.add_column("Words (occlusion)", overflow="fold", ratio=1)
    if have_linear:
        table.add_column(f"N-grams (linear part, share {drivers.share:.2f})", overflow="fold", ratio=1)
    for c in drivers.classes:
        row = [c.label, _cell(c.words, "green")]
        if have_linear:
            row.append(_cell(c.linear, "cyan"))
        table.add_row(*row)
    notes = [f"Words: {what}."]
    if have_linear:
        notes.append("N-grams: the linear part's weight for the class (against the others' mean) times idf; "
                     + ("bigrams named from the texts' own." if drivers.texts else "bigrams unnamed without texts."))
    return Group(table, Text(" ".join(notes), style="dim"))


def drivers_data(drivers: Drivers) -> dict[str, Any]:
    return asdict(drivers)


def plot_drivers(drivers: Drivers, name: str, path: Path) -> Path | None:
    """A row of bar charts per class: words (occlusion), then the linear part's n-grams."""
    from textrnn.views.pictures import pyplot, save

    classes = [c for c in drivers.classes if c.words or c.linear][:12]
    if not classes:
        return None
    plt = pyplot()
    cols = 2 if drivers.share is not None else 1
    fig, axes = plt.subplots(len(classes), cols, figsize=(6 * cols, 2.2 * len(classes) + 0.6), squeeze=False)
    for r, c in enumerate(classes):
        panels: list[tuple[ClassDrivers | Any, str, str]] = [(c.words, "words (occlusion)", "#31a354")]
        if cols == 2:
            panels.append((c.linear, "n-grams (linear part)", "#3182bd"))
        for ax, (items, what, colour) in zip(axes[r], panels, strict=True):
            items = list(items)[::-1]
            ax.barh([d.ngram for d in items], [d.weight for d in items], color=colour)
            ax.set_title(f"{c.label}: {what}", fontsize=9, loc="left")
            ax.tick_params(labelsize=8)
            if not items:
                ax.text(0.5, 0.5, "none", ha="center", va="center", transform=ax.transAxes, color="gray")
    fig.suptitle(f"{name}: what each class responds to", fontsize=11)
    fig.tight_layout()
    return save(fig, path)


_CACHE: dict[tuple[str, float], Drivers | str] = {}


def folder_drivers(folder: Any) -> Drivers | str:
    """The drivers of a model folder (computed once per folder and model file), or why not."""
    from textrnn.errors import TextrnnError
    from textrnn.folder.store import ONNX_FILE

    path = Path(folder.path)
    if not (path / ONNX_FILE).is_file():
        return f"not explained: {path} has no {ONNX_FILE}"
    key = (str(path.resolve()), (path / ONNX_FILE).stat().st_mtime)
    if key not in _CACHE:
        from textrnn.inference.drivers import class_drivers
        from textrnn.inference.predictor import Predictor

        try:
            _CACHE[key] = class_drivers(Predictor(folder, device="cpu", threads=1))
        except TextrnnError as err:
            _CACHE[key] = f"not explained: {err}"
    return _CACHE[key]
