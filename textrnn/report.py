"""Report stage: rich renderables for a model's metadata and metrics. No torch; never prints.

Everything here reads metadata.json (see pipeline.py and analysis.py); sections whose data an older
model lacks are simply left out. Wide data is folded to the width it is given: many classes keep
the ones with the most errors, many epochs keep the first, best and last ones.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from rich import box
from rich.color import Color
from rich.columns import Columns
from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.panel import Panel
from rich.style import Style
from rich.table import Table
from rich.text import Text

from textrnn.metrics import Metrics
from textrnn.output import printable

MAX_CONFUSION_CLASSES = 20  # rows in per-class and data tables before folding
MAX_HISTORY_ROWS = 12
WIDE = 120  # from this width, small tables sit side by side
SPLIT_TITLES = {"val": "Validation", "test": "Test"}
BLOCKS = " ▏▎▍▌▋▊▉█"
PLAIN: dict[str, Any] = {"box": box.SIMPLE_HEAD, "show_edge": False}  # header rule only


def bar(value: float, width: int = 10) -> str:
    """A horizontal bar of `value` in [0, 1], in eighths of a character."""
    eighths = round(max(0.0, min(1.0, value)) * width * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (BLOCKS[part] if part else "")).ljust(width)


def _title(text: str) -> Text:
    return Text(text, style="bold")


def describe_cell(meta: dict[str, Any]) -> str:
    """'biLSTM 2x128' from the model settings."""
    m = meta.get("config", {}).get("model", {})
    if not m:
        return "?"
    name = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}.get(m.get("cell", ""), m.get("cell", "?"))
    return f"{'bi' if m.get('bidirectional') else ''}{name} {m.get('layers', 1)}x{m.get('hidden_size', '?')}"


def _date(meta: dict[str, Any]) -> str:
    try:
        return datetime.fromisoformat(meta["created"]).astimezone().strftime("%Y-%m-%d %H:%M")
    except (KeyError, ValueError):
        return "?"


def human_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable: the loop returns at GB")


# ---------------------------------------------------------------- the model


def model_card(meta: dict[str, Any], size_bytes: int | None = None, default: bool = False) -> Table:
    """Key facts in two columns: what, when, how big, how long, how it scores."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    cfg = meta.get("config", {})
    m, t = cfg.get("model", {}), cfg.get("train", {})
    grid.add_row("Model", f"{meta.get('name', '?')}" + ("  (default)" if default else ""))
    grid.add_row("Created", f"{_date(meta)}, textrnn {meta.get('textrnn_version', '?')}")
    arch = describe_cell(meta)
    if m:
        arch += f", embedding {m.get('embedding_dim')}, pooling {m.get('pooling')}, dropout {m.get('dropout'):g}"
    grid.add_row("Architecture", arch)
    size = f", {human_bytes(size_bytes)} on disk" if size_bytes is not None else ""
    grid.add_row("Parameters", f"{meta.get('params', 0):,}{size}")
    if meta.get("history"):
        epochs = len(meta["history"])
        planned = meta.get("planned_epochs") or t.get("epochs") or epochs
        how = {"early_stopping": "stopped early", "interrupted": "interrupted"}.get(meta.get("stopped", ""), "")
        every = " (all members)" if len(meta.get("members") or []) > 1 else ""
        grid.add_row("Training", f"{epochs} of {planned} epochs{', ' + how if how else ''}, "
                                 f"best epoch {meta.get('best_epoch')}, {meta.get('train_seconds', 0):.0f} s{every}, "
                                 f"batch {t.get('batch_size')}, lr {t.get('lr', 0):g}"
                                 + (f", {meta['train_precision']}" if meta.get("train_precision") else ""))
    members = meta.get("members") or []
    if len(members) > 1:
        seeds = ", ".join(str(x["seed"]) for x in members)
        alone = ", ".join(f"{x['val_accuracy']:.2%}" for x in members)
        grid.add_row("Ensemble", f"{len(members)} members averaged (seeds {seeds}), val accuracy alone {alone}; "
                                 "history and curves below are member 1's")
    metrics = meta.get("metrics", {})
    scores = [f"{SPLIT_TITLES[s].lower()} accuracy {metrics[s]['accuracy']:.2%}" for s in ("val", "test")
              if s in metrics]
    if scores:
        grid.add_row("Scores", ", ".join(scores))
    return grid


