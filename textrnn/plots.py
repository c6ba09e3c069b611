"""Pictures as PNG files with matplotlib (the optional `plots` extra): the same views as `report` and
`inspect` draw in the terminal, for sharing. No torch; matplotlib is imported only when called.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from textrnn.errors import MissingDependencyError, TextrnnError

DPI = 120


def _pyplot() -> Any:
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
    _pyplot()
    return _out_dir(Path(path))


def _out_dir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise TextrnnError(f"cannot create the PNG folder {path}: {err.strerror}") from err
    if not path.is_dir():
        raise TextrnnError(f"{path} is not a folder")
    return path


def _save(fig: Any, path: Path) -> Path:
    plt = _pyplot()
    try:
        fig.savefig(path, dpi=DPI, bbox_inches="tight")
    except OSError as err:
        raise TextrnnError(f"cannot write {path}: {err.strerror or err}") from err
    finally:
        plt.close(fig)
    return path


def plot_curves(meta: dict[str, Any], path: Path) -> Path:
    """Loss and accuracy per epoch, train vs validation, best epoch marked."""
    plt = _pyplot()
    history = meta.get("history", [])
    epochs = [h["epoch"] for h in history]
    best = meta.get("best_epoch")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key in zip(axes, ("loss", "accuracy"), strict=True):
        marker = "o" if len(epochs) <= 30 else None
        ax.plot(epochs, [h[key] for h in history], marker=marker, label="train")
        ax.plot(epochs, [h[f"val_{key}"] for h in history], marker=marker, label="validation")
        if best:
            ax.axvline(best, color="gray", linestyle="--", linewidth=1, label=f"best epoch {best}")
        ax.set_title(key)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if len(epochs) <= 12:
            ax.set_xticks(epochs)
        ax.legend()
    fig.suptitle(f"{meta.get('name', '')}: training curves")
    return _save(fig, path)


def plot_confusion(metrics: dict[str, Any], title: str, path: Path) -> Path:
    """Confusion matrix shaded by share of the true class, with counts when there is room."""
    plt = _pyplot()
    cm = np.asarray(metrics["confusion"], dtype=float)
    labels = metrics["labels"]
    n = len(labels)
    share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    size = min(20.0, max(5.0, 0.45 * n + 2.5))
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of true class")
    ax.set_xticks(range(n), labels, rotation=90 if n > 6 else 0, fontsize=8 if n > 20 else 10)
    ax.set_yticks(range(n), labels, fontsize=8 if n > 20 else 10)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 25:
        for i in range(n):
            for j in range(n):
                if cm[i, j]:
                    ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=8 if n > 12 else 10,
                            color="white" if share[i, j] > 0.5 else "black")
    ax.set_title(f"{title}: accuracy {metrics['accuracy']:.2%} (n={metrics['n']:,})")
    return _save(fig, path)


def plot_reliability(analysis: dict[str, Any], path: Path) -> Path:
    """Reliability diagram: accuracy against confidence per bin, with the diagonal of perfect calibration."""
    plt = _pyplot()
    rows = analysis["reliability"]
    fig, (ax, ax_n) = plt.subplots(2, 1, figsize=(5.5, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    mids = [(r["lo"] + r["hi"]) / 2 for r in rows]
    width = rows[0]["hi"] - rows[0]["lo"] if rows else 0.1
    ax.bar(mids, [r["accuracy"] for r in rows], width=width * 0.9, edgecolor="black", label="accuracy")
    ax.plot([0, 1], [0, 1], linestyle="--", color="gray", label="perfect calibration")
    ax.plot([r["confidence"] for r in rows], [r["accuracy"] for r in rows], "o", color="darkorange",
            label="mean confidence")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.set_title(f"Reliability (validation): ECE {analysis['ece']:.3f}")
    ax.legend(loc="upper left")
    ax_n.bar(mids, [r["count"] for r in rows], width=width * 0.9, color="gray")
    ax_n.set_ylabel("texts")
    ax_n.set_xlabel("confidence of the top class")
    ax_n.set_xlim(0, 1)
    return _save(fig, path)


def save_report_pngs(meta: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write curves.png, confusion-val.png (and -test), reliability.png where the data exists."""
    out_dir = _out_dir(Path(out_dir))
    _pyplot()
    paths = []
    if meta.get("history"):
        paths.append(plot_curves(meta, out_dir / "curves.png"))
    for split, title in (("val", "Validation"), ("test", "Test")):
        if split in meta.get("metrics", {}):
            paths.append(plot_confusion(meta["metrics"][split], title, out_dir / f"confusion-{split}.png"))
    analysis = meta.get("analysis", {}).get("val", {})
    if analysis.get("reliability"):
        paths.append(plot_reliability(analysis, out_dir / "reliability.png"))
    return paths


def save_compare_png(metas: list[dict[str, Any]], out_dir: Path) -> Path:
    """compare.png: validation loss and accuracy per epoch of each model."""
    plt = _pyplot()
    out_dir = _out_dir(Path(out_dir))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key in zip(axes, ("val_loss", "val_accuracy"), strict=True):
        for m in metas:
            history = m.get("history", [])
            ax.plot([h["epoch"] for h in history], [h[key] for h in history], marker=".", label=m.get("name"))
        ax.set_title(key.replace("_", " "))
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    return _save(fig, out_dir / "compare.png")


def save_inspection_png(insp: Any, out_dir: Path) -> Path:
    """inspect.png: all hidden units over the tokens (heatmap) and class probabilities per prefix."""
    plt = _pyplot()
    out_dir = _out_dir(Path(out_dir))
    n, units = insp.states.shape
    names = [f"{s}?" if u else t for t, s, u in zip(insp.tokens, insp.surfaces, insp.unknown, strict=True)]
    fig_w = min(40.0, max(7.0, 0.35 * n + 3))
    fig, (ax, ax_p) = plt.subplots(2, 1, figsize=(fig_w, 9), sharex=True,
                                   gridspec_kw={"height_ratios": [3, 1.3]})
    scale = float(np.abs(insp.states).max()) or 1.0
    im = ax.imshow(insp.states.T, aspect="auto", cmap="RdBu_r", vmin=-scale, vmax=scale, interpolation="nearest")
    fig.colorbar(im, ax=[ax, ax_p], fraction=0.03, pad=0.02, label="hidden state")
    where = ""
    if insp.directions == 2:
        ax.axhline(insp.hidden_size - 0.5, color="black", linewidth=1)
        where = f": 0-{insp.hidden_size - 1} forward, {insp.hidden_size}-{units - 1} backward"
    ax.set_ylabel(f"unit{where}")
    label, p = insp.final
    ax.set_title(f"{insp.model}: prediction {label} ({p:.1%}); hidden states of the full text")
    top = np.argsort(-insp.probs.max(axis=0))[:10]
    for j in sorted(top):
        ax_p.plot(range(n), insp.probs[:, j], marker="o" if n <= 60 else None, label=insp.labels[j])
    ax_p.set_ylim(0, 1)
    ax_p.set_ylabel("p after token")
    ax_p.grid(alpha=0.3)
    ax_p.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=min(len(top), 5), frameon=False)
    step = max(1, n // 80)
    ax_p.set_xticks(range(0, n, step), names[::step], rotation=90, fontsize=8 if n > 30 else 10)
    for i, unknown in enumerate(insp.unknown):
        if unknown and i % step == 0:
            ax_p.get_xticklabels()[i // step].set_color("red")
    return _save(fig, out_dir / "inspect.png")
