"""Result sections of a scored split (what `evaluate` prints and `report` shows per split), and their
pictures. Which sections a model gets is its task's choice (Task.views); the renderers live here,
by name, in SECTIONS (terminal) and PICTURES (PNG).

Single-label sections: per_class, confusion, confused_pairs, calibration, mistakes.
Multi-label sections: per_label, cooccurrence, label_mistakes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Group, RenderableType
from rich.style import Style
from rich.table import Table
from rich.text import Text

from textrnn.text import printable
from textrnn.views.common import PLAIN, bar, lerp, side_by_side, title

MAX_CLASSES = 20  # rows in per-class tables before folding


def per_class_table(metrics: Any, name: str) -> Table:
    """Per-class precision/recall/F1/support (the lowest-F1 classes when there are many)."""
    classes = list(metrics.per_class)
    caption = None
    if len(classes) > MAX_CLASSES:
        caption = f"the {MAX_CLASSES} lowest-F1 of {len(classes)} classes; all of them with --json"
        classes = sorted(classes, key=lambda c: (c.f1, c.label))[:MAX_CLASSES]
    table = Table(title=title(f"{name}: per class (accuracy {metrics.accuracy:.2%}, macro-F1 {metrics.macro_f1:.4f})"),
                  caption=caption, title_justify="left", caption_justify="left", **PLAIN)
    table.add_column("Label", overflow="fold", max_width=24)
    for col in ("precision", "recall", "f1"):
        table.add_column(col, justify="right")
    table.add_column("", no_wrap=True)
    table.add_column("support", justify="right")
    for c in classes:
        style = "green" if c.f1 >= 0.9 else "yellow" if c.f1 >= 0.7 else "red"
        table.add_row(c.label, f"{c.precision:.3f}", f"{c.recall:.3f}", f"{c.f1:.3f}",
                      Text(bar(c.f1, 10), style=style), str(c.support))
    return table


def _heat(n: int, share: float, diagonal: bool) -> Text:
    """A confusion cell: green background on the diagonal, red off it, deeper with the row share."""
    if n == 0:
        return Text("·", style="dim")
    if diagonal:
        bg = lerp((20, 60, 30), (30, 150, 60), share)
    else:
        bg = lerp((95, 35, 35), (215, 35, 35), share / 0.5)
    return Text(str(n), style=Style(color="white", bgcolor=bg, bold=diagonal))


def _fold_classes(cm: Any, n_keep: int) -> list[int]:
    """Indices of the n_keep classes with the most errors (as true or predicted), in label order."""
    k = len(cm)
    errors = [sum(cm[i][j] + cm[j][i] for j in range(k) if j != i) for i in range(k)]
    keep = sorted(range(k), key=lambda i: (-errors[i], i))[:n_keep]
    return sorted(keep)


def confusion_table(metrics: Any, width: int = 100) -> Table:
    """Confusion matrix as a heatmap: rows true labels, columns predicted, shaded by row share.

    Column headers are the labels when they fit, else class numbers. With more classes than fit
    in `width`, the classes with the most errors are kept and the rest summed into 'other'.
    """
    cm, labels = metrics.confusion, metrics.labels
    n = len(labels)
    cell = max(3, len(str(max((max(r) for r in cm), default=0))) + 1)
    longest = max(len(lab) for lab in labels)
    name_w = min(20, longest)
    use_names = longest <= 9 and n * (max(cell, longest) + 1) + name_w + 8 <= width
    col_w = max(cell, longest) if use_names else max(cell, len(str(n)) + 1)
    fits = max(2, (width - name_w - 8) // (col_w + 1))
    keep = list(range(n)) if n <= fits else _fold_classes(cm, fits - 1)
    other = [i for i in range(n) if i not in keep]
    number = not use_names
    caption = "shade: share of the row" + ("; columns: the rows' numbers" if number else "")
    if other:
        caption = (f"the {len(keep)} of {n} classes with the most errors; the other "
                   f"{len(other)} summed as 'other'")
    table = Table(title=title("Confusion: true (rows) × predicted"), caption=caption, title_justify="left",
                  caption_justify="left", **PLAIN, padding=(0, 0), collapse_padding=True, pad_edge=False)
    table.add_column("true", overflow="ellipsis", no_wrap=True, max_width=name_w + (4 if number else 0))
    for i in keep:
        table.add_column(f"{i + 1}" if number else labels[i], justify="right", min_width=col_w, no_wrap=True)
    if other:
        table.add_column("other", justify="right", min_width=max(col_w, 6))

    def row_cells(i_rows: list[int]) -> list[Text]:
        total = max(1, sum(sum(cm[i]) for i in i_rows))
        cells = [_heat(sum(cm[i][j] for i in i_rows), sum(cm[i][j] for i in i_rows) / total,
                       len(i_rows) == 1 and i_rows[0] == j) for j in keep]
        if other:
            n_other = sum(cm[i][j] for i in i_rows for j in other)
            cells.append(_heat(n_other, n_other / total, len(i_rows) > 1))
        return cells

    for i in keep:
        table.add_row(f"{i + 1} {labels[i]}" if number else labels[i], *row_cells([i]))
    if other:
        table.add_row("other", *row_cells(other))
    return table


def confused_pairs_table(analysis: Any) -> Table:
    table = Table(title=title("Most confused"), title_justify="left", **PLAIN)
    table.add_column("true", overflow="fold", max_width=20)
    table.add_column("predicted as", overflow="fold", max_width=20)
    table.add_column("count", justify="right")
    table.add_column("of true", justify="right")
    for p in analysis.confused_pairs:
        table.add_row(p.true, p.pred, str(p.count), f"{p.share:.0%}")
    if not analysis.confused_pairs:
        table.add_row(Text("no mistakes", style="green"), "", "", "")
    return table


def reliability_table(analysis: Any) -> Table:
    """Confidence bins of the top prediction: how often it is right versus how sure it is."""
    table = Table(title=title(f"Calibration: ECE {analysis.ece:.3f}"), title_justify="left",
                  **PLAIN, caption="calibrated: right as often as sure", caption_justify="left")
    table.add_column("confidence")
    table.add_column("n", justify="right")
    table.add_column("sure", justify="right")
    table.add_column("right", justify="right")
    table.add_column("", no_wrap=True)
    for r in analysis.reliability:
        gap = r.accuracy - r.confidence
        style = "green" if abs(gap) < 0.05 else "yellow" if abs(gap) < 0.15 else "red"
        table.add_row(f"{r.lo:.1f}-{r.hi:.1f}", str(r.count), f"{r.confidence:.0%}",
                      Text(f"{r.accuracy:.0%}", style=style), Text(bar(r.accuracy, 10), style=style))
    return table


def mistakes_table(analysis: Any) -> Table | None:
    if not analysis.misclassified:
        return None
    table = Table(title=title("Confident mistakes on validation"), title_justify="left", **PLAIN, expand=False)
    table.add_column("text", ratio=1, overflow="fold", min_width=20)
    table.add_column("true", overflow="fold", max_width=16)
    table.add_column("predicted", overflow="fold", max_width=16)
    table.add_column("p", justify="right")
    table.add_column("p(true)", justify="right")
    for ex in analysis.misclassified:
        table.add_row(printable(ex.text), ex.true, Text(ex.pred, style="red"), f"{ex.probability:.2f}",
                      f"{ex.true_probability:.2f}")
    return table


def per_label_table(metrics: Any, name: str) -> Table:
    """Per-label precision/recall/F1/support/threshold: the most frequent labels when there are many."""
    rows = sorted(metrics.per_label, key=lambda c: (-c.support, c.label))
    caption = None
    if len(rows) > MAX_CLASSES:
        caption = f"the {MAX_CLASSES} most frequent of {len(rows)} labels; all of them with --json"
        rows = rows[:MAX_CLASSES]
    table = Table(title=title(f"{name}: per label (micro-F1 {metrics.micro_f1:.4f}, macro-F1 {metrics.macro_f1:.4f}, "
                              f"P@1 {metrics.p_at_1:.4f})"),
                  caption=caption, title_justify="left", caption_justify="left", **PLAIN)
    table.add_column("Label", overflow="fold", max_width=24)
    for col in ("precision", "recall", "f1"):
        table.add_column(col, justify="right")
    table.add_column("", no_wrap=True)
    table.add_column("support", justify="right")
    table.add_column("threshold", justify="right")
    for c in rows:
        style = "green" if c.f1 >= 0.9 else "yellow" if c.f1 >= 0.5 else "red"
        table.add_row(c.label, f"{c.precision:.3f}", f"{c.recall:.3f}", f"{c.f1:.3f}",
                      Text(bar(c.f1, 10), style=style), str(c.support), f"{c.threshold:.2f}")
    return table


def cooccurrence_table(analysis: Any) -> Table:
    table = Table(title=title("Labels given together (true labels)"), title_justify="left", **PLAIN,
                  caption="share: of the rarer label's texts", caption_justify="left")
    table.add_column("label", overflow="fold", max_width=20)
    table.add_column("with", overflow="fold", max_width=20)
    table.add_column("texts", justify="right")
    table.add_column("share", justify="right")
    for pair in analysis.cooccurrence:
        table.add_row(pair.a, pair.b, str(pair.count), f"{pair.share:.0%}")
    if not analysis.cooccurrence:
        table.add_row(Text("no text has two labels", style="dim"), "", "", "")
    return table


def label_mistakes_table(analysis: Any) -> Table | None:
    if not analysis.mistakes:
        return None
    table = Table(title=title("Worst label sets on validation"), title_justify="left", **PLAIN, expand=False)
    table.add_column("text", ratio=1, overflow="fold", min_width=20)
    table.add_column("true", overflow="fold", max_width=24)
    table.add_column("predicted (p)", overflow="fold", max_width=30)
    table.add_column("F1", justify="right")
    for m in analysis.mistakes:
        predicted = ", ".join(f"{lab} ({p:.2f})" for lab, p in zip(m.predicted, m.probabilities, strict=True))
        table.add_row(printable(m.text), ", ".join(m.true) or Text("none", style="dim"), predicted, f"{m.f1:.2f}")
    return table


# name -> renderer(metrics, analysis or None, split title, width); None: nothing to show
Section = Callable[[Any, Any, str, int], RenderableType | None]
SECTIONS: dict[str, Section] = {
    "per_class": lambda m, a, name, width: per_class_table(m, name),
    "confusion": lambda m, a, name, width: confusion_table(m, width),
    "confused_pairs": lambda m, a, name, width: confused_pairs_table(a) if a is not None else None,
    "calibration": lambda m, a, name, width: reliability_table(a) if a is not None else None,
    "mistakes": lambda m, a, name, width: mistakes_table(a) if a is not None else None,
    "per_label": lambda m, a, name, width: per_label_table(m, name),
    "cooccurrence": lambda m, a, name, width: cooccurrence_table(a) if a is not None else None,
    "label_mistakes": lambda m, a, name, width: label_mistakes_table(a) if a is not None else None,
}
NEEDS_NO_ANALYSIS = ("per_class", "confusion", "per_label")  # what `evaluate` can show
# sections shown side by side on a wide terminal; the rest one below the other
PAIRS = (("per_class", "confusion"), ("confused_pairs", "calibration"))


def render_sections(names: tuple[str, ...], metrics: Any, analysis: Any, name: str, width: int) -> list[RenderableType]:
    """The task's sections for one split, in its order, paired side by side where they fit."""
    parts, done = [], set()
    for section_name in names:
        if section_name in done:
            continue
        pair = next((p for p in PAIRS if section_name in p and all(x in names for x in p)), (section_name,))
        done.update(pair)
        parts += side_by_side([SECTIONS[x](metrics, analysis, name, width) for x in pair], width)
    return parts


