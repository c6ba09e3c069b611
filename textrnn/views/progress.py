"""What `textrnn train` shows while it runs (on stderr): the stages, a progress bar per epoch, a line
per epoch (every k-th epoch, and the last, when many are planned), then the line saying what was
saved."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from textrnn import interrupts

EPOCH_LINES = 20  # with more planned epochs (small data), print about this many epoch lines


class TrainProgress:
    """A training job's Progress (stages and FitCallback) drawn on `console`."""

    def __init__(self, console: Console, metric: str = "accuracy") -> None:
        self.console, self.metric = console, metric
        self.progress = Progress(TextColumn("epoch {task.fields[epoch]}"), BarColumn(),
                                 MofNCompleteColumn(), TextColumn("loss {task.fields[loss]:.4f}"),
                                 TimeElapsedColumn(), console=console, transient=True,
                                 disable=not console.is_terminal)  # no bar (nor blank lines) in logs
        self.task = None
        self.every, self.last = 1, None

    def on_stage(self, name: str) -> None:
        interrupts.note_stage(name)
        self._print(f"[dim]{escape(name)}...[/]")

    def on_epoch_start(self, epoch: int, epochs: int, batches: int) -> None:
        if epoch == 1:
            self.every = 1 if epochs <= 1.5 * EPOCH_LINES else -(-epochs // EPOCH_LINES)
            if self.every > 1:
                self._print(f"[dim]up to {epochs} epochs planned (small data): a line every "
                                   f"{self.every} epochs[/]")
        self.progress.start()
        self.task = self.progress.add_task("", total=batches, epoch=f"{epoch}/{epochs}", loss=0.0)

    def on_batch_end(self, loss: float) -> None:
        self.progress.update(self.task, advance=1, loss=loss)

    def on_epoch_end(self, stats: Any, is_best: bool) -> None:
        self.progress.remove_task(self.task)
        self.stop()
        self.last = (stats, is_best)
        if stats.epoch == 1 or stats.epoch % self.every == 0:
            self.last = None  # before the line: Ctrl-C may arrive while it is written
            self._line(stats, is_best)

    def on_fit_end(self, result: Any) -> None:
        if self.last is not None:  # the last epoch, if its line was folded away
            self._line(*self.last)
            self.last = None
        if result.stopped == "diverged":
            self._print(f"[yellow]the loss diverged (NaN or infinite) after epoch {len(result.history)}: "
                               f"kept epoch {result.best_epoch}; a lower --lr may train further[/]", soft_wrap=True)

    def _line(self, stats: Any, is_best: bool) -> None:
        m = self.metric
        validated = stats.val_loss == stats.val_loss  # NaN: no validation (a cross-fitted refit)
        mark = "  [green]best[/]" if is_best and validated else ""
        val = f"val_loss {stats.val_loss:.4f}  val_{m} {stats.val_score:.4f}  " if validated else ""
        self._print(f"epoch {stats.epoch:>3}  loss {stats.loss:.4f}  {m} {stats.score:.4f}  {val}"
                           f"{stats.seconds:.1f}s{mark}", soft_wrap=True)

    def _print(self, *args: Any, **kwargs: Any) -> None:
        with interrupts.deferred():  # a line is written whole, once
            self.console.print(*args, **kwargs)

    def stop(self) -> None:
        if self.progress.live.is_started:
            self.progress.stop()


def notes(summary: Any) -> list[str]:
    """What the end of `textrnn train` says on stderr (rich markup): interrupted?, the job's notes."""
    training, fits = summary.metadata.training, summary.members
    lines = []
    if training.stopped == "interrupted":
        kept = (f"{len(fits)} of {training.planned_members} members, each at its best finished epoch"
                if training.planned_members > 1 else f"the best of {len(fits[0].history)} finished epochs")
        lines.append(f"[yellow]interrupted: kept {kept}[/]")
    lines += [f"[yellow]note:[/] {escape(note)}" for note in summary.notes]
    return lines


def saved_lines(summary: Any) -> list[str]:
    """What the end of `textrnn train` says on stdout (rich markup): where it was saved and how it
    scores, and the int8 decision."""
    meta, fits = summary.metadata, summary.members
    training = meta.training
    metric = training.metric.replace("_", "-")
    lines = []
    val = "val"
    if training.folds:
        epochs = ", ".join(str(f.best_epoch) for f in training.folds)
        kept = {"members": "the fold networks kept as members",
                "first fold": "no refit (the mix gives the network no share)"}.get(
            training.fold_model, f"{training.fold_model} on all texts for {training.refit_epochs} epochs")
        how = f"{len(training.folds)} folds, best epochs {epochs}; {kept}"
        val = "cross-validated" if meta.data["val"].source != "file" else "val"
    elif len(fits) == 1:
        how = f"best epoch {fits[0].best_epoch} of {len(fits[0].history)}"
    else:
        how = f"{len(fits)} members, best epochs {', '.join(str(f.best_epoch) for f in fits)}"
    line = (f"Saved {escape(str(summary.model_dir))} ({how}, {training.seconds:.0f}s): "
            f"{val} {metric} {summary.val.score:.2%}")
    if summary.test is not None:
        line += (f", test {metric} {summary.test.score:.2%} (ONNX) / {meta.test_torch_score:.2%} (PyTorch), "
                 f"macro-F1 {summary.test.macro_f1:.4f}")
    lines.append(line)
    if meta.int8 is not None:
        lines.append(("int8 model kept: " if meta.int8.kept else "[yellow]no int8 model:[/] ")
                     + escape(meta.int8.reason))
    return lines
