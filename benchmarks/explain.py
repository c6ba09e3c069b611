"""Explanations: how faithful and how fast `predict --explain` (greedy deletion on the ONNX model) is, beside
LIME on the same ONNX model, a random ranking (the floor) and the linear part's exact terms alone.

    flock /tmp/textrnn-heavy.lock .venv/bin/python benchmarks/explain.py \
        --model sst2=/tmp/explain-sst2 --model trec=/tmp/explain-trec --markdown benchmarks/results-explain.md

Models: the default recipe trained once per set (`textrnn train ../shared/datasets/sst2/train.csv
--val .../dev.csv --test .../test.csv --out /tmp/explain-sst2`; trec: train.csv and --test). Needs
LIME (pip install -e ".[bench]").

Faithfulness as ERASER measures it (DeYoung et al. 2020), on --texts test texts of each set (a
seeded sample): for each text, the model's predicted label c and its probability p; the tokens
ranked by each method's weight for c; the top k% of the tokens (at least one, round(k * n)) removed
(comprehensiveness: p - p without them; higher is better) or kept alone (sufficiency: p - p of them
alone, in their order; lower is better); at k = 10% and 20%, and AOPC, the mean over k in {1, 5, 10,
20, 50}%. LIME (lime 0.2.0.1, LimeTextExplainer defaults: bag of words, words split on \\W+; its
default 5,000 samples and 500) scores words: each token gets its word's weight (punctuation: 0).

Speed: seconds per explained text (median and mean) for each method, one process, and token steps (rows x
tokens the model ran for it, padding included: the work, whatever the machine). Each method gets the two
cores: LIME's samples run through `predict_proba` (batches of 16, two at a time on the two workers);
textrnn's one text runs on the explainer's session with the workers as intra-op threads (built, as it
runs, in the background after its first text). textrnn twice: as it runs
(its cache of each token alone filling over the texts in order, empty at the first) and with an empty
cache for every text (the same explanation, checked). One explanation of a text of 28 to 32 tokens
(median of the test texts of that length, the model warm), with an empty cache and after the texts; and
`textrnn predict --file --explain --json` on 10,000 texts (the set's training texts, repeated), wall time.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from distributed_train import DATASETS, ROOT, Others, cpu_name

sys.path.insert(0, str(ROOT))
BINS = (0.01, 0.05, 0.10, 0.20, 0.50)
BEFORE = "every deletion + alone (before)"
COLD = "textrnn, cold cache"


def read_texts(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as f:
        return [row["text"] for row in csv.DictReader(f)]


def top_count(k: float, n: int) -> int:
    return max(1, int(round(k * n)))


def faithfulness(predictor, ids: np.ndarray, c: int, p: float, scores: np.ndarray) -> np.ndarray:
    """(comprehensiveness, sufficiency) per bin, (2, len(BINS)), for one ranking of one text's tokens."""
    from textrnn.tokenizer import UNK_ID, pad

    order = np.argsort(-scores, kind="stable")
    variants = []
    for k in BINS:
        top = np.sort(order[: top_count(k, len(ids))])
        rest = np.delete(ids, top)
        variants += [rest if len(rest) else np.array([UNK_ID]), ids[top]]
    probs = predictor.probabilities(pad(variants))[:, c]
    return np.stack([p - probs[0::2], p - probs[1::2]])


def every_deletion(predictor, ids: np.ndarray, c: int) -> np.ndarray:
    """The weights of the earlier method (kept to compare within one run): the mean of every token's
    removal from the text and of it alone, from the same two batches (Explainer.run, split across
    the workers as explaining one text is)."""
    from textrnn.inference.explain import log_odds, occlusion_batch
    from textrnn.tokenizer import UNK_ID

    probs = predictor.explainer._probabilities(occlusion_batch(ids), split=True)
    alone = predictor.probabilities(np.append(ids, UNK_ID)[:, None])  # run every time, as it was (no cache)
    return (log_odds(probs[0, c]) - log_odds(probs[1:, c]) + log_odds(alone[:-1, c]) - log_odds(alone[-1, c])) / 2


def lime_scores(explainer, predictor, text: str, item, c: int, samples: int) -> np.ndarray:
    """Each token's LIME weight for label c (its word's; 0 for what LIME does not see as a word)."""
    exp = explainer.explain_instance(text, predictor.predict_proba, labels=(c,), num_features=10_000,
                                     num_samples=samples)
    words = dict(exp.as_list(label=c))
    return np.array([words.get(t.token, 0.0) for t in item.explanations[0].tokens])


