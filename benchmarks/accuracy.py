"""Accuracy benchmark: textrnn's default recipe (and its variants) against the usual peers on public
datasets, on the whole training sets or on seeded samples of them.

For each dataset in ../shared/datasets (train.csv, dev.csv where it exists, test.csv), trains
textrnn for several seeds (--systems: `default`; `nopretrain` and `pretrain`, the default with
--pretrain off or on (a language model pretrained on the training texts first); `tune`,
`textrnn tune --budget B`), and on the same splits:
  - TF-IDF (word 1-2 grams, sublinear tf) + LogisticRegression, C by 5-fold CV on train;
  - fastText supervised (dim 100, epoch 25, lr 1.0, wordNgrams 2), if a fastText wheel is installed;
  - Keras Embedding(64) + SimpleRNN(128, relu) + Dense(softmax), 10 epochs, best validation epoch
    (with --keras; Keras 3 on the torch backend, slow).
Prints one table and writes benchmarks/RESULTS.md. Peers are benchmark-only: pip install '.[bench]'.

    python benchmarks/accuracy.py                     # all datasets, 3 seeds, TF-IDF + fastText
    python benchmarks/accuracy.py --datasets sst2 trec --seeds 1 --keras
    python benchmarks/accuracy.py --systems default pretrain tune --tune-budget 10m
    python benchmarks/accuracy.py --sample 500 --out benchmarks/RESULTS-500.md   # 500-row samples

With --sample N, each seed draws its own N training rows (stratified, seeded); every system, the
peers included, trains on that sample with 10% of it held out for validation (dev.csv is not
used), and is scored on the whole test set.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np
from machine import cpu_name
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("TEXTRNN_DATASETS", ROOT.parent / "shared" / "datasets"))
DATASETS = ["sst2", "sst5", "trec", "mr", "subj", "agnews"]
console = Console(stderr=True)


@dataclass
class Score:
    system: str
    accuracy: list[float] = field(default_factory=list)
    macro_f1: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    note: str = ""

    def add(self, acc: float, f1: float, secs: float) -> None:
        self.accuracy.append(acc)
        self.macro_f1.append(f1)
        self.seconds.append(secs)

    def cell(self) -> str:
        """accuracy (mean ± sd over seeds) / macro-F1 / mean seconds (and the slowest, over seeds)."""
        a = 100 * np.array(self.accuracy)
        acc = f"{a.mean():.1f} ± {a.std(ddof=1):.1f}" if len(a) > 1 else f"{a[0]:.1f}"
        secs = f"{np.mean(self.seconds):.0f}s" + (f" (max {max(self.seconds):.0f}s)" if len(a) > 1 else "")
        return f"{acc} / {np.mean(self.macro_f1):.3f} / {secs}"


def splits(name: str):
    from textrnn.data import load_dataset

    d = SHARED / name
    dev = d / "dev.csv"
    return (load_dataset(d / "train.csv"), load_dataset(dev) if dev.exists() else None,
            load_dataset(d / "test.csv"), d)


def sample(name: str, rows: int, seed: int, folder: Path) -> Path:
    """A seeded, stratified sample of a training set, written as a CSV (what a small-data user has)."""
    import csv

    from textrnn.data import load_dataset, stratified_split

    train = load_dataset(SHARED / name / "train.csv")
    part = stratified_split(train, rows / len(train), seed)[1] if rows < len(train) else train
    path = folder / f"{name}-{rows}-{seed}.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(zip(part.texts, part.labels, strict=True))
    return path


SYSTEMS = {"default": "textrnn (default)", "nopretrain": "textrnn --pretrain off", "pretrain": "textrnn --pretrain on",
           "tune": "textrnn tune", "folds1": "textrnn --folds 1", "members": "textrnn --fold-model members",
           "distilled": "textrnn --fold-model distilled"}


def run_textrnn(name: str, seeds: int, system: str = "default", rows: int | None = None,
                budget: str = "10m") -> Score:
    from textrnn.config import DataConfig, InitConfig, Settings, TrainConfig
    from textrnn.training.job import train_model
    from textrnn.training.tune import tune_model

    d = SHARED / name
    dev = d / "dev.csv" if (d / "dev.csv").exists() and rows is None else None
    score = Score(SYSTEMS[system] + (f" {budget}" if system == "tune" else ""))
    for seed in range(seeds):
        with tempfile.TemporaryDirectory() as tmp:
            train = sample(name, rows, seed, Path(tmp)) if rows else d / "train.csv"
            pretrain = {"pretrain": "on", "nopretrain": "off"}.get(system, "auto")
            data = DataConfig(folds="1" if system == "folds1" else "auto",
                              fold_model=system if system in ("members", "distilled") else "refit")
            settings = Settings(data=data, train=TrainConfig(seed=seed), init=InitConfig(pretrain=pretrain))
            t0 = time.perf_counter()
            if system == "tune":
                s = tune_model(train, budget=budget, val_path=dev, test_path=d / "test.csv", out=Path(tmp) / "m",
                               settings=settings, make_default=False)
            else:
                s = train_model(train, val_path=dev, test_path=d / "test.csv", out=Path(tmp) / "m",
                                settings=settings, make_default=False)
            secs = time.perf_counter() - t0
        score.add(s.test.accuracy, s.test.macro_f1, secs)
        extra = f", {len(s.metadata.tuning.trials)} trials" if s.metadata.tuning else ""
        console.print(f"  {name} {system} seed {seed}: test {s.test.accuracy:.4f}, "
                      f"best epoch {s.fit.best_epoch}/{len(s.fit.history)}{extra}, {secs:.0f}s")
    return score


def run_peers_on_samples(name: str, seeds: int, rows: int, fasttext: bool) -> list[Score]:
    """TF-IDF (and fastText) on each seed's sample, scored on the whole test set."""
    from textrnn.data import load_dataset

    test = load_dataset(SHARED / name / "test.csv")
    merged: dict[str, Score] = {}
    for seed in range(seeds):
        with tempfile.TemporaryDirectory() as tmp:
            train = load_dataset(sample(name, rows, seed, Path(tmp)))
        for peer in [run_tfidf(train, test), *([run_fasttext(train, test, seed)] if fasttext else [])]:
            if peer is None:
                continue
            into = merged.setdefault(peer.system, Score(peer.system))
            into.add(peer.accuracy[0], peer.macro_f1[0], peer.seconds[0])
    return list(merged.values())


