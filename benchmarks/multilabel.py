"""Multi-label and imbalance benchmark.

1. cooking (../shared/datasets/cooking: fastText's Cooking Stack Exchange split, 12,404 train / 3,000
   test questions, 735 tags): textrnn with default settings (3 seeds) against, in the same run,
   - TF-IDF (word 1-2 grams, sublinear tf) + one-vs-rest logistic regression, C and one global
     threshold chosen on 10% of train (then refit on all of train);
   - fastText softmax (-lr 1.0 -epoch 25 -wordNgrams 2) and one-vs-all (-lr 0.5 -loss ova), each with
     one global threshold chosen the same way (if a fastText wheel is installed: '.[bench]').
   Every system is scored by the same code (textrnn.evaluation.multilabel): micro-F1, macro-F1, P@1.
2. imbalance: a single-label set made skewed on purpose (trec with two classes down-sampled to 5%
   of their rows in train), textrnn with and without --class-weight balanced (3 seeds): macro-F1
   and the rare classes' F1.

    python benchmarks/multilabel.py                       # both, writes benchmarks/results-multilabel.md
    python benchmarks/multilabel.py --seeds 1 --skip-imbalance
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import cpu_name
from rich.console import Console

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("TEXTRNN_DATASETS", ROOT.parent / "shared" / "datasets"))
console = Console(stderr=True)
GRID = np.arange(0.05, 0.96, 0.05)


def cpu() -> str:
    return cpu_name()

def score(gold: np.ndarray, probs: np.ndarray, labels: list[str], threshold: float) -> dict:
    """micro-F1, macro-F1, P@1 of probabilities cut at one threshold (at least the top label), as textrnn scores."""
    from textrnn.tasks import MultiLabelTask

    task = MultiLabelTask(labels, thresholds=[threshold] * len(labels))
    m = task.evaluate(gold.astype(np.float32), probs)
    return {"micro_f1": m.micro_f1, "macro_f1": m.macro_f1, "p_at_1": m.p_at_1}


def best_threshold(gold: np.ndarray, probs: np.ndarray, labels: list[str]) -> float:
    return max(GRID, key=lambda t: score(gold, probs, labels, t)["micro_f1"])


def binarize(data, labels: list[str]) -> np.ndarray:
    index = {lab: i for i, lab in enumerate(labels)}
    y = np.zeros((len(data), len(labels)), dtype=bool)
    for row, labs in enumerate(data.labels):
        y[row, [index[lab] for lab in labs if lab in index]] = True
    return y


def run_textrnn(train: Path, test: Path, seeds: int) -> dict:
    from textrnn.config import Settings, TrainConfig
    from textrnn.training.job import train_model

    runs = []
    for seed in range(seeds):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            s = train_model(train, test_path=test, out=Path(tmp) / "m", settings=Settings(train=TrainConfig(seed=seed)),
                            make_default=False)
            secs = time.perf_counter() - t0
        m = s.test
        runs.append({"micro_f1": m.micro_f1, "macro_f1": m.macro_f1, "p_at_1": m.p_at_1, "seconds": secs})
        console.print(f"  textrnn seed {seed}: micro-F1 {m.micro_f1:.4f} macro-F1 {m.macro_f1:.4f} "
                      f"P@1 {m.p_at_1:.4f}, {secs:.0f}s")
    return {k: [r[k] for r in runs] for k in runs[0]}


def run_tfidf(train, test, labels: list[str]) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    from textrnn.data import stratified_split

    t0 = time.perf_counter()
    fit_part, held = stratified_split(train, 0.1, 0)

    def model(c: float):
        return OneVsRestClassifier(LogisticRegression(C=c, solver="liblinear", max_iter=1000), n_jobs=1)

    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    x_fit, x_held = vec.fit_transform(fit_part.texts), vec.transform(held.texts)
    y_fit, y_held = binarize(fit_part, labels), binarize(held, labels)
    keep = y_fit.any(0)  # labels present in the fitting part
    choices = {}
    for c in (1, 3, 10, 30):
        probs = np.zeros(y_held.shape)
        probs[:, keep] = model(c).fit(x_fit, y_fit[:, keep]).predict_proba(x_held)
        t = best_threshold(y_held, probs, labels)
        choices[c] = (score(y_held, probs, labels, t)["micro_f1"], t)
    c, (_, threshold) = max(choices.items(), key=lambda kv: kv[1][0])
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    x, y = vec.fit_transform(train.texts), binarize(train, labels)
    keep = y.any(0)
    probs = np.zeros((len(test), len(labels)))
    probs[:, keep] = model(c).fit(x, y[:, keep]).predict_proba(vec.transform(test.texts))
    result = score(binarize(test, labels), probs, labels, threshold)
    return {**{k: [v] for k, v in result.items()}, "seconds": [time.perf_counter() - t0],
            "note": f"C={c}, threshold {threshold:.2f}"}


def run_fasttext(train_file: Path, train, test, labels: list[str], loss: str) -> dict | None:
    try:
        import fasttext
    except ImportError:
        return None
    from textrnn.data import stratified_split

    def train_on(data, folder: Path):
        path = folder / "train.txt"
        path.write_text("".join(" ".join(f"__label__{lab}" for lab in labs) + f" {text}\n"
                                for text, labs in zip(data.texts, data.labels, strict=True)), encoding="utf-8")
        kwargs = {"lr": 1.0, "epoch": 25, "wordNgrams": 2} if loss == "softmax" else {"lr": 0.5, "epoch": 25,
                                                                                       "wordNgrams": 2, "loss": "ova"}
        return fasttext.train_supervised(str(path), verbose=0, thread=2, **kwargs)

    def probabilities(model, texts: list[str]) -> np.ndarray:
        index = {lab: i for i, lab in enumerate(labels)}
        out = np.zeros((len(texts), len(labels)))
        got, ps = model.predict([" ".join(t.split()) for t in texts], k=-1, threshold=0.0)
        for row, (labs, p) in enumerate(zip(got, ps, strict=True)):
            for lab, value in zip(labs, p, strict=True):
                j = index.get(lab.removeprefix("__label__"))
                if j is not None:
                    out[row, j] = value
        return out

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        fit_part, held = stratified_split(train, 0.1, 0)
        threshold = best_threshold(binarize(held, labels), probabilities(train_on(fit_part, Path(tmp)), held.texts),
                                   labels)
        model = train_on(train, Path(tmp))
    result = score(binarize(test, labels), probabilities(model, test.texts), labels, threshold)
    return {**{k: [v] for k, v in result.items()}, "seconds": [time.perf_counter() - t0],
            "note": f"threshold {threshold:.2f}"}


def skewed_trec(folder: Path, seed: int = 0) -> tuple[Path, list[str]]:
    """trec's train with its two largest-but-not-largest classes cut to 5% of their rows."""
    from textrnn.data import load_dataset

    data = load_dataset(SHARED / "trec" / "train.csv")
    counts = sorted(data.label_counts().items(), key=lambda kv: -kv[1])
    rare = [counts[1][0], counts[2][0]]
    rng = np.random.default_rng(seed)
    keep = [i for i, lab in enumerate(data.labels) if lab not in rare or rng.random() < 0.05]
    path = folder / "trec-skewed.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows((data.texts[i], data.labels[i]) for i in keep)
    return path, rare