def render_metrics(names: tuple[str, ...], metrics: Any, name: str, width: int = 100) -> RenderableType:
    """The `textrnn evaluate` screen: the task's sections that need no analysis."""
    return Group(*render_sections(tuple(n for n in names if n in NEEDS_NO_ANALYSIS), metrics, None, name, width))


# ---------------------------------------------------------------- pictures


def plot_confusion(metrics: Any, name: str, path: Path) -> Path:
    """Confusion matrix shaded by share of the true class, with counts when there is room."""
    import numpy as np

    from textrnn.views.pictures import pyplot, save

    plt = pyplot()
    cm = np.asarray(metrics.confusion, dtype=float)
    labels = list(metrics.labels)
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
    ax.set_title(f"{name}: accuracy {metrics.accuracy:.2%} (n={metrics.n:,})")
    return save(fig, path)


def plot_reliability(analysis: Any, path: Path) -> Path:
    """Reliability diagram: accuracy against confidence per bin, with the diagonal of perfect calibration."""
    from textrnn.views.pictures import pyplot, save

    plt = pyplot()
    rows = analysis.reliability
    fig, (ax, ax_n) = plt.subplots(2, 1, figsize=(5.5, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    mids = [(r.lo + r.hi) / 2 for r in rows]
    width = rows[0].hi - rows[0].lo if rows else 0.1
    ax.bar(mids, [r.accuracy for r in rows], width=width * 0.9, edgecolor="black", label="accuracy")
    ax.plot([0, 1], [0, 1], linestyle="--", color="gray", label="perfect calibration")
    ax.plot([r.confidence for r in rows], [r.accuracy for r in rows], "o", color="darkorange",
            label="mean confidence")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.set_title(f"Reliability (validation): ECE {analysis.ece:.3f}")
    ax.legend(loc="upper left")
    ax_n.bar(mids, [r.count for r in rows], width=width * 0.9, color="gray")
    ax_n.set_ylabel("texts")
    ax_n.set_xlabel("confidence of the top class")
    ax_n.set_xlim(0, 1)
    return save(fig, path)


def plot_labels(metrics: Any, name: str, path: Path, top: int = 30) -> Path:
    """Precision, recall and F1 of the most frequent labels, as bars."""
    import numpy as np

    from textrnn.views.pictures import pyplot, save

    plt = pyplot()
    rows = sorted(metrics.per_label, key=lambda c: (-c.support, c.label))[:top]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(8.0, 0.35 * len(rows) + 2), 4.5))
    for i, (key, label) in enumerate((("precision", "precision"), ("recall", "recall"), ("f1", "F1"))):
        ax.bar(x + (i - 1) * 0.27, [getattr(c, key) for c in rows], width=0.27, label=label)
    ax.set_xticks(x, [c.label for c in rows], rotation=70, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.grid(axis="y", alpha=0.3)
    ax.legend()
    ax.set_title(f"{name}: the {len(rows)} most frequent labels (micro-F1 {metrics.micro_f1:.3f}, "
                 f"P@1 {metrics.p_at_1:.3f}, n={metrics.n:,})")
    return save(fig, path)


# name -> picture(metrics, analysis or None, split, split title, folder) -> the file written, or None
PICTURES: dict[str, Callable[[Any, Any, str, str, Path], Path | None]] = {
    "confusion": lambda m, a, split, name, out: plot_confusion(m, name, out / f"confusion-{split}.png"),
    "calibration": lambda m, a, split, name, out: plot_reliability(a, out / "reliability.png")
    if a is not None and a.reliability else None,
    "per_label": lambda m, a, split, name, out: plot_labels(m, name, out / f"labels-{split}.png"),
}
