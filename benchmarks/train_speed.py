"""Training speed for one fixed architecture: seconds per epoch on sst2.

Embedding 128 -> BiLSTM 128 -> max pool -> linear, batch 64, Adam, on ../shared/datasets/sst2:
  - textrnn's fit loop (length-bucketed batches, padding-exact);
  - a hand-written PyTorch loop (random batches padded to the batch's longest text, no packing);
  - Keras 3 Bidirectional(LSTM(128)) on the torch backend (with --keras; slow).
Each is timed over --epochs epochs (training only: textrnn's end-of-epoch validation is shown apart),
one after another on an idle machine; the table gives the median epoch.

    python benchmarks/train_speed.py [--epochs 3] [--keras] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from torch import nn

from textrnn.config import ModelConfig, TokenizerConfig, TrainConfig
from textrnn.data import load_dataset
from textrnn.model import TextClassifier
from textrnn.tasks import Task
from textrnn.tokenizer import encode, pad, train_tokenizer
from textrnn.training.devices import resolve_precision
from textrnn.training.loop import fit

ROOT = Path(__file__).resolve().parent.parent
SST2 = Path(os.environ.get("TEXTRNN_DATASETS", ROOT.parent / "shared" / "datasets")) / "sst2"


class EpochTimer:
    """Fit callback: each epoch's training time (first batch to last), without the validation pass
    that textrnn runs at the end of every epoch (the other loops here do not validate)."""

    def __init__(self) -> None:
        self.train: list[float] = []
        self._t0 = self._last = 0.0

    def on_epoch_start(self, epoch: int, epochs: int, batches: int) -> None:
        self._t0 = self._last = time.perf_counter()

    def on_batch_end(self, loss: float) -> None:
        self._last = time.perf_counter()

    def on_epoch_end(self, stats, is_best: bool) -> None:  # EpochStats
        self.train.append(self._last - self._t0)


def textrnn_epoch_seconds(ids, y, val_ids, val_y, vocab, classes, epochs: int,
                          precision: str) -> tuple[float, float]:
    """(training seconds per epoch, whole epoch with validation), medians over the epochs."""
    model = TextClassifier(ModelConfig(embedding_dim=128, hidden_size=128, pooling="max", embedding_dropout=0.0),
                           vocab, classes)
    timer = EpochTimer()
    result = fit(model, Task([str(i) for i in range(classes)]), ids, y, val_ids, val_y,
                 TrainConfig(epochs=epochs, batch_size=64, lr=1e-3, weight_decay=0.0, patience=epochs,
                             precision=precision), callback=timer)
    return float(np.median(timer.train)), float(np.median([h.seconds for h in result.history]))


class HandWritten(nn.Module):
    def __init__(self, vocab: int, classes: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, 128, padding_idx=0)
        self.lstm = nn.LSTM(128, 128, batch_first=True, bidirectional=True)
        self.out = nn.Linear(256, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.lstm(self.embedding(x))
        return self.out(h.max(dim=1).values)


def handwritten_epoch_seconds(ids, y, vocab, classes, epochs: int) -> float:
    torch.manual_seed(0)
    model = HandWritten(vocab, classes)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        order = rng.permutation(len(ids))
        for i in range(0, len(order), 64):
            idx = order[i: i + 64]
            x = torch.from_numpy(pad([ids[j] for j in idx]))
            loss = nn.functional.cross_entropy(model(x), torch.from_numpy(y[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def keras_epoch_seconds(ids, y, vocab, classes, epochs: int) -> float | None:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError:
        return None
    x = pad(ids)
    model = keras.Sequential([keras.layers.Embedding(vocab, 128, mask_zero=True),
                              keras.layers.Bidirectional(keras.layers.LSTM(128)),
                              keras.layers.Dense(classes, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        model.fit(x, y, batch_size=64, epochs=1, verbose=0)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--keras", action="store_true")
    parser.add_argument("--markdown", type=Path, help="also write the table to this markdown file")
    args = parser.parse_args()
    started = time.perf_counter()
    train, dev = load_dataset(SST2 / "train.csv"), load_dataset(SST2 / "dev.csv")
    labels = sorted(set(train.labels))
    tok = train_tokenizer(train.texts, TokenizerConfig())
    ids, val_ids = encode(tok, train.texts), encode(tok, dev.texts)
    y = np.array([labels.index(lab) for lab in train.labels])
    val_y = np.array([labels.index(lab) for lab in dev.labels])
    vocab, classes = tok.get_vocab_size(), len(labels)
    auto = "bf16" if resolve_precision("auto", torch.device("cpu")) == torch.bfloat16 else "fp32"
    # (system, training s/epoch, s/epoch with textrnn's validation pass or None)
    rows = [(f"textrnn fit (default: {auto})",
             *textrnn_epoch_seconds(ids, y, val_ids, val_y, vocab, classes, args.epochs, "auto"))]
    if auto != "fp32":
        rows.append(("textrnn fit (--precision fp32)",
                     *textrnn_epoch_seconds(ids, y, val_ids, val_y, vocab, classes, args.epochs, "fp32")))
    rows.append(("hand-written PyTorch loop", handwritten_epoch_seconds(ids, y, vocab, classes, args.epochs),
                 None))
    if args.keras:
        k = keras_epoch_seconds(ids, y, vocab, classes, args.epochs)
        if k is not None:
            rows.append(("Keras Bidirectional(LSTM(128))", k, None))
    base = rows[0][1]
    table = Table(title=f"sst2, embedding 128, BiLSTM 128, batch 64, {torch.get_num_threads()} threads, "
                        f"median of {args.epochs} epochs",
                  caption="training s/epoch: first batch to last; textrnn also validates on dev.csv at the "
                          "end of each epoch (last column)")
    table.add_column("system")
    table.add_column("training s/epoch", justify="right")
    table.add_column("textrnn / this", justify="right")
    table.add_column("s/epoch with validation", justify="right")
    for name, secs, with_val in rows:
        table.add_row(name, f"{secs:.2f}", f"{base / secs:.2f}x", "" if with_val is None else f"{with_val:.2f}")
    Console().print(table)
    if args.markdown:
        cells = [f"| {name} | {secs:.2f} | {base / secs:.2f}x | {'' if v is None else f'{v:.2f}'} |"
                 for name, secs, v in rows]
        command = " ".join(["benchmarks/train_speed.py", f"--epochs {args.epochs}"] + ["--keras"] * args.keras)
        args.markdown.write_text(
            f"# Training speed\n\n`python {command}` (run time {time.perf_counter() - started:.0f} s; "
            f"torch {torch.__version__}, {torch.get_num_threads()} threads)\n\n{table.title}. "
            f"{table.caption}.\n\n| system | training s/epoch | textrnn / this | s/epoch with validation |\n"
            "|---|---|---|---|\n" + "\n".join(cells) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