def run_set(name: str, model: str, args: argparse.Namespace) -> dict:
    from lime.lime_text import LimeTextExplainer

    from textrnn.inference.alone import AloneCache
    from textrnn.inference.predictor import Predictor

    predictor = Predictor(model, device="cpu")
    rng = np.random.default_rng(args.seed)
    test = read_texts(DATASETS / name / "test.csv")
    texts = [test[i] for i in rng.choice(len(test), min(args.texts, len(test)), replace=False)]
    explainer = LimeTextExplainer(class_names=predictor.labels, random_state=args.seed)
    methods = ["textrnn", COLD, BEFORE, "linear part alone", *[f"LIME-{s}" for s in args.lime_samples], "random"]
    results = {m: [] for m in methods}
    seconds = {m: [] for m in methods}
    steps, counted, lock = {m: [] for m in methods}, [0], threading.Lock()
    run = predictor._run

    def counting(batch):  # the one function every model run goes through: rows x tokens, padding included
        with lock:
            counted[0] += batch.size
        return run(batch)

    predictor._run = counting
    explainer_ = predictor.explainer
    build = explainer_.build_threaded

    class Counting:  # the explainer's session for one text's batches (its workers' threads), counted too
        def __init__(self, session):
            self.session = session

        def run(self, names, feed):
            with lock:
                counted[0] += sum(v.size for v in feed.values())
            return self.session.run(names, feed)

    def counting_build():  # built on the explainer's background thread after its first text, as it runs
        build()
        if not isinstance(explainer_.threaded, Counting):
            explainer_.threaded = Counting(explainer_.threaded)

    explainer_.build_threaded = counting_build
    stream = explainer_.alone  # the cache as it fills over the texts, in order (the first text: empty)

    def cold_explain(text: str):  # one explanation with an empty cache (every token alone runs)
        explainer_.alone = AloneCache(predictor.probabilities, predictor.tokenizer.get_vocab_size(),
                                      len(predictor.labels))
        try:
            return predictor.explain([text])[0]
        finally:
            explainer_.alone = stream

    for i, text in enumerate(texts):
        counted[0], t0 = 0, time.perf_counter()
        cold = cold_explain(text)
        seconds[COLD].append(time.perf_counter() - t0)
        steps[COLD].append(counted[0])
        counted[0], t0 = 0, time.perf_counter()
        item = predictor.explain([text])[0]
        seconds["textrnn"].append(time.perf_counter() - t0)
        steps["textrnn"].append(counted[0])
        if cold != item:
            raise SystemExit(f"an explanation with an empty cache differs from the stream's: {text!r}")
        e = item.explanations[0]
        if not e.tokens:  # nothing to explain (only unknown tokens)
            continue
        ids = np.asarray(predictor.tokenizer.encode(text, add_special_tokens=False).ids, dtype=np.int64)
        c, p = predictor.labels.index(e.label), e.probability
        ranked = {"textrnn": np.array([t.weight for t in e.tokens]),
                  "random": rng.permutation(len(ids)).astype(float)}
        if e.tokens[0].linear is not None:
            ranked["linear part alone"] = np.array([t.linear for t in e.tokens])
        counted[0], t0 = 0, time.perf_counter()
        ranked[BEFORE] = every_deletion(predictor, ids, c)
        seconds[BEFORE].append(time.perf_counter() - t0)
        steps[BEFORE].append(counted[0])
        for s in args.lime_samples:
            counted[0], t0 = 0, time.perf_counter()
            ranked[f"LIME-{s}"] = lime_scores(explainer, predictor, text, item, c, s)
            seconds[f"LIME-{s}"].append(time.perf_counter() - t0)
            steps[f"LIME-{s}"].append(counted[0])
        for m, scores in ranked.items():
            results[m].append(faithfulness(predictor, ids, c, p, scores))
        if (i + 1) % 20 == 0:
            print(f"{name}: {i + 1}/{len(texts)} texts", file=sys.stderr)
    lengths = [len(predictor.tokenizer.encode(t, add_special_tokens=False).ids) for t in test]
    thirty = [t for t, n in zip(test, lengths, strict=True) if 28 <= n <= 32][:50]
    one, one_cold = [], []
    for t in thirty:
        t0 = time.perf_counter()
        cold_explain(t)
        one_cold.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        predictor.explain([t])
        one.append(time.perf_counter() - t0)
    return {"name": name, "methods": methods, "texts": len(results["textrnn"]), "tokens": float(np.mean(lengths)),
            "alpha": predictor.explainer.linear.share if predictor.explainer.linear else 0.0,
            "scores": {m: np.mean(r, axis=0) for m, r in results.items() if r},
            "seconds": {m: float(np.median(s)) for m, s in seconds.items() if s},
            "mean": {m: float(np.mean(s)) for m, s in seconds.items() if s},
            "first": seconds["textrnn"][0] if seconds["textrnn"] else None,
            "steps": {m: f"{np.median(s):,.0f}" for m, s in steps.items() if s},
            "thirty": (float(np.median(one)) if one else None, len(one)),
            "thirty_cold": float(np.median(one_cold)) if one_cold else None,
            "file": file_speed(name, model, args.file_texts)}


