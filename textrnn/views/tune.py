"""What `textrnn tune` shows: a line per trial while it searches, and in `textrnn report` the trials
table (best first), the score over trials, and tuning.png."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from textrnn.views.common import PLAIN, line_chart, title

MAX_TRIALS_SHOWN = 10


def _value(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def trial_line(trial: Any, best: int) -> str:
    """One finished trial (rich markup)."""
    if trial.val_score is None:
        return f"  [dim]trial {trial.number + 1}: {trial.state} after {trial.epochs} epochs, {trial.seconds:.0f} s[/]"
    mark = " [green]best so far[/]" if trial.number == best else ""
    return (f"  trial {trial.number + 1}: validation score {trial.val_score:.4f} ({trial.state}, {trial.epochs} "
            f"epochs, {trial.seconds:.0f} s){mark}")


def tuning_table(tuning: Any) -> Table:
    """The trials, best first (the chosen one marked), with what each tried."""
    done = sorted((t for t in tuning.trials if t.val_score is not None),
                  key=lambda t: (-t.val_score, t.val_loss if t.val_loss is not None else 0.0))
    others = [t for t in tuning.trials if t.val_score is None]
    shown = (done + others)[:MAX_TRIALS_SHOWN]
    names = sorted({k for t in shown for k in t.params})
    pruned = sum(t.state == "pruned" for t in tuning.trials)
    caption = (f"{len(tuning.trials)} trials in {tuning.seconds:.0f} s of a {tuning.budget_seconds:.0f} s budget "
               f"({pruned} pruned; stopped: {tuning.stopped}); {tuning.search}"
               + (f"; fixed by you: {', '.join(tuning.fixed)}" if tuning.fixed else ""))
    table = Table(title=title(f"Search: best of {len(tuning.trials)} trials (*: this model)"), title_justify="left",
                  caption=caption, caption_justify="left", **PLAIN)
    table.add_column("trial", justify="right")
    table.add_column(f"val {tuning.metric}", justify="right")
    table.add_column("state")
    table.add_column("s", justify="right")
    for name in names:
        table.add_column(name.replace("_", " "), justify="right", overflow="fold")
    for t in shown:
        table.add_row(f"{t.number + 1}{' *' if t.number == tuning.best_trial else ''}",
                      f"{t.val_score:.4f}" if t.val_score is not None else "-", t.state, f"{t.seconds:.0f}",
                      *[_value(t.params.get(n, "")) for n in names],
                      style="bold green" if t.number == tuning.best_trial else None)
    return table


def tuning_chart(tuning: Any, width: int, color: bool) -> Text | None:
    """The validation score of each trial, in order, and the best so far."""
    scored = [t for t in tuning.trials if t.val_score is not None]
    if len(scored) < 2:
        return None
    xs = [t.number + 1 for t in scored]
    best, running = [], -1.0
    for t in scored:
        running = max(running, t.val_score)
        best.append(running)
    return line_chart([("trial", xs, [t.val_score for t in scored], "cyan"), ("best so far", xs, best, "green")],
                      f"validation {tuning.metric} over trials", width, 12, color).copy()


def render_tuning(tuning: Any, width: int, color: bool) -> RenderableType:
    chart = tuning_chart(tuning, min(width, 100), color)
    return Group(tuning_table(tuning), *([chart] if chart is not None else []))


def plot_tuning(tuning: Any, path: Path) -> Path:
    """tuning.png: the validation score of each trial and the best so far."""
    from textrnn.views.pictures import pyplot, save

    plt = pyplot()
    scored = [t for t in tuning.trials if t.val_score is not None]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot([t.number + 1 for t in scored], [t.val_score for t in scored], "o", label="trial")
    running, best = -1.0, []
    for t in scored:
        running = max(running, t.val_score)
        best.append(running)
    ax.step([t.number + 1 for t in scored], best, where="post", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"validation {tuning.metric}")
    ax.set_title(f"Search: {len(tuning.trials)} trials in {tuning.seconds:.0f} s")
    ax.grid(alpha=0.3)
    ax.legend()
    return save(fig, path)
