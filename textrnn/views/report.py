"""The `textrnn report` screen for one model: card, layers, tokenizer, data, training history and
curves, scores, then each scored split's sections (the task's choice, see views.metrics); and its
pictures (curves.png plus the sections' PNGs). Wide data is folded to the width given: many
classes keep the largest ones, many epochs keep the first, best and last ones.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from textrnn.folder import ModelFolder
from textrnn.folder.records import Metadata
from textrnn.views.common import (
    PLAIN,
    SPLIT_TITLES,
    WIDE,
    describe_cell,
    human_bytes,
    line_chart,
    local_date,
    section,
    side_by_side,
    title,
)
from textrnn.views.folds import folds_line, folds_table, split_title
from textrnn.views.metrics import PICTURES, render_sections

MAX_CLASSES = 20  # rows of the data table before folding
MAX_HISTORY_ROWS = 12
STOPPED = {"early_stopping": "stopped early", "interrupted": "interrupted", "diverged": "diverged"}


def model_card(folder: ModelFolder) -> Table:
    """Key facts in two columns: what, when, how big, how long, how it scores."""
    meta = folder.metadata
    m, t, training = meta.settings.model, meta.settings.train, meta.training
    metric = training.metric.replace("_", "-")
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("Model", folder.name + ("  (default)" if folder.is_default else ""))
    grid.add_row("Created", f"{local_date(meta.created)}, textrnn {meta.textrnn_version or '?'}")
    grid.add_row("Architecture", f"{describe_cell(m)}, embedding {m.embedding_dim}, pooling {m.pooling}, "
                                 f"dropout {m.dropout:g}")
    grid.add_row("Parameters", f"{meta.network.params:,}, {human_bytes(folder.size_bytes)} on disk")
    if training.history:
        epochs = len(training.history)
        planned = training.planned_epochs or t.epochs or epochs
        how = STOPPED.get(training.stopped, "")
        every = " (all members)" if meta.members > 1 else ""
        grid.add_row("Training", f"{epochs} of {planned} epochs{', ' + how if how else ''}, "
                                 f"best epoch {training.best_epoch}, {training.seconds:.0f} s{every}, "
                                 f"batch {t.batch_size}, lr {t.lr:g}"
                                 + (f", {training.precision}" if training.precision else ""))
    if meta.pretrained is not None:
        grid.add_row("Pretrained", pretrained_line(meta))
    if meta.members > 1:
        seeds = ", ".join(str(x.seed) for x in training.members)
        alone = ", ".join(f"{x.val_score:.2%}" for x in training.members)
        grid.add_row("Ensemble", f"{meta.members} members averaged (seeds {seeds}), val {metric} alone {alone}; "
                                 "history and curves below are member 1's")
    if meta.linear is not None:
        lin = meta.linear
        pool = f" (geometric pool, x {lin.scale:g})" if lin.pooling == "geometric" else ""
        grid.add_row("Linear mix", f"{1 - lin.alpha:.2f} network + {lin.alpha:.2f} linear n-gram model{pool} "
                                   f"({lin.features:,} features, C {lin.c:g}); val {metric}: network "
                                   f"{lin.network_val_score:.2%}, linear {lin.linear_val_score:.2%}, "
                                   f"mixed {lin.mixed_val_score:.2%}"
                                   + (f"; C and the share chosen out of fold, then fitted on all {lin.refit_texts:,}"
                                      " texts" if training.folds else
                                      f"; then refitted on {lin.refit_texts:,} training and validation texts "
                                      "(validation scores are from before)" if lin.refit_texts else ""))
    if training.folds:
        grid.add_row("Cross-fitting", folds_line(meta))
    scores = [f"{split_title(meta, s).lower()} {metric} {meta.results[s].metrics.score:.2%}"
              for s in ("val", "test") if s in meta.results]
    if scores:
        grid.add_row("Scores", ", ".join(scores))
    return grid


def pretrained_line(meta: Metadata) -> str:
    """Where the pretrained layers came from and how far they reach."""
    p = meta.pretrained
    name = Path(p.source).name
    if p.kind == "word vectors":
        what = (f"word vectors {name} ({p.dim} dimensions; {p.covered_types:,} of {p.vocab_types:,} words, "
                f"{p.covered_tokens:.1%} of training tokens)")
    else:
        what = f"language model {name}" + (f" (held-out perplexity {p.perplexity:.1f})" if p.perplexity else "")
    layers = sorted({n.split(".")[0] for n in p.layers})
    how = [f"filled {' and '.join(layers)}"] if layers else []
    if p.freeze_epochs:
        how.append(f"frozen {p.freeze_epochs} epoch{'s' if p.freeze_epochs > 1 else ''}")
    if p.lr_scale != 1.0:
        how.append(f"then at {p.lr_scale:g}x the learning rate")
    return what + (f"; {', '.join(how)}" if how else "")


def layers_table(meta: Metadata) -> Table:
    """A Keras-like model summary: layer, output shape, parameter count."""
    table = Table(title=title("Layers"), title_justify="left", **PLAIN)
    table.add_column("Layer")
    table.add_column("Output shape")
    table.add_column("Params", justify="right")
    for row in meta.network.layers:
        table.add_row(row.layer, row.output_shape, f"{row.params:,}")
    table.add_section()
    table.add_row("Total", "", f"{meta.network.params:,}", style="bold")
    return table


def tokenizer_table(meta: Metadata) -> Table | None:
    """Tokenizer kind, vocabulary, unknown-word rate and truncated share on validation."""
    tok, cfg = meta.tokenizer, meta.settings.tokenizer
    if tok is None:
        return None
    table = Table(title=title("Tokenizer"), title_justify="left", **PLAIN, show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("kind", f"{tok.kind}{', lowercase' if cfg.lowercase else ''}")
    table.add_row("vocabulary", f"{tok.vocab_size:,} (max {cfg.vocab_size:,})")
    table.add_row("max length", f"{cfg.max_length} tokens")
    unk, cut = tok.val_unknown_rate, tok.val_truncated_share
    table.add_row("unknown (val)", Text(f"{unk:.1%} of tokens", style="yellow" if unk >= 0.05 else ""))
    table.add_row("truncated (val)", Text(f"{cut:.1%} of texts", style="yellow" if cut >= 0.05 else ""))
    return table


def data_table(meta: Metadata) -> Table:
    """Rows per split and class (the largest classes first when there are many)."""
    splits = [(name, meta.data[name]) for name in ("train", "val", "test") if name in meta.data]
    table = Table(title=title("Data"), title_justify="left", **PLAIN)
    table.add_column("Label", overflow="fold", max_width=24)
    for name, _ in splits:
        table.add_column(name, justify="right")
    labels = list(meta.labels)
    if len(labels) > MAX_CLASSES and splits:
        counts = splits[0][1].label_counts
        labels = sorted(labels, key=lambda lab: -counts.get(lab, 0))[:MAX_CLASSES]
    for label in labels:
        table.add_row(label, *[str(info.label_counts.get(label, 0)) for _, info in splits])
    if len(meta.labels) > len(labels):
        table.add_row(Text(f"… {len(meta.labels) - len(labels)} more", style="dim"), *["" for _ in splits])
    table.add_section()
    table.add_row("rows", *[f"{info.rows:,}" for _, info in splits], style="bold")
    if any(info.cardinality is not None for _, info in splits):
        table.add_row("labels per text", *[f"{info.cardinality:.2f}" if info.cardinality is not None else ""
                                           for _, info in splits])
        table.add_row("labels", *[f"{len(info.label_counts):,}" for _, info in splits])
    return table


def history_rows(n: int, best: int | None, limit: int = MAX_HISTORY_ROWS) -> list[int | None]:
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


def history_table(meta: Metadata) -> Table:
    """One row per epoch (folded when there are many); the kept (best) epoch is marked."""
    training = meta.training
    best, metric = training.best_epoch, training.metric
    history = {h.epoch: h for h in training.history}
    stopped = STOPPED.get(training.stopped, "completed")
    of = f" (member 1 of {meta.members})" if meta.members > 1 else " (fold 1)" if training.folds else ""
    table = Table(title=title(f"Training{of}: {len(history)} epochs, {stopped}, best epoch {best} (*)"),
                  title_justify="left", **PLAIN)
    for col in ("epoch", "loss", metric, "val_loss", f"val_{metric}", "seconds"):
        table.add_column(col, justify="right")
    for e in history_rows(len(history), best):
        if e is None or e not in history:
            table.add_row("…", *[""] * 5, style="dim")
            continue
        h = history[e]
        table.add_row(f"{e}{' *' if e == best else ''}", f"{h.loss:.4f}", f"{h.score:.4f}", f"{h.val_loss:.4f}",
                      f"{h.val_score:.4f}", f"{h.seconds:.1f}", style="bold green" if e == best else None)
    return table


def curves(meta: Metadata, width: int = 80, height: int = 14, color: bool = True) -> RenderableType:
    """Loss and the task's score per epoch, train vs validation, drawn with plotext; best epoch marked.

    Side by side from `WIDE` columns, stacked below that.
    """
    history, best, metric = meta.training.history, meta.training.best_epoch, meta.training.metric
    epochs = [h.epoch for h in history]
    side = width >= WIDE
    w = (width - 1) // 2 if side else width
    plots = [line_chart([("train", epochs, [h.loss for h in history], "cyan"),
                         ("val", epochs, [h.val_loss for h in history], "orange")], "loss", w, height, color, best),
             line_chart([("train", epochs, [h.score for h in history], "cyan"),
                         ("val", epochs, [h.val_score for h in history], "orange")], metric, w, height, color, best)]
    if side:
        grid = Table.grid(padding=(0, 1))
        grid.add_row(*plots)
        return grid
    return Group(*plots)


def results_table(meta: Metadata) -> Table:
    """Headline scores per split (the metrics record's `headline`, the task's score first), and ECE."""
    results = meta.results
    splits = [s for s in ("val", "test") if s in results]
    table = Table(**PLAIN)
    table.add_column("")
    for s in splits:
        table.add_column(f"{split_title(meta, s)} (n={results[s].metrics.n:,})", justify="right")
    heads = {s: results[s].metrics.headline() for s in splits}
    for i, (name, _, fmt, _) in enumerate(heads[splits[0]] if splits else []):
        table.add_row(name, *[fmt.format(heads[s][i][1]) for s in splits], style="bold" if i == 0 else None)
    if any(getattr(results[s].analysis, "ece", None) is not None for s in splits):
        table.add_row("calibration error (ECE)", *[f"{results[s].analysis.ece:.4f}" if results[s].analysis else ""
                                                   for s in splits])
    if meta.test_torch_score is not None:
        table.add_row(Text(f"PyTorch test {meta.training.metric}", style="dim"), "",
                      Text(f"{meta.test_torch_score:.2%}", style="dim"))
    return table


def render_report(folder: ModelFolder, width: int = 100, color: bool = True) -> RenderableType:
    """The whole `textrnn report` screen of a model."""
    meta = folder.metadata
    parts: list[RenderableType] = [Panel(model_card(folder), title="textrnn model card", title_align="left",
                                         width=min(width, 100), border_style="blue")]
    parts += [section("Model and data")]
    parts += side_by_side([layers_table(meta), tokenizer_table(meta), data_table(meta)], width)
    parts += [section("Training")]
    parts += [folds_table(meta)] if meta.training.folds else []
    parts += [history_table(meta)]
    if len(meta.training.history) >= 2:
        parts += [title("Learning curves"), curves(meta, width=width, color=color)]
    elif meta.training.history:
        parts.append(Text("One epoch: no curve to draw.", style="dim"))
    if meta.tuning is not None:
        from textrnn.views.tune import render_tuning

        parts += [section("Search"), render_tuning(meta.tuning, width, color)]
    if meta.results:
        parts += [section("Results"), results_table(meta)]
    for split in ("val", "test"):
        if split in meta.results:
            result = meta.results[split]
            name = split_title(meta, split)
            parts.append(section(f"{name} set" if name != "Cross-validated" else "Cross-validated (out of fold)"))
            parts += render_sections(meta.task.views, result.metrics, result.analysis, name, width)
    from textrnn.views.drivers import folder_drivers, render_drivers

    drivers = folder_drivers(folder)
    parts += [section("Explanations"), render_drivers(drivers) if not isinstance(drivers, str) else Text(drivers)]
    return Group(*parts)


# ---------------------------------------------------------------- pictures


def plot_curves(meta: Metadata, name: str, path: Path) -> Path:
    """Loss and the task's score per epoch, train vs validation, best epoch marked."""
    from textrnn.views.pictures import pyplot, save

    plt = pyplot()
    history, best, metric = meta.training.history, meta.training.best_epoch, meta.training.metric
    epochs = [h.epoch for h in history]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key, train, val in ((axes[0], "loss", [h.loss for h in history], [h.val_loss for h in history]),
                                (axes[1], metric, [h.score for h in history], [h.val_score for h in history])):
        marker = "o" if len(epochs) <= 30 else None
        ax.plot(epochs, train, marker=marker, label="train")
        ax.plot(epochs, val, marker=marker, label="validation")
        if best:
            ax.axvline(best, color="gray", linestyle="--", linewidth=1, label=f"best epoch {best}")
        ax.set_title(key)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if len(epochs) <= 12:
            ax.set_xticks(epochs)
        ax.legend()
    fig.suptitle(f"{name}: training curves")
    return save(fig, path)


