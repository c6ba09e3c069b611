"""How the network and the TF-IDF model are mixed, measured on seeded 500-row samples (cross-fitted
training, the default there): each run trains the default recipe once (`--folds auto`: five fold
networks and the refit) and keeps every part's probabilities, so that several mixing rules are
compared on the very same networks, out-of-fold choices and test texts.

    python benchmarks/mix_pooling.py --datasets agnews subj mr sst2 trec sst5 --seeds 3 --out DIR
    python benchmarks/mix_pooling.py --table DIR                     # the table from saved runs
    python benchmarks/mix_pooling.py --whole --datasets mr sst2 --seeds 1 --out DIR   # whole training sets

With --whole, each run trains on the whole training set (dev.csv as validation where it exists, else
the default 10% split, then the TF-IDF model's refit on training and validation texts, as train does)
and the share, C and scale are chosen on validation by train's own rule (textrnn.training.tfidf);
the columns that need fold networks (foldavg, mean, 1se) are left empty there.

Rules (the TF-IDF model's C chosen by out-of-fold log loss in every rule, as train does):
  mean       (1 - a) x network + a x TF-IDF probabilities, a by out-of-fold log loss (before 2026-12-05)
  geometric  the weighted geometric pool (Task.pool), a by out-of-fold log loss (the default before scaled)
  1se        mean, with the largest a within one standard error of the best out-of-fold log loss
  scaled     geometric, both weights times a scale s (a temperature), a and s by out-of-fold log loss
             (s from SCALES for each a, as train does since 2026-12-05: the default now)
Also the TF-IDF model alone, the refit network alone and the fold networks' average (not shipped).
Test accuracy on the whole test set, mean over the seeds; the textrnn numbers come from the PyTorch
model (export parity is checked elsewhere, to 1e-6).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from machine import cpu_name

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
ALPHAS = np.round(np.linspace(0, 1, 11), 2)


def run(name: str, seed: int, rows: int, path: Path) -> None:
    """Train the default recipe on one sample and save every part's probabilities to `path`."""
    import accuracy as acc

    import textrnn.model as model_module
    from textrnn.config import Settings, TokenizerKind
    from textrnn.data.tokens import encode_compact
    from textrnn.training.epochs import FitHooks
    from textrnn.training.fitting import fit_model
    from textrnn.training.loop import predict_logits
    from textrnn.training.splits import read_splits
    from textrnn.training.start import prepare_start
    from textrnn.training.tfidf import CROSSFIT_C_GRID, TfidfFeatures, TfidfModel, content_tokens_of

    folds_networks = []
    ensemble = model_module.Ensemble

    class Kept(ensemble):  # the fold networks, kept when crossfit builds their Ensemble
        def __init__(self, members, task, *args, **kwargs):
            folds_networks.append(list(members))
            super().__init__(members, task, *args, **kwargs)

    model_module.Ensemble = Kept
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings()
        settings = replace(settings, train=replace(settings.train, seed=seed))
        splits = read_splits(acc.sample(name, rows, seed, Path(tmp)), None, acc.SHARED / name / "test.csv", settings)
        start = prepare_start(splits, settings, None)
        fitted = fit_model(splits, start, None, FitHooks())
    model_module.Ensemble = ensemble
    tokenizer, task, cross = start.tokenizer, splits.task, fitted.cross_fit

    def ids(texts):
        compact = encode_compact(tokenizer, texts)
        return [compact[i] for i in range(len(compact))]

    train_ids, test_ids = ids(splits.train.texts), ids(splits.test.texts)
    y = splits.targets("train")
    keep = content_tokens_of(tokenizer, settings.tokenizer.kind == TokenizerKind.word)
    features, (texts, keys) = TfidfFeatures.learn(train_ids, keep, tokenizer.get_vocab_size(), len(task.labels))
    x, x_test = features.matrix(texts, keys, len(train_ids)), features.transform(test_ids)
    tf_oof, tf_test = [], []
    for c in CROSSFIT_C_GRID:
        tfidf = TfidfModel(task, c, seed)
        oof = np.zeros_like(cross.fitted.oof)
        for f in range(int(splits.folds.max()) + 1):
            held = splits.folds == f
            weight, bias = tfidf.fit(x[~held], y[~held])
            oof[held] = tfidf.probabilities(x[held], weight, bias)
        weight, bias = tfidf.fit(x, y)
        tf_oof.append(oof)
        tf_test.append(tfidf.probabilities(x_test, weight, bias))
    np.savez(path, y=y, yt=splits.targets("test"), net_oof=cross.fitted.oof,
             p_refit=task.probabilities(predict_logits(cross.fitted.network, test_ids)),
             p_folds=np.stack([task.probabilities(predict_logits(n, test_ids)) for n in folds_networks[0]]),
             tf_oof=np.stack(tf_oof), tf_test=np.stack(tf_test), seconds=time.perf_counter() - started)


