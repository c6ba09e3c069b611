"""`textrnn train DATA`: tokenize, train, keep the best epoch, export ONNX, evaluate, save."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from textrnn.cli._util import err, handle_errors, out
from textrnn.config import (
    AUTO_EPOCHS,
    AUTO_PATIENCE,
    MIN_PATIENCE_STEPS,
    MIN_STEPS,
    DataConfig,
    ModelConfig,
    TokenizerConfig,
    TrainConfig,
)

_D, _T, _M, _R = DataConfig(), TokenizerConfig(), ModelConfig(), TrainConfig()


class Cell(str, Enum):
    rnn = "rnn"
    lstm = "lstm"
    gru = "gru"


class Activation(str, Enum):
    tanh = "tanh"
    relu = "relu"


class Pooling(str, Enum):
    last = "last"
    mean = "mean"
    max = "max"
    maxmean = "maxmean"


class TokenizerKind(str, Enum):
    word = "word"
    bpe = "bpe"
    wordpiece = "wordpiece"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class TrainPrecision(str, Enum):
    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"


EPOCH_LINES = 20  # with more planned epochs (small data), print about this many epoch lines


class _Progress:
    """FitCallback that draws a rich progress bar per epoch on stderr and a line per epoch (every
    k-th epoch, and the last, when many are planned)."""

    def __init__(self) -> None:
        self.progress = Progress(TextColumn("epoch {task.fields[epoch]}"), BarColumn(),
                                 MofNCompleteColumn(), TextColumn("loss {task.fields[loss]:.4f}"),
                                 TimeElapsedColumn(), console=err, transient=True,
                                 disable=not err.is_terminal)  # no bar (nor blank lines) in logs
        self.task = None
        self.every, self.last = 1, None

    def on_epoch_start(self, epoch: int, epochs: int, batches: int) -> None:
        if epoch == 1:
            self.every = 1 if epochs <= 1.5 * EPOCH_LINES else -(-epochs // EPOCH_LINES)
            if self.every > 1:
                err.print(f"[dim]up to {epochs} epochs planned (small data): a line every {self.every} "
                          "epochs[/]")
        self.progress.start()
        self.task = self.progress.add_task("", total=batches, epoch=f"{epoch}/{epochs}", loss=0.0)

    def on_batch_end(self, loss: float) -> None:
        self.progress.update(self.task, advance=1, loss=loss)

    def on_epoch_end(self, stats, is_best: bool) -> None:  # noqa: ANN001 - EpochStats
        self.progress.remove_task(self.task)
        self.stop()
        self.last = (stats, is_best)
        if stats.epoch == 1 or stats.epoch % self.every == 0:
            self._line(stats, is_best)
            self.last = None

    def on_fit_end(self, result) -> None:  # noqa: ANN001 - FitResult
        if self.last is not None:  # the last epoch, if its line was folded away
            self._line(*self.last)
            self.last = None
        if result.stopped == "diverged":
            err.print(f"[yellow]the loss diverged (NaN or infinite) after epoch {len(result.history)}: kept "
                      f"epoch {result.best_epoch}; a lower --lr may train further[/]", soft_wrap=True)

    @staticmethod
    def _line(stats, is_best: bool) -> None:  # noqa: ANN001 - EpochStats
        mark = "  [green]best[/]" if is_best else ""
        err.print(f"epoch {stats.epoch:>3}  loss {stats.loss:.4f}  accuracy {stats.accuracy:.4f}  "
                  f"val_loss {stats.val_loss:.4f}  val_accuracy {stats.val_accuracy:.4f}  "
                  f"{stats.seconds:.1f}s{mark}", soft_wrap=True)

    def stop(self) -> None:
        if self.progress.live.is_started:
            self.progress.stop()


@handle_errors
def train_cmd(
    data: Annotated[Path, typer.Argument(metavar="DATA", help="Training data: .csv, .tsv or .jsonl with text and label columns.")],
    val: Annotated[Optional[Path], typer.Option(help="Validation file; default: a stratified split of DATA.", rich_help_panel="Data")] = None,
    test: Annotated[Optional[Path], typer.Option(help="Test file, scored at the end with the ONNX model.", rich_help_panel="Data")] = None,
    val_split: Annotated[float, typer.Option(help="Share of DATA held out for validation when --val is not given.", rich_help_panel="Data")] = _D.val_split,
    text_column: Annotated[Optional[str], typer.Option(help="Text column (default: text, sentence, review, ...).", rich_help_panel="Data")] = None,
    label_column: Annotated[Optional[str], typer.Option(help="Label column (default: label, class, category, ...).", rich_help_panel="Data")] = None,
    tokenizer: Annotated[TokenizerKind, typer.Option(help="Tokenizer model: whole words, BPE or WordPiece subwords.", rich_help_panel="Tokenizer")] = TokenizerKind(_T.kind),
    vocab_size: Annotated[int, typer.Option(help="Largest vocabulary.", rich_help_panel="Tokenizer")] = _T.vocab_size,
    min_frequency: Annotated[int, typer.Option(help="Keep tokens seen at least this often.", rich_help_panel="Tokenizer")] = _T.min_frequency,
    lowercase: Annotated[bool, typer.Option(help="Lowercase text before tokenizing.", rich_help_panel="Tokenizer")] = _T.lowercase,
    max_length: Annotated[int, typer.Option(help="Truncate texts to this many tokens.", rich_help_panel="Tokenizer")] = _T.max_length,
    cell: Annotated[Cell, typer.Option(help="Recurrent cell: simple RNN, LSTM or GRU.", rich_help_panel="Model")] = Cell(_M.cell),
    activation: Annotated[Activation, typer.Option(help="Activation of the simple RNN (--cell rnn).", rich_help_panel="Model")] = Activation(_M.activation),
    bidirectional: Annotated[bool, typer.Option(help="Read each text in both directions.", rich_help_panel="Model")] = _M.bidirectional,
    layers: Annotated[int, typer.Option(help="Stacked recurrent layers.", rich_help_panel="Model")] = _M.layers,
    embedding_dim: Annotated[int, typer.Option(help="Size of the token embeddings.", rich_help_panel="Model")] = _M.embedding_dim,
    hidden_size: Annotated[int, typer.Option(help="Hidden units per direction.", rich_help_panel="Model")] = _M.hidden_size,
    dropout: Annotated[float, typer.Option(help="Dropout before the classifier (and between layers).", rich_help_panel="Model")] = _M.dropout,
    embedding_dropout: Annotated[float, typer.Option(help="Dropout on the embeddings.", rich_help_panel="Model")] = _M.embedding_dropout,
    pooling: Annotated[Pooling, typer.Option(help="How token states become one vector: last state, mean, max, or max and mean.", rich_help_panel="Model")] = Pooling(_M.pooling),
    ngram_buckets: Annotated[int, typer.Option(help="Hashed-bigram bag beside the RNN (fastText-like), this many buckets; 0: off.", rich_help_panel="Model")] = _M.ngram_buckets,
    members: Annotated[int, typer.Option(help="Train this many models from different seeds and average their probabilities in one ONNX model (an ensemble): often more accurate, each member adds its training and prediction time. Try --members 3 --hidden-size 64.", rich_help_panel="Model")] = _M.members,
    epochs: Annotated[Optional[int], typer.Option(help=f"Most epochs to train (default: {AUTO_EPOCHS}, or more on small data: enough for {MIN_STEPS:,} steps).", show_default=False, rich_help_panel="Training")] = _R.epochs,
    batch_size: Annotated[int, typer.Option(help="Texts per training batch.", rich_help_panel="Training")] = _R.batch_size,
    lr: Annotated[float, typer.Option(help="AdamW learning rate.", rich_help_panel="Training")] = _R.lr,
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay.", rich_help_panel="Training")] = _R.weight_decay,
    clip_norm: Annotated[float, typer.Option(help="Clip the gradient norm to this.", rich_help_panel="Training")] = _R.clip_norm,
    word_dropout: Annotated[float, typer.Option(help="Share of training tokens replaced by the unknown word each step.", rich_help_panel="Training")] = _R.word_dropout,
    patience: Annotated[Optional[int], typer.Option(help=f"Stop after this many epochs without a better validation accuracy (default: {AUTO_PATIENCE}, or more on small data: {MIN_PATIENCE_STEPS} steps' worth).", show_default=False, rich_help_panel="Training")] = _R.patience,
    seed: Annotated[int, typer.Option(help="Random seed: same seed and data, same model (on CPU).", rich_help_panel="Training")] = _R.seed,
    device: Annotated[Device, typer.Option(help="Train on cpu, cuda, or auto (cuda when available).", rich_help_panel="Training")] = Device(_R.device),
    precision: Annotated[TrainPrecision, typer.Option(help="auto: bfloat16 mixed precision on CPUs that compute it natively (faster), else fp32; weights and the exported model stay fp32.", rich_help_panel="Training")] = TrainPrecision(_R.precision),
    ema: Annotated[float, typer.Option(help="Validate and keep an exponential moving average of the weights with this decay per step; 0: off.", rich_help_panel="Training")] = _R.ema,
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="Model folder (default: models/<data name>-<time>).", rich_help_panel="Output")] = None,
    force: Annotated[bool, typer.Option(help="Replace the --out folder if it exists.", rich_help_panel="Output")] = False,
    int8: Annotated[bool, typer.Option("--int8", help="Also write an int8 model (LSTM only), kept if validation accuracy drops <= 0.5 points.", rich_help_panel="Output")] = False,
) -> None:
    """Train a classifier on DATA, export it to ONNX and make it the default model.

    \b
    Examples:
      textrnn train data/sample.csv --cell gru --epochs 20
    """
    from textrnn.pipeline import train_model

    configs = dict(
        data_config=DataConfig(text_column=text_column, label_column=label_column, val_split=val_split),
        tokenizer_config=TokenizerConfig(kind=tokenizer.value, vocab_size=vocab_size, min_frequency=min_frequency,
                                         lowercase=lowercase, max_length=max_length),
        model_config=ModelConfig(cell=cell.value, activation=activation.value, bidirectional=bidirectional,
                                 layers=layers, embedding_dim=embedding_dim, hidden_size=hidden_size,
                                 dropout=dropout, embedding_dropout=embedding_dropout, pooling=pooling.value,
                                 ngram_buckets=ngram_buckets, members=members),
        train_config=TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                                 clip_norm=clip_norm, word_dropout=word_dropout, patience=patience, seed=seed,
                                 device=device.value, precision=precision.value, ema=ema),
    )
    progress = _Progress()
    try:
        summary = train_model(data, val_path=val, test_path=test, out=out_dir, force=force,
                              callback=progress, on_stage=lambda s: err.print(f"[dim]{s}...[/]"),
                              int8=int8, **configs)
    finally:
        progress.stop()
    for note in summary.notes:
        err.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)
    fits, planned = summary.members, summary.metadata["planned_members"]
    if summary.metadata["stopped"] == "interrupted":
        kept = (f"{len(fits)} of {planned} members, each at its best finished epoch" if planned > 1
                else f"the best of {len(fits[0].history)} finished epochs")
        err.print(f"[yellow]interrupted: kept {kept}[/]", soft_wrap=True)
    if len(fits) == 1:
        how = f"best epoch {fits[0].best_epoch} of {len(fits[0].history)}"
    else:
        how = f"{len(fits)} members, best epochs {', '.join(str(f.best_epoch) for f in fits)}"
    seconds = sum(f.seconds for f in fits)
    line = f"Saved {summary.model_dir} ({how}, {seconds:.0f}s): val accuracy {summary.val.accuracy:.2%}"
    if summary.test is not None:
        line += (f", test accuracy {summary.test.accuracy:.2%} (ONNX) / "
                 f"{summary.test_torch_accuracy:.2%} (PyTorch), macro-F1 {summary.test.macro_f1:.4f}")
    out.print(line, soft_wrap=True)
    if int8:
        q = summary.metadata["int8"]
        out.print(("int8 model kept: " if q["status"] == "kept" else "[yellow]no int8 model:[/] ") + q["reason"],
                  soft_wrap=True)