def run_imbalance(seeds: int) -> tuple[list[str], dict]:
    from textrnn.config import ClassWeight, Settings, TrainConfig
    from textrnn.training.job import train_model

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        path, rare = skewed_trec(Path(tmp))
        for weight in ("none", "balanced"):
            runs = []
            for seed in range(seeds):
                s = train_model(path, test_path=SHARED / "trec" / "test.csv", out=Path(tmp) / f"m-{weight}-{seed}",
                                settings=Settings(train=TrainConfig(seed=seed, class_weight=ClassWeight(weight))),
                                make_default=False)
                per = {c.label: c.f1 for c in s.test.per_class}
                runs.append((s.test.macro_f1, s.test.accuracy, *[per[r] for r in rare]))
                console.print(f"  trec skewed, class weight {weight}, seed {seed}: macro-F1 {s.test.macro_f1:.4f}, "
                              f"rare F1 {[round(per[r], 3) for r in rare]}")
            out[weight] = np.array(runs)
    return rare, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--skip-imbalance", action="store_true")
    parser.add_argument("--skip-cooking", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results-multilabel.md")
    args = parser.parse_args()
    from textrnn.data import load_dataset

    started = time.perf_counter()
    command = f"python benchmarks/multilabel.py {' '.join(sys.argv[1:])}".strip()
    md = [f"# Multi-label and imbalance benchmark\n\nCommand: `{command}`\n\n"
          f"Machine: {cpu()}, {os.cpu_count()} cores; Python {platform.python_version()}\n"]
    if not args.skip_cooking:
        d = SHARED / "cooking"
        train, test = load_dataset(d / "train.txt", multi_label=True), load_dataset(d / "test.txt", multi_label=True)
        labels = sorted(train.label_counts())
        console.print("[bold]cooking[/]")
        rows = {f"textrnn (default, {args.seeds} seeds)": run_textrnn(d / "train.txt", d / "test.txt", args.seeds)}
        console.print("  TF-IDF + one-vs-rest logistic regression ...")
        rows["TF-IDF + OvR LogReg"] = run_tfidf(train, test, labels)
        for loss in ("softmax", "ova"):
            console.print(f"  fastText {loss} ...")
            ft = run_fasttext(d / "train.txt", train, test, labels, loss)
            if ft:
                rows[f"fastText {loss}"] = ft
        md += ["## cooking (test set, 3,000 questions)\n", "| system | micro-F1 | macro-F1 | P@1 | seconds | note |",
               "|---|---|---|---|---|---|"]
        for name, r in rows.items():
            def cell(key: str, r: dict = r) -> str:
                v = np.array(r[key])
                return f"{v.mean():.4f} ± {v.std(ddof=1):.4f}" if len(v) > 1 else f"{v[0]:.4f}"
            md.append(f"| {name} | {cell('micro_f1')} | {cell('macro_f1')} | {cell('p_at_1')} | "
                      f"{np.mean(r['seconds']):.0f} | {r.get('note', '')} |")
        md.append("")
    if not args.skip_imbalance:
        console.print("[bold]imbalance (trec, two classes cut to 5%)[/]")
        rare, runs = run_imbalance(args.seeds)
        md += ["## Imbalance: trec with two classes cut to 5% of their training rows (test set unchanged)\n",
               f"| --class-weight | macro-F1 | accuracy | F1 {rare[0]} | F1 {rare[1]} |", "|---|---|---|---|---|"]
        for weight, values in runs.items():
            mean, sd = values.mean(0), values.std(0, ddof=1) if len(values) > 1 else np.zeros(values.shape[1])
            md.append(f"| {weight} | " + " | ".join(f"{m:.4f} ± {s:.4f}" for m, s in zip(mean, sd, strict=True)) + " |")
        md.append("")
    md.append(f"Run time {(time.perf_counter() - started) / 60:.1f} min.\n")
    args.out.write_text("\n".join(md), encoding="utf-8")
    Console().print("\n".join(md))


if __name__ == "__main__":
    main()