def run_tfidf(train, test) -> Score:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline

    t0 = time.perf_counter()
    pipe = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                         LogisticRegression(solver="newton-cg", max_iter=1000))
    search = GridSearchCV(pipe, {"logisticregression__C": [0.3, 1, 3, 10, 30, 100]}, cv=5, n_jobs=1)
    search.fit(train.texts, train.labels)
    pred = search.predict(test.texts)
    score = Score("TF-IDF + LogReg", note=f"C={search.best_params_['logisticregression__C']}")
    score.add(accuracy_score(test.labels, pred), f1_score(test.labels, pred, average="macro"),
              time.perf_counter() - t0)
    return score


def run_fasttext(train, test, seed: int = 0) -> Score | None:
    try:
        import fasttext
    except ImportError:
        return None
    from sklearn.metrics import accuracy_score, f1_score

    def line(text: str) -> str:
        return " ".join(text.lower().split())

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.txt"
        path.write_text("".join(f"__label__{lab.replace(' ', '_')} {line(t)}\n"
                                for t, lab in zip(train.texts, train.labels, strict=True)), encoding="utf-8")
        t0 = time.perf_counter()
        model = fasttext.train_supervised(str(path), dim=100, epoch=25, lr=1.0, wordNgrams=2, verbose=0,
                                          thread=2, seed=seed)
        secs = time.perf_counter() - t0
    labels_out = model.predict([line(t) for t in test.texts])[0]
    by_norm = {lab.replace(" ", "_"): lab for lab in set(train.labels)}
    pred = [by_norm[x[0].removeprefix("__label__")] for x in labels_out]
    score = Score("fastText")
    score.add(accuracy_score(test.labels, pred), f1_score(test.labels, pred, average="macro"), secs)
    return score