def run_whole(name: str, seed: int, path: Path) -> None:
    """Train the default network on a whole training set (one validation split) and save the parts'
    validation and test probabilities (the TF-IDF model at each C of train's grid) to `path`."""
    import accuracy as acc

    from textrnn.config import Settings, TokenizerKind
    from textrnn.data.tokens import encode_compact
    from textrnn.training.epochs import FitHooks
    from textrnn.training.fitting import fit_model
    from textrnn.training.loop import predict_logits
    from textrnn.training.splits import read_splits
    from textrnn.training.start import prepare_start
    from textrnn.training.tfidf import C_GRID, TfidfFeatures, TfidfModel, content_tokens_of

    started = time.perf_counter()
    folder, settings = acc.SHARED / name, Settings()
    settings = replace(settings, train=replace(settings.train, seed=seed))
    dev = folder / "dev.csv"
    splits = read_splits(folder / "train.csv", dev if dev.exists() else None, folder / "test.csv", settings)
    start = prepare_start(splits, settings, None)
    network = fit_model(splits, start, None, FitHooks(), tfidf=False).model
    tokenizer, task = start.tokenizer, splits.task

    def ids(texts):
        compact = encode_compact(tokenizer, texts)
        return [compact[i] for i in range(len(compact))]

    train, val, test = ids(splits.train.texts), ids(splits.val.texts), ids(splits.test.texts)
    y_train, y_val = splits.targets("train"), splits.targets("val")
    keep = content_tokens_of(tokenizer, settings.tokenizer.kind == TokenizerKind.word)
    vocab = tokenizer.get_vocab_size()
    features, (texts, keys) = TfidfFeatures.learn(train, keep, vocab, len(task.labels))
    x_train, x_val = features.matrix(texts, keys, len(train)), features.transform(val)
    x_all, y_all, x_test = x_train, y_train, features.transform(test)
    if not dev.exists():  # train refits on training and validation texts, with C and the share kept
        val_texts, val_keys = features.occurrences(val)
        texts, keys = np.concatenate([texts, val_texts + len(train)]), np.concatenate([keys, val_keys])
        n = len(train) + len(val)
        features = TfidfFeatures.counted(texts, keys, n, len(task.labels), keep, vocab, features.buckets)
        x_all, x_test = features.matrix(texts, keys, n), features.transform(test)
        y_all = np.concatenate([y_train, y_val])
    tf_val, tf_test = [], []
    for c in C_GRID:
        tfidf = TfidfModel(task, c, seed)
        weight, bias = tfidf.fit(x_train, y_train)
        tf_val.append(tfidf.probabilities(x_val, weight, bias))
        weight, bias = tfidf.fit(x_all, y_all)
        tf_test.append(tfidf.probabilities(x_test, weight, bias))
    np.savez(path, y=y_val, yt=splits.targets("test"), net_val=task.probabilities(predict_logits(network, val)),
             p_refit=task.probabilities(predict_logits(network, test)), tf_val=np.stack(tf_val),
             tf_test=np.stack(tf_test), seconds=time.perf_counter() - started)


def whole_rules(d) -> dict[str, float]:
    """`rules` of a --whole run: C, the share and the scale chosen on validation by train's own rule."""
    from textrnn.tasks import Task
    from textrnn.training import tfidf

    y, yt, net_val, net_test = d["y"], d["yt"], d["net_val"], d["p_refit"]
    task = Task([str(i) for i in range(net_val.shape[1])])
    scores = [tfidf._score(task, y, p)[0] for p in d["tf_val"]]
    best_c = max(range(len(scores)), key=lambda i: scores[i])
    t_val, t_test = d["tf_val"][best_c], d["tf_test"][best_c]
    a_geo, _, _, _ = tfidf.choose_share(task, y, net_val, t_val, scales=(1.0,))
    a_scaled, s_scaled, _, _ = tfidf.choose_share(task, y, net_val, t_val)

    def accuracy(p):
        return float((p.argmax(1) == yt).mean())

    nan = float("nan")
    return {"tfidf": accuracy(t_test), "refit": accuracy(net_test), "foldavg": nan, "mean": nan,
            "geometric": accuracy(tfidf.mix(task, net_test, t_test, a_geo)), "1se": nan,
            "scaled": accuracy(tfidf.mix(task, net_test, t_test, a_scaled, s_scaled)), "a_mean": nan,
            "a_geometric": a_geo, "a_scaled": a_scaled, "s_scaled": s_scaled, "seconds": float(d["seconds"])}