def save_report_pngs(folder: ModelFolder, out: Path) -> list[Path]:
    """curves.png and the task's pictures of each scored split (e.g. confusion-val.png)."""
    from textrnn.views.pictures import out_dir, pyplot

    out = out_dir(Path(out))
    pyplot()
    meta, paths = folder.metadata, []
    if meta.training.history:
        paths.append(plot_curves(meta, folder.name, out / "curves.png"))
    if meta.tuning is not None and any(t.val_score is not None for t in meta.tuning.trials):
        from textrnn.views.tune import plot_tuning

        paths.append(plot_tuning(meta.tuning, out / "tuning.png"))
    for split in ("val", "test"):
        if split in meta.results:
            result = meta.results[split]
            for name in meta.task.views:
                if name in PICTURES:
                    path = PICTURES[name](result.metrics, result.analysis, split, SPLIT_TITLES[split], out)
                    if path is not None:
                        paths.append(path)
    from textrnn.views.drivers import folder_drivers, plot_drivers

    drivers = folder_drivers(folder)
    if not isinstance(drivers, str) and (path := plot_drivers(drivers, folder.name, out / "drivers.png")):
        paths.append(path)
    return paths


def report_data(folder: ModelFolder) -> dict:
    """Everything the report shows, as JSON-ready data (`textrnn report --json`)."""
    from textrnn.views.drivers import drivers_data, folder_drivers

    drivers = folder_drivers(folder)
    return {"path": str(folder.path), "name": folder.name, "default": folder.is_default,
            "size_bytes": folder.size_bytes, **folder.metadata.to_dict(),
            "drivers": drivers_data(drivers) if not isinstance(drivers, str) else {"error": drivers}}
