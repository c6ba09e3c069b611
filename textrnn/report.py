"""Report stage: rich renderables for a model's metadata and metrics. No torch; never prints."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from textrnn.metrics import Metrics

MAX_CONFUSION_CLASSES = 20


def model_table(meta: dict[str, Any]) -> Table:
    """A Keras-like model summary: layer, output shape, parameter count."""
    table = Table(title=f"Model: {meta.get('name', '?')}", title_justify="left")
    table.add_column("Layer")
    table.add_column("Output shape")
    table.add_column("Params", justify="right")
    for row in meta.get("summary", []):
        table.add_row(row["layer"], row["output_shape"], f"{row['params']:,}")
    table.add_section()
    table.add_row("Total", "", f"{meta.get('params', 0):,}", style="bold")
    return table


def data_table(meta: dict[str, Any]) -> Table:
    """Rows per split and class."""
    splits = [(name, meta["data"][name]) for name in ("train", "val", "test") if name in meta.get("data", {})]
    table = Table(title="Data", title_justify="left")
    table.add_column("Label")
    for name, _ in splits:
        table.add_column(name, justify="right")
    for label in meta["labels"][:MAX_CONFUSION_CLASSES]:
        table.add_row(label, *[str(info["label_counts"].get(label, 0)) for _, info in splits])
    if len(meta["labels"]) > MAX_CONFUSION_CLASSES:
        table.add_row(f"... {len(meta['labels']) - MAX_CONFUSION_CLASSES} more", *["" for _ in splits])
    table.add_section()
    table.add_row("rows", *[str(info["rows"]) for _, info in splits], style="bold")
    return table


def history_table(meta: dict[str, Any]) -> Table:
    """One row per epoch; the kept (best) epoch is marked."""
    best = meta.get("best_epoch")
    table = Table(title=f"Training ({meta.get('stopped', 'completed')}, best epoch {best})",
                  title_justify="left")
    for col in ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"):
        table.add_column(col, justify="right")
    for h in meta.get("history", []):
        style = "bold green" if h["epoch"] == best else None
        table.add_row(f"{h['epoch']}{' *' if h['epoch'] == best else ''}", f"{h['loss']:.4f}",
                      f"{h['accuracy']:.4f}", f"{h['val_loss']:.4f}", f"{h['val_accuracy']:.4f}",
                      f"{h['seconds']:.1f}", style=style)
    return table


def curves(meta: dict[str, Any], width: int = 80, height: int = 14, color: bool = True) -> Text:
    """Loss and accuracy per epoch, train vs validation, drawn with plotext."""
    import plotext as plt

    history = meta.get("history", [])
    epochs = [h["epoch"] for h in history]
    plt.clear_figure()
    plt.subplots(1, 2)
    plt.plotsize(width, height)
    for col, (key, title) in enumerate((("loss", "loss"), ("accuracy", "accuracy")), start=1):
        plt.subplot(1, col)
        plt.title(title)
        plt.plot(epochs, [h[key] for h in history], label="train", marker="braille")
        plt.plot(epochs, [h[f"val_{key}"] for h in history], label="val", marker="braille")
        if meta.get("best_epoch"):
            plt.vline(meta["best_epoch"], "gray")
        plt.xlabel("epoch")
        if not color:
            plt.theme("clear")
    text = plt.build()
    plt.clear_figure()
    return Text.from_ansi(text) if color else Text(Text.from_ansi(text).plain)


def metrics_table(metrics: Metrics, title: str) -> Table:
    """Accuracy, F1 and log-loss, then per-class precision/recall/F1/support."""
    table = Table(title=f"{title} (n={metrics.n}): accuracy {metrics.accuracy:.2%}, "
                        f"macro-F1 {metrics.macro_f1:.4f}", caption=f"log-loss {metrics.log_loss:.4f}, "
                        f"weighted F1 {metrics.weighted_f1:.4f}", title_justify="left", caption_justify="left")
    table.add_column("Label")
    for col in ("precision", "recall", "f1", "support"):
        table.add_column(col, justify="right")
    for c in metrics.per_class[:MAX_CONFUSION_CLASSES]:
        table.add_row(c.label, f"{c.precision:.3f}", f"{c.recall:.3f}", f"{c.f1:.3f}", str(c.support))
    if len(metrics.per_class) > MAX_CONFUSION_CLASSES:
        table.add_row(f"... {len(metrics.per_class) - MAX_CONFUSION_CLASSES} more", "", "", "", "")
    return table


def confusion_table(metrics: Metrics) -> Table:
    """Rows are true labels, columns predicted; the diagonal is green, errors shade red by share."""
    labels = metrics.labels[:MAX_CONFUSION_CLASSES]
    table = Table(title="Confusion (rows: true, columns: predicted)", title_justify="left")
    table.add_column("true \\ pred")
    for label in labels:
        table.add_column(label[:8] if len(labels) > 6 else label, justify="right")
    for i, label in enumerate(labels):
        row = metrics.confusion[i]
        total = max(1, sum(row))
        cells = []
        for j in range(len(labels)):
            n = row[j]
            if i == j:
                style = "bold green"
            elif n:
                style = "red" if n / total >= 0.1 else "yellow"
            else:
                style = "dim"
            cells.append(Text(str(n), style=style))
        table.add_row(label, *cells)
    return table


def render_report(meta: dict[str, Any], width: int = 100, color: bool = True) -> RenderableType:
    """The whole `textrnn report` screen for a model's metadata."""
    parts: list[RenderableType] = [model_table(meta)]
    tok = meta.get("tokenizer", {})
    if tok:
        parts.append(Text(f"Tokenizer: {tok['kind']}, vocabulary {tok['vocab_size']:,}, "
                          f"unknown tokens on validation {tok['val_unknown_rate']:.1%}, "
                          f"truncated validation texts {tok['val_truncated_share']:.1%}"))
    parts += [data_table(meta), history_table(meta)]
    if len(meta.get("history", [])) >= 2:
        parts.append(Panel(curves(meta, width=max(40, width - 4), color=color),
                           title="Learning curves", width=width))
    metrics = meta.get("metrics", {})
    for split in ("val", "test"):
        if split in metrics:
            m = Metrics.from_dict(metrics[split])
            parts += [metrics_table(m, "Validation" if split == "val" else "Test"), confusion_table(m)]
    return Group(*parts)


def render_metrics(metrics: Metrics, title: str) -> RenderableType:
    return Group(metrics_table(metrics, title), confusion_table(metrics))
