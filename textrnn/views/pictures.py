"""PNG files with matplotlib (the optional `plots` extra): the shared plumbing. Each screen's pictures
live beside it (views.report, views.metrics, views.compare, views.inspect). matplotlib is imported
only when called.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textrnn.errors import MissingDependencyError, TextrnnError

DPI = 120


def pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as err:
        raise MissingDependencyError("PNG output needs matplotlib: pip install 'textrnn[plots]'") from err
    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def prepare_png_dir(path: Path) -> Path:
    """Check now, before anything is printed, that PNGs can be drawn (matplotlib) and that `path`
    is a folder that exists or can be made; returns it."""
    pyplot()
    return out_dir(Path(path))


def out_dir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise TextrnnError(f"cannot create the PNG folder {path}: {err.strerror}") from err
    if not path.is_dir():
        raise TextrnnError(f"{path} is not a folder")
    return path


def save(fig: Any, path: Path) -> Path:
    plt = pyplot()
    try:
        fig.savefig(path, dpi=DPI, bbox_inches="tight")
    except OSError as err:
        raise TextrnnError(f"cannot write {path}: {err.strerror or err}") from err
    finally:
        plt.close(fig)
    return path