def run_keras(train, dev, test) -> Score | None:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError:
        return None
    from sklearn.metrics import accuracy_score, f1_score

    from textrnn.config import TokenizerConfig
    from textrnn.data import stratified_split
    from textrnn.tokenizer import encode, train_tokenizer

    if dev is None:
        train, dev = stratified_split(train, 0.1, 0)
    labels = sorted(set(train.labels))
    index = {lab: i for i, lab in enumerate(labels)}
    tok = train_tokenizer(train.texts, TokenizerConfig(max_length=100))

    def xy(data):
        ids = encode(tok, data.texts)
        x = np.zeros((len(ids), 100), dtype=np.int64)
        for i, row in enumerate(ids):
            x[i, : len(row)] = row
        return x, np.array([index[lab] for lab in data.labels])

    (xt, yt), (xd, yd), (xs, ys) = xy(train), xy(dev), xy(test)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Embedding(tok.get_vocab_size(), 64, mask_zero=True),
                              keras.layers.SimpleRNN(128, activation="relu"),
                              keras.layers.Dense(len(labels), activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    best = keras.callbacks.ModelCheckpoint(str(Path(tempfile.mkdtemp()) / "best.keras"),
                                           monitor="val_accuracy", save_best_only=True)
    t0 = time.perf_counter()
    model.fit(xt, yt, validation_data=(xd, yd), epochs=10, batch_size=32, verbose=0, callbacks=[best])
    secs = time.perf_counter() - t0
    model = keras.models.load_model(best.filepath)
    pred = model.predict(xs, verbose=0).argmax(1)
    score = Score("Keras SimpleRNN(relu)")
    score.add(accuracy_score(ys, pred), f1_score(ys, pred, average="macro"), secs)
    return score


def versions() -> str:
    names = ["torch", "onnxruntime-gpu", "onnxruntime", "tokenizers", "scikit-learn", "fasttext-numpy2-wheel",
             "keras"]
    found = []
    for n in names:
        try:
            found.append(f"{n} {metadata.version(n)}")
        except metadata.PackageNotFoundError:
            pass
    return ", ".join(found)


def cpu() -> str:
    """The CPU's name and the precision textrnn trains in on it (bfloat16 only where it is native)."""
    import torch

    from textrnn.training.devices import resolve_precision

    name = cpu_name()
    bf16 = resolve_precision("auto", torch.device("cpu")) == torch.bfloat16
    return f"{name}, {os.cpu_count()} cores, textrnn trains in {'bfloat16 (native)' if bf16 else 'fp32'}"


def write_results(rows: dict[str, list[Score]], seeds: int, minutes: float, path: Path) -> Table:
    """Print-ready table and the markdown file, for the datasets done so far."""
    systems = list(dict.fromkeys(s.system for scores in rows.values() for s in scores))
    table = Table(title="Test accuracy % (mean ± sd over seeds) / macro-F1 / training seconds")
    table.add_column("dataset")
    for system in systems:
        table.add_column(system, justify="right")
    md = ["| dataset | " + " | ".join(systems) + " |", "|---" * (len(systems) + 1) + "|"]
    for name, scores in rows.items():
        by = {s.system: s for s in scores}
        cells = ["-" if system not in by else by[system].cell() for system in systems]
        table.add_row(name, *cells)
        md.append(f"| {name} | " + " | ".join(cells) + " |")
    cmd = "python benchmarks/accuracy.py " + " ".join(sys.argv[1:])
    path.write_text(
        f"# Accuracy benchmark\n\nCommand: `{cmd.strip()}` (run time {minutes:.1f} min)\n\n"
        f"Machine: {cpu()}; Python {platform.python_version()}; {versions()}\n\n"
        f"Each cell: test accuracy % (mean ± sd over {seeds} seeds for textrnn) / macro-F1 / training "
        f"seconds (textrnn: the whole `train` (or `tune`) job: tokenizer, training, export, evaluation; mean "
        f"and slowest seed).\n\n" + "\n".join(md) + "\n", encoding="utf-8")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=DATASETS)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--keras", action="store_true", help="also run the Keras SimpleRNN peer (slow)")
    parser.add_argument("--no-peers", action="store_true", help="only textrnn")
    parser.add_argument("--systems", nargs="+", default=["default"], choices=[*SYSTEMS, "none"],
                        help="textrnn variants: default, nopretrain, pretrain (--pretrain off/on), tune; none: "
                             "the peers only")
    parser.add_argument("--tune-budget", default="10m")
    parser.add_argument("--tune-seeds", type=int, help="seeds for tune (default: --seeds)")
    parser.add_argument("--sample", type=int, help="train on seeded samples of this many rows")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    args = parser.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"no datasets at {SHARED} (set TEXTRNN_DATASETS)")
    started = time.perf_counter()
    rows: dict[str, list[Score]] = {}
    for name in args.datasets:
        console.print(f"[bold]{name}[/]")
        train, dev, test, _ = splits(name)
        scores = [run_textrnn(name, args.tune_seeds or args.seeds if system == "tune" else args.seeds, system,
                              args.sample, args.tune_budget) for system in args.systems if system != "none"]
        if args.sample and not args.no_peers:
            scores += run_peers_on_samples(name, args.seeds, args.sample, fasttext=True)
        elif not args.no_peers:
            scores.append(run_tfidf(train, test))  # deterministic: one run
            runs = [ft for seed in range(args.seeds) if (ft := run_fasttext(train, test, seed))]
            if runs:  # fastText's own seeds (and Hogwild threads) move TREC by a point: as many runs as textrnn's
                for ft in runs[1:]:
                    runs[0].add(ft.accuracy[0], ft.macro_f1[0], ft.seconds[0])
                scores.append(runs[0])
            if args.keras:
                k = run_keras(train, dev, test)
                if k:
                    scores.append(k)
        rows[name] = scores
        write_results(rows, args.seeds, (time.perf_counter() - started) / 60, args.out)  # so far
    table = write_results(rows, args.seeds, (time.perf_counter() - started) / 60, args.out)
    Console().print(table)
    console.print(f"wrote {args.out} ({(time.perf_counter() - started) / 60:.1f} min)")


if __name__ == "__main__":
    main()