def _log_losses(y, p):
    return -np.log(np.clip(p[np.arange(len(y)), y], 1e-7, 1))


def _geometric(p, q, a, s=1.0):
    z = s * (1 - a) * np.log(np.clip(p, 1e-7, 1)) + s * a * np.log(np.clip(q, 1e-7, 1))
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def rules(path: Path) -> dict[str, float]:
    """Test accuracy of each part and each mixing rule on one saved run (single-label)."""
    d = np.load(path)
    if "net_val" in d:
        return whole_rules(d)
    y, yt = d["y"], d["yt"]

    def accuracy(p):
        return float((p.argmax(1) == yt).mean())

    best_c = int(np.argmin([_log_losses(y, p).mean() for p in d["tf_oof"]]))
    t_oof, t_test, n_oof, n_test = d["tf_oof"][best_c], d["tf_test"][best_c], d["net_oof"], d["p_refit"]
    mean = np.array([_log_losses(y, (1 - a) * n_oof + a * t_oof) for a in ALPHAS])
    best = int(np.argmin(mean.mean(1)))
    se = (mean - mean[best]).std(1, ddof=1) / np.sqrt(len(y))
    one_se = max(i for i in range(len(ALPHAS)) if mean[i].mean() <= mean[best].mean() + se[i])
    geo = int(np.argmin([_log_losses(y, _geometric(n_oof, t_oof, a)).mean() for a in ALPHAS]))
    from textrnn.training.tfidf import SCALES

    _, a_scaled, s_scaled = min((_log_losses(y, _geometric(n_oof, t_oof, a, s)).mean(), a, s)
                                for a in ALPHAS for s in SCALES)
    return {"tfidf": accuracy(t_test), "refit": accuracy(n_test), "foldavg": accuracy(d["p_folds"].mean(0)),
            "mean": accuracy((1 - ALPHAS[best]) * n_test + ALPHAS[best] * t_test),
            "geometric": accuracy(_geometric(n_test, t_test, ALPHAS[geo])),
            "1se": accuracy((1 - ALPHAS[one_se]) * n_test + ALPHAS[one_se] * t_test),
            "scaled": accuracy(_geometric(n_test, t_test, a_scaled, s_scaled)),
            "a_mean": float(ALPHAS[best]), "a_geometric": float(ALPHAS[geo]), "a_scaled": float(a_scaled),
            "s_scaled": float(s_scaled), "seconds": float(d["seconds"]) if "seconds" in d else float("nan")}


def table(folder: Path) -> str:
    runs: dict[str, list[dict[str, float]]] = {}
    for path in sorted(folder.glob("*-*.npz")):
        runs.setdefault(path.stem.rsplit("-", 1)[0], []).append(rules(path))
    cols = ["tfidf", "refit", "foldavg", "mean", "geometric", "1se", "scaled", "a_mean", "a_geometric", "a_scaled",
            "s_scaled"]
    lines = [f"CPU: {cpu_name()}", "", "| set | seeds | " + " | ".join(cols) + " |", "|---" * (len(cols) + 2) + "|"]
    for name, found in runs.items():
        cells = [f"{np.mean([r[c] for r in found]):.2f}" if c[:2] in ("a_", "s_") else
                 f"{100 * np.mean([r[c] for r in found]):.2f}" for c in cols]
        lines.append(f"| {name} | {len(found)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="*", default=["agnews", "subj", "mr", "sst2", "trec", "sst5"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--sample", type=int, default=500)
    parser.add_argument("--out", type=Path, help="folder for the runs' probabilities (then the table)")
    parser.add_argument("--table", type=Path, help="print the table of the runs saved in this folder")
    parser.add_argument("--whole", action="store_true", help="whole training sets, one validation split")
    args = parser.parse_args()
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for name in args.datasets:
            for seed in range(args.seeds):
                path = args.out / f"{name}-{seed}.npz"
                if not path.exists():
                    run_whole(name, seed, path) if args.whole else run(name, seed, args.sample, path)
    print(table(args.table or args.out))


if __name__ == "__main__":
    main()