def model_table(meta: dict[str, Any]) -> Table:
    """A Keras-like model summary: layer, output shape, parameter count."""
    table = Table(title=_title("Layers"), title_justify="left", **PLAIN)
    table.add_column("Layer")
    table.add_column("Output shape")
    table.add_column("Params", justify="right")
    for row in meta.get("summary", []):
        table.add_row(row["layer"], row["output_shape"], f"{row['params']:,}")
    table.add_section()
    table.add_row("Total", "", f"{meta.get('params', 0):,}", style="bold")
    return table


def tokenizer_table(meta: dict[str, Any]) -> Table | None:
    """Tokenizer kind, vocabulary, unknown-word rate and truncated share on validation."""
    tok = meta.get("tokenizer")
    if not tok:
        return None
    cfg = meta.get("config", {}).get("tokenizer", {})
    table = Table(title=_title("Tokenizer"), title_justify="left", **PLAIN, show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("kind", f"{tok['kind']}{', lowercase' if cfg.get('lowercase') else ''}")
    table.add_row("vocabulary", f"{tok['vocab_size']:,}" + (f" (max {cfg['vocab_size']:,})" if cfg else ""))
    if cfg:
        table.add_row("max length", f"{cfg['max_length']} tokens")
    unk, cut = tok.get("val_unknown_rate", 0.0), tok.get("val_truncated_share", 0.0)
    table.add_row("unknown (val)", Text(f"{unk:.1%} of tokens", style="yellow" if unk >= 0.05 else ""))
    table.add_row("truncated (val)", Text(f"{cut:.1%} of texts", style="yellow" if cut >= 0.05 else ""))
    return table


def data_table(meta: dict[str, Any]) -> Table:
    """Rows per split and class (the largest classes first when there are many)."""
    splits = [(name, meta["data"][name]) for name in ("train", "val", "test") if name in meta.get("data", {})]
    table = Table(title=_title("Data"), title_justify="left", **PLAIN)
    table.add_column("Label", overflow="fold", max_width=24)
    for name, _ in splits:
        table.add_column(name, justify="right")
    labels = list(meta["labels"])
    if len(labels) > MAX_CONFUSION_CLASSES and splits:
        counts = splits[0][1]["label_counts"]
        labels = sorted(labels, key=lambda lab: -counts.get(lab, 0))[:MAX_CONFUSION_CLASSES]
    for label in labels:
        table.add_row(label, *[str(info["label_counts"].get(label, 0)) for _, info in splits])
    if len(meta["labels"]) > len(labels):
        table.add_row(Text(f"… {len(meta['labels']) - len(labels)} more", style="dim"), *["" for _ in splits])
    table.add_section()
    table.add_row("rows", *[f"{info['rows']:,}" for _, info in splits], style="bold")
    return table


# ---------------------------------------------------------------- training


def _history_rows(n: int, best: int | None, limit: int = MAX_HISTORY_ROWS) -> list[int | None]:
    """Which epochs (1-based) to show: all, or first, best and last ones with None for gaps."""
    if n <= limit:
        return list(range(1, n + 1))
    keep = {1, 2, 3, n - 2, n - 1, n}
    if best:
        keep |= {best - 1, best, best + 1}
    step = max(1, n // (limit - len(keep) + 1))
    for e in range(step, n, step):
        if len(keep) >= limit:
            break
        keep.add(e)
    rows: list[int | None] = []
    for e in sorted(k for k in keep if 1 <= k <= n):
        if rows and rows[-1] is not None and e != rows[-1] + 1:
            rows.append(None)
        rows.append(e)
    return rows


def history_table(meta: dict[str, Any]) -> Table:
    """One row per epoch (folded when there are many); the kept (best) epoch is marked."""
    best = meta.get("best_epoch")
    history = {h["epoch"]: h for h in meta.get("history", [])}
    stopped = {"early_stopping": "stopped early", "interrupted": "interrupted"}.get(meta.get("stopped", ""),
                                                                                   "completed")
    of = f" (member 1 of {len(meta['members'])})" if len(meta.get("members") or []) > 1 else ""
    table = Table(title=_title(f"Training{of}: {len(history)} epochs, {stopped}, best epoch {best} (*)"),
                  title_justify="left", **PLAIN)
    for col in ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"):
        table.add_column(col, justify="right")
    for e in _history_rows(len(history), best):
        if e is None or e not in history:
            table.add_row("…", *[""] * 5, style="dim")
            continue
        h = history[e]
        table.add_row(f"{e}{' *' if e == best else ''}", f"{h['loss']:.4f}", f"{h['accuracy']:.4f}",
                      f"{h['val_loss']:.4f}", f"{h['val_accuracy']:.4f}", f"{h['seconds']:.1f}",
                      style="bold green" if e == best else None)
    return table


def _plot(series: list[tuple[str, list[float], list[float], str]], title: str, width: int, height: int,
          color: bool, best: int | None = None) -> Text:
    """One plotext line chart as rich Text (ANSI parsed, or plain when colour is off)."""
    import plotext as plt

    plt.clear_figure()
    plt.limit_size(False, False)  # plotext otherwise caps the width at the (unknown) terminal size
    plt.plotsize(width, height)
    plt.theme("pro" if color else "clear")  # "pro" draws no background, so it suits dark and light terminals
    xs = sorted({x for _, xv, _, _ in series for x in xv})
    no_colour_markers = ["braille", "·", "+", "x", "o", "*", "=", "#"]  # tell lines apart without colour
    for i, (label, xv, yv, col) in enumerate(series):
        plt.plot(xv, yv, label=label, marker="braille" if color else no_colour_markers[i % len(no_colour_markers)],
                 color=col if color else None)
    if best:
        plt.vline(best, "gray" if color else None)
    plt.title(f"{title}   (| best epoch {best})" if best else title)
    plt.xlabel("epoch")
    if xs:  # whole epochs only
        plt.xticks(xs if len(xs) <= 12 else sorted({round(xs[0] + (xs[-1] - xs[0]) * k / 5) for k in range(6)}))
    text = plt.build()
    plt.clear_figure()
    parsed = Text.from_ansi(text)
    return parsed if color else Text(parsed.plain)


def curves(meta: dict[str, Any], width: int = 80, height: int = 14, color: bool = True) -> RenderableType:
    """Loss and accuracy per epoch, train vs validation, drawn with plotext; best epoch marked.

    Side by side from `WIDE` columns, stacked below that.
    """
    history = meta.get("history", [])
    epochs = [h["epoch"] for h in history]
    best = meta.get("best_epoch")
    side = width >= WIDE
    w = (width - 1) // 2 if side else width
    plots = [_plot([("train", epochs, [h[key] for h in history], "cyan"),
                    ("val", epochs, [h[f"val_{key}"] for h in history], "orange")],
                   key, w, height, color, best) for key in ("loss", "accuracy")]
    if side:
        grid = Table.grid(padding=(0, 1))
        grid.add_row(*plots)
        return grid
    return Group(*plots)


# ---------------------------------------------------------------- results


def results_table(meta: dict[str, Any]) -> Table:
    """Headline scores per split: accuracy, macro/weighted F1, log-loss, ECE."""
    metrics, analysis = meta.get("metrics", {}), meta.get("analysis", {})
    splits = [s for s in ("val", "test") if s in metrics]
    table = Table(**PLAIN)
    table.add_column("")
    for s in splits:
        table.add_column(f"{SPLIT_TITLES[s]} (n={metrics[s]['n']:,})", justify="right")
    rows = [("accuracy", "accuracy", "{:.2%}"), ("macro F1", "macro_f1", "{:.4f}"),
            ("weighted F1", "weighted_f1", "{:.4f}"), ("log-loss", "log_loss", "{:.4f}")]
    for name, key, fmt in rows:
        table.add_row(name, *[fmt.format(metrics[s][key]) for s in splits], style="bold" if key == "accuracy" else None)
    if any("ece" in analysis.get(s, {}) for s in splits):
        table.add_row("calibration error (ECE)",
                      *[f"{analysis[s]['ece']:.4f}" if "ece" in analysis.get(s, {}) else "" for s in splits])
    if "test_torch_accuracy" in metrics:
        table.add_row(Text("PyTorch test accuracy", style="dim"), "",
                      Text(f"{metrics['test_torch_accuracy']:.2%}", style="dim"))
    return table


def metrics_table(metrics: Metrics, title: str) -> Table:
    """Per-class precision/recall/F1/support (the lowest-F1 classes when there are many)."""
    classes = list(metrics.per_class)
    caption = None
    if len(classes) > MAX_CONFUSION_CLASSES:
        caption = (f"the {MAX_CONFUSION_CLASSES} lowest-F1 of {len(classes)} classes; "
                   "all of them with --json")
        classes = sorted(classes, key=lambda c: (c.f1, c.label))[:MAX_CONFUSION_CLASSES]
    table = Table(title=_title(f"{title}: per class (accuracy {metrics.accuracy:.2%}, "
                               f"macro-F1 {metrics.macro_f1:.4f})"),
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


def _lerp(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> Color:
    t = max(0.0, min(1.0, t))
    r, g, bl = (round(x + (y - x) * t) for x, y in zip(a, b, strict=True))
    return Color.from_rgb(r, g, bl)


def _heat(n: int, share: float, diagonal: bool) -> Text:
    """A confusion cell: green background on the diagonal, red off it, deeper with the row share."""
    if n == 0:
        return Text("·", style="dim")
    if diagonal:
        bg = _lerp((20, 60, 30), (30, 150, 60), share)
    else:
        bg = _lerp((95, 35, 35), (215, 35, 35), share / 0.5)
    return Text(str(n), style=Style(color="white", bgcolor=bg, bold=diagonal))


def _fold_classes(cm: list[list[int]], n_keep: int) -> list[int]:
    """Indices of the n_keep classes with the most errors (as true or predicted), in label order."""
    k = len(cm)
    errors = [sum(cm[i][j] + cm[j][i] for j in range(k) if j != i) for i in range(k)]
    keep = sorted(range(k), key=lambda i: (-errors[i], i))[:n_keep]
    return sorted(keep)


def confusion_table(metrics: Metrics, width: int = 100) -> Table:
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
    title = "Confusion: true (rows) × predicted"
    caption = "shade: share of the row" + ("; columns: the rows' numbers" if number else "")
    if other:
        caption = (f"the {len(keep)} of {n} classes with the most errors; the other "
                   f"{len(other)} summed as 'other'")
    table = Table(title=_title(title), caption=caption, title_justify="left", caption_justify="left",
                  **PLAIN, padding=(0, 0), collapse_padding=True, pad_edge=False)
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
            diag = len(i_rows) > 1
            cells.append(_heat(n_other, n_other / total, diag))
        return cells

    for i in keep:
        table.add_row(f"{i + 1} {labels[i]}" if number else labels[i], *row_cells([i]))
    if other:
        table.add_row("other", *row_cells(other))
    return table


def confused_pairs_table(analysis: dict[str, Any]) -> Table | None:
    pairs = analysis.get("confused_pairs")
    if pairs is None:
        return None
    table = Table(title=_title("Most confused"), title_justify="left", **PLAIN)
    table.add_column("true", overflow="fold", max_width=20)
    table.add_column("predicted as", overflow="fold", max_width=20)
    table.add_column("count", justify="right")
    table.add_column("of true", justify="right")
    for p in pairs:
        table.add_row(p["true"], p["pred"], str(p["count"]), f"{p['share']:.0%}")
    if not pairs:
        table.add_row(Text("no mistakes", style="green"), "", "", "")
    return table


def reliability_table(analysis: dict[str, Any]) -> Table | None:
    """Confidence bins of the top prediction: how often it is right versus how sure it is."""
    rows = analysis.get("reliability")
    if rows is None:
        return None
    table = Table(title=_title(f"Calibration: ECE {analysis['ece']:.3f}"), title_justify="left",
                  **PLAIN, caption="calibrated: right as often as sure",
                  caption_justify="left")
    table.add_column("confidence")
    table.add_column("n", justify="right")
    table.add_column("sure", justify="right")
    table.add_column("right", justify="right")
    table.add_column("", no_wrap=True)
    for r in rows:
        gap = r["accuracy"] - r["confidence"]
        style = "green" if abs(gap) < 0.05 else "yellow" if abs(gap) < 0.15 else "red"
        table.add_row(f"{r['lo']:.1f}-{r['hi']:.1f}", str(r["count"]), f"{r['confidence']:.0%}",
                      Text(f"{r['accuracy']:.0%}", style=style), Text(bar(r["accuracy"], 10), style=style))
    return table


def misclassified_table(analysis: dict[str, Any]) -> Table | None:
    examples = analysis.get("misclassified")
    if not examples:
        return None
    table = Table(title=_title("Confident mistakes on validation"), title_justify="left", **PLAIN,
                  expand=False)
    table.add_column("text", ratio=1, overflow="fold", min_width=20)
    table.add_column("true", overflow="fold", max_width=16)
    table.add_column("predicted", overflow="fold", max_width=16)
    table.add_column("p", justify="right")
    table.add_column("p(true)", justify="right")
    for ex in examples:
        table.add_row(printable(ex["text"]), ex["true"], Text(ex["pred"], style="red"), f"{ex['probability']:.2f}",
                      f"{ex['true_probability']:.2f}")
    return table


# ---------------------------------------------------------------- screens


def _side_by_side(parts: list[RenderableType | None], width: int) -> list[RenderableType]:
    parts = [p for p in parts if p is not None]
    if width >= WIDE and len(parts) > 1:
        return [Columns(parts, padding=(0, 4))]
    return parts


def _section(title: str) -> RenderableType:
    return Padding(Text(f"━━ {title} ", style="bold magenta"), (1, 0, 0, 0))


def render_report(meta: dict[str, Any], width: int = 100, color: bool = True, size_bytes: int | None = None,
                  default: bool = False) -> RenderableType:
    """The whole `textrnn report` screen for a model's metadata."""
    parts: list[RenderableType] = [Panel(model_card(meta, size_bytes, default), title="textrnn model card",
                                         title_align="left", width=min(width, 100), border_style="blue")]
    parts += [_section("Model and data")]
    parts += _side_by_side([model_table(meta), tokenizer_table(meta), data_table(meta)], width)
    parts += [_section("Training"), history_table(meta)]
    if len(meta.get("history", [])) >= 2:
        parts += [_title("Learning curves"), curves(meta, width=width, color=color)]
    elif meta.get("history"):
        parts.append(Text("One epoch: no curve to draw.", style="dim"))
    metrics, analysis = meta.get("metrics", {}), meta.get("analysis", {})
    if metrics:
        parts += [_section("Results"), results_table(meta)]
    for split in ("val", "test"):
        if split not in metrics:
            continue
        m = Metrics.from_dict(metrics[split])
        parts.append(_section(f"{SPLIT_TITLES[split]} set"))
        parts += _side_by_side([metrics_table(m, SPLIT_TITLES[split]), confusion_table(m, width)], width)
        a = analysis.get(split, {})
        parts += _side_by_side([confused_pairs_table(a), reliability_table(a)], width)
        mistakes = misclassified_table(a)
        if mistakes is not None:
            parts.append(mistakes)
    return Group(*parts)


def render_metrics(metrics: Metrics, title: str, width: int = 100) -> RenderableType:
    return Group(metrics_table(metrics, title), confusion_table(metrics, width))


# ---------------------------------------------------------------- several models


def flatten_config(meta: dict[str, Any]) -> dict[str, Any]:
    """Settings as 'stage.name' -> value, plus the training data file, for comparing models."""
    flat: dict[str, Any] = {}
    for stage, values in meta.get("config", {}).items():
        for key, value in values.items():
            auto = stage == "train" and key in ("epochs", "patience") and value is None
            flat[f"{stage}.{key}"] = "auto" if auto else value  # None there: planned from the data size
    train = meta.get("data", {}).get("train", {})
    if "path" in train:
        flat["data.train"] = Path(train["path"]).name + f" ({train.get('sha256', '')[:8]})"
    return flat


def differing_settings(metas: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Settings whose values are not the same across all models (missing ones shown as None)."""
    flats = [flatten_config(m) for m in metas]
    keys = sorted({k for f in flats for k in f})
    return {k: [f.get(k) for f in flats] for k in keys if len({repr(f.get(k)) for f in flats}) > 1}


COMPARE_ROWS = [  # (row name, getter, format, higher is better)
    ("parameters", lambda m: m.get("params"), "{:,}", None),
    ("epochs (best)", lambda m: f"{len(m.get('history', []))} ({m.get('best_epoch')})", "{}", None),
    ("train seconds", lambda m: m.get("train_seconds"), "{:.0f}", False),
    ("val accuracy", lambda m: m.get("metrics", {}).get("val", {}).get("accuracy"), "{:.2%}", True),
    ("val macro F1", lambda m: m.get("metrics", {}).get("val", {}).get("macro_f1"), "{:.4f}", True),
    ("val log-loss", lambda m: m.get("metrics", {}).get("val", {}).get("log_loss"), "{:.4f}", False),
    ("val ECE", lambda m: m.get("analysis", {}).get("val", {}).get("ece"), "{:.4f}", False),
    ("test accuracy", lambda m: m.get("metrics", {}).get("test", {}).get("accuracy"), "{:.2%}", True),
    ("test macro F1", lambda m: m.get("metrics", {}).get("test", {}).get("macro_f1"), "{:.4f}", True),
]


def compare_data(metas: list[dict[str, Any]]) -> dict[str, Any]:
    """Settings that differ and the scores of each model, as JSON-ready data."""
    return {"models": [m.get("name") for m in metas], "differing_settings": differing_settings(metas),
            "scores": {name: [get(m) for m in metas] for name, get, _, _ in COMPARE_ROWS}}


def compare_table(metas: list[dict[str, Any]]) -> Table:
    """Models side by side: the settings that differ, then scores with the best in bold green."""
    table = Table(title=_title(f"Comparing {len(metas)} models"), title_justify="left", **PLAIN)
    table.add_column("", overflow="fold")
    for m in metas:
        table.add_column(m.get("name", "?"), justify="right", overflow="fold")
    diffs = differing_settings(metas)
    for key, values in diffs.items():
        table.add_row(key, *["-" if v is None else str(v) for v in values])
    if not diffs:
        table.add_row(Text("same settings", style="dim"), *["" for _ in metas])
    table.add_section()
    for name, get, fmt, higher in COMPARE_ROWS:
        values = [get(m) for m in metas]
        if all(v is None for v in values):
            continue
        nums = [v for v in values if isinstance(v, (int, float))]
        best = (max(nums) if higher else min(nums)) if nums and higher is not None and len(metas) > 1 else None
        table.add_row(name, *[Text("-" if v is None else fmt.format(v),
                                   style="bold green" if v is not None and v == best else "") for v in values])
    return table


def compare_curves(metas: list[dict[str, Any]], width: int = 80, height: int = 14,
                   color: bool = True) -> RenderableType | None:
    """Validation accuracy per epoch of each model in one chart."""
    palette = ["cyan", "orange", "green", "magenta", "blue", "red", "yellow", "white"]
    series = [(m.get("name", "?")[:20], [h["epoch"] for h in m["history"]],
               [h["val_accuracy"] for h in m["history"]], palette[i % len(palette)])
              for i, m in enumerate(metas) if len(m.get("history", [])) >= 2]
    if not series:
        return None
    return _plot(series, "validation accuracy", width, height, color)


def render_compare(metas: list[dict[str, Any]], width: int = 100, color: bool = True) -> RenderableType:
    parts: list[RenderableType] = [compare_table(metas)]
    chart = compare_curves(metas, width=min(width, 120), color=color)
    if chart is not None:
        parts.append(chart)
    return Group(*parts)


def models_table(rows: list[tuple[Path, dict[str, Any], int, bool]], width: int = 100) -> Table:
    """Trained models: name, date, cell, size, validation and test accuracy; the default marked.

    Names are never cut (they are what --model takes): on a narrow terminal the date, then the cell,
    then the size column are left out instead.
    """
    cells = [(("*" if default else ""), path.name, _date(meta), describe_cell(meta), human_bytes(size),
              *[f"{meta.get('metrics', {})[s]['accuracy']:.2%}" if s in meta.get("metrics", {}) else "-"
                for s in ("val", "test")], default) for path, meta, size, default in rows]
    columns = [("", "left"), ("name", "left"), ("created", "left"), ("cell", "left"), ("size", "right"),
               ("val acc", "right"), ("test acc", "right")]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, (h, _) in enumerate(columns)]
    shown = list(range(len(columns)))
    for drop in (2, 3, 4):  # created, cell, size
        if sum(widths[i] + 2 for i in shown) <= width:
            break
        shown.remove(drop)
    table = Table(title=_title(f"{len(rows)} trained model{'s' if len(rows) != 1 else ''}"), padding=(0, 1, 0, 0),
                  title_justify="left", **PLAIN, caption="* the default for predict and report",
                  caption_justify="left")
    for i in shown:
        name, justify = columns[i]
        table.add_column(name, justify=justify, no_wrap=True, min_width=widths[i])
    for c in cells:
        table.add_row(*[c[i] for i in shown], style="bold green" if c[-1] else None)
    return table


# ---------------------------------------------------------------- one text, token by token

SPARK = "▁▂▃▄▅▆▇█"


def _diverging(v: float) -> Color:
    """Blue for negative, grey near zero, red for positive; v in [-1, 1]."""
    v = max(-1.0, min(1.0, v))
    return _lerp((150, 150, 150), (230, 60, 50), v) if v >= 0 else _lerp((150, 150, 150), (60, 120, 240), -v)


def top_units(states: Any, k: int) -> list[int]:
    """Indices of the k units whose value changes most over the tokens, in unit order."""
    var = states.var(axis=0) if len(states) > 1 else abs(states[0])
    order = sorted(range(states.shape[1]), key=lambda u: (-float(var[u]), u))
    return sorted(order[:k])


def inspection_table(insp: Any, width: int = 100, max_units: int | None = None) -> Table:
    """Tokens as rows: prediction after reading up to the token, and a strip of hidden units.

    Each unit is one character whose height (▁ low .. █ high) and colour (blue negative, red
    positive) show its value, so the strip reads without colour too.
    """
    final_label, _ = insp.final
    final_j = insp.labels.index(final_label)
    label_w = min(14, max(len(lab) for lab in insp.labels))
    tok_w = min(16, max(5, max(len(s) + (6 if u else 0) for s, u in zip(insp.surfaces, insp.unknown, strict=True))))
    used = 3 + tok_w + max(8, label_w + 2) + 4 + 11 + 6 * 2 + 2  # every column but the strip, with padding
    n_units = insp.states.shape[1]
    k = max(4, min(n_units, width - used - 2, max_units or 64))  # 1 more for the direction bar
    units = top_units(insp.states, k)
    scale = float(abs(insp.states).max()) or 1.0
    h = insp.hidden_size
    where = f"{len(units)} of {n_units} hidden units (most varying)"
    if insp.directions == 2:
        fwd = sum(u < h for u in units)
        where += f": {fwd} forward | {len(units) - fwd} backward"
    table = Table(**PLAIN, caption=where + "; ▁ low … █ high", caption_justify="left", padding=(0, 1))
    table.add_column("#", justify="right", style="dim")
    table.add_column("token", no_wrap=True, overflow="ellipsis", max_width=tok_w)
    label_col = max(8, label_w + 2)
    table.add_column("reads as", no_wrap=True, overflow="ellipsis", min_width=label_col, max_width=label_col)
    table.add_column("p", justify="right", min_width=4)
    table.add_column(f"p({final_label})", no_wrap=True, overflow="ellipsis", min_width=11, max_width=11)
    table.add_column("hidden state", no_wrap=True, overflow="crop")
    prev = None
    for i, (tok, surface, unk) in enumerate(zip(insp.tokens, insp.surfaces, insp.unknown, strict=True)):
        j = int(insp.probs[i].argmax())
        changed = prev is not None and j != prev
        prev = j
        token = Text(f"{printable(surface)} [UNK]", style="red italic") if unk else Text(printable(tok))
        label = Text(("→ " if changed else "  ") + insp.labels[j], style="bold yellow" if changed else "")
        p_final = float(insp.probs[i, final_j])
        strip = Text()
        split = insp.directions == 2 and 0 < sum(u < h for u in units) < len(units)
        for u in units:
            if split and u >= h and (units.index(u) == 0 or units[units.index(u) - 1] < h):
                strip.append("|", style="dim")
            v = float(insp.states[i, u]) / scale
            strip.append(SPARK[min(7, int((v + 1) / 2 * 8))], style=Style(color=_diverging(v)))
        table.add_row(str(i + 1), token, label, f"{insp.probs[i, j]:.2f}",
                      Text(bar(p_final, 6) + f" {p_final:.2f}", style="green" if j == final_j else "yellow"), strip)
    return table


def render_inspection(insp: Any, width: int = 100, max_units: int | None = None) -> RenderableType:
    """The `textrnn inspect` screen: header, explanation, the token table and the verdict."""
    label, p = insp.final
    unknown = sum(insp.unknown)
    head = Text.assemble(("Model ", "bold"), insp.model, ("   tokens ", "bold"), str(len(insp.tokens)),
                         (f" ({unknown} unknown)" if unknown else "", "red"),
                         (" - truncated to the model's max length" if insp.truncated else "", "yellow"))
    note = Text("reads as: the prediction on the text cut after that token (the whole model, both directions, "
                "run on the prefix). hidden state: from the full text.", style="dim")
    changes = sum(1 for a, b in zip(insp.probs[:-1].argmax(1), insp.probs[1:].argmax(1), strict=True) if a != b)
    verdict = Text.assemble(("Prediction: ", "bold"), (label, "bold green"), f"  {p:.2%}",
                            (f"   (changed its mind {changes} time{'s' if changes != 1 else ''}, marked →)"
                             if changes else "", "dim"))
    return Group(head, note, Text(""), inspection_table(insp, width, max_units), Text(""), verdict)