def file_speed(name: str, model: str, n: int) -> tuple[float, int]:
    """Wall seconds of `textrnn predict --file --explain --json` on n training texts (repeated)."""
    texts = read_texts(DATASETS / name / "train.csv")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "texts.txt"
        path.write_text("\n".join(texts[i % len(texts)].replace("\n", " ") for i in range(n)) + "\n",
                        encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "textrnn", "predict", "--model", model, "--file", str(path),
                              "--explain", "--json"], capture_output=True, text=True, env=env, check=False)
        wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"predict --explain failed:\n{out.stderr[-2000:]}")
    return wall, len(out.stdout.splitlines())


def table(results: list[dict], lime_samples: list[int]) -> list[str]:
    lines = ["| set | method | compr. 10% | compr. 20% | compr. AOPC | suff. 10% | suff. 20% | suff. AOPC "
             "| s / text (median) | s / text (mean) | textrnn faster by (median / mean) | token steps / text |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        occ, occ_mean = r["seconds"]["textrnn"], r["mean"]["textrnn"]
        steps = r["steps"]
        for m in r["methods"]:
            s = r["scores"].get(m)
            if s is None and m not in r["seconds"]:
                continue
            sec, mean = r["seconds"].get(m), r["mean"].get(m)
            cells = ([f"{s[0, 2]:.3f}", f"{s[0, 3]:.3f}", f"{s[0].mean():.3f}", f"{s[1, 2]:.3f}", f"{s[1, 3]:.3f}",
                      f"{s[1].mean():.3f}"] if s is not None else ["(the same explanations)", *[""] * 5])
            speed = [f"{sec:.4f}", f"{mean:.4f}"] if sec is not None else ["", ""]
            ratio = f"{sec / occ:.1f}x / {mean / occ_mean:.1f}x" if sec is not None and m != "textrnn" else ""
            lines.append(f"| {r['name']} | {m} | {' | '.join(cells)} | {' | '.join(speed)} | {ratio} "
                         f"| {steps.get(m, '')} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True, metavar="SET=FOLDER",
                        help="a data set's name in ../shared/datasets and its model folder (repeat)")
    parser.add_argument("--texts", type=int, default=200)
    parser.add_argument("--lime-samples", type=int, nargs="*", default=[5000, 500])
    parser.add_argument("--file-texts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    if not DATASETS.is_dir():
        print(f"skipped: no data sets at {DATASETS}", file=sys.stderr)
        return
    started, others = time.perf_counter(), Others()
    results = [run_set(*spec.split("=", 1), args) for spec in args.model]
    lines = [f"# Explanations: faithfulness and speed ({cpu_name()})", "",
             f"`python benchmarks/explain.py {' '.join(sys.argv[1:])}`: {args.texts} test texts per set (seed "
             f"{args.seed}), the default recipe's model of each set, ONNX Runtime on the CPU, one process.", "",
             *table(results, args.lime_samples), "",
             "Comprehensiveness: probability of the predicted label lost when the top-ranked k% of the tokens "
             "are removed (higher: the ranking found what the model relies on). Sufficiency: probability lost "
             "when only those are kept (lower is better). AOPC: mean over k = 1, 5, 10, 20, 50%. "
             "s / text: seconds to explain one text, median and mean over the texts. `textrnn`: the explainer as "
             "it runs, its cache of each token alone (textrnn/inference/alone.py) filling over the texts in order "
             "(empty at the first); `textrnn, cold cache`: each text explained with an empty cache (checked to give "
             "the same explanation).", ""]
    for r in results:
        thirty, count = r["thirty"]
        wall, n = r["file"]
        lines.append(f"- {r['name']}: {r['texts']} texts explained, {r['tokens']:.1f} tokens a test text on average, "
                     f"linear share {r['alpha']:.2f}; the first text (empty cache) {r['first'] * 1000:.1f} ms; "
                     "one explanation of a 28-32-token text: "
                     + (f"{r['thirty_cold'] * 1000:.1f} ms with an empty cache, {thirty * 1000:.1f} ms after the "
                        f"{r['texts']} texts (medians of {count})" if thirty is not None else "no such text")
                     + f"; `predict --file --explain --json` on {n:,} texts: {wall:.1f} s ({n / wall:,.0f} texts/s).")
    lines += ["", f"Total run time: {time.perf_counter() - started:.0f} s; {others.summary()}."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
