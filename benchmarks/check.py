"""`textrnn check` benchmark: does it find injected label noise, how fast, and does cleaning pay?

1. Detection. Seeded label noise in the training files of sst2, trec, agnews, mr (single-label) and
   cooking (multi-label), from ../shared/datasets or $TEXTRNN_DATASETS (sets larger than --max-rows
   training rows are subsampled to that many, seeded; at the time of writing none is: agnews there is
   a 6,080-row sample):
   - uniform: 10% of the rows get another class, drawn uniformly;
   - confusable: 10% of the rows get the class that a clean out-of-fold model confuses their class
     with most (soft confusion of 5-fold TF-IDF + logistic regression on the clean labels);
   - multi-label (cooking): 10% of the rows lose one label or gain one (uniform: a random tag;
     confusable: the tag the clean out-of-fold model scores highest among those the row lacks).
   The rows `textrnn check` flags as label issues (`check_files`, as the command runs) are scored
   against the rows changed: precision, recall, F1. Beside it, in the same run, cleanlab's
   `find_label_issues` on 5-fold TF-IDF (scikit-learn defaults) + logistic regression out-of-fold
   probabilities (multi-label: one-vs-rest, labels on fewer than 5 rows get their prior, as check
   leaves them unchecked; `cleanlab.multilabel_classification.filter.find_label_issues`). The column
   "same" says whether check's confident-learning filter flags exactly cleanlab's rows when both get
   cleanlab's probabilities (the numpy code is written from the paper, not copied).
2. Speed: `check_files` on 20,000 texts (the first 20,000 of mr + subj + sst2 training texts, each
   label prefixed by its set: 6 classes), whole and without the label check; the near-duplicate
   search's peak memory (tracemalloc) on 5k, 10k and 20k texts (flat: no all-pairs matrix); and, if
   installed, datasketch's MinHash + MinHashLSH (128 permutations, threshold 0.8) on the same shingles.
   With --deep SETS, also `check --deep` on those sets (the networks' out-of-fold probabilities are
   computed once per set, noise, seed and train version, about a training, and cached in CACHE).
3. Payoff (--payoff trec,mr,...): test accuracy of the default `textrnn train` on the clean, the
   uniformly noisy, and the noisy-then-cleaned (`check --write-clean`) training data. Slow (three
   trainings per set): run it under the shared CPU lock, one set at a time. --rule says whose flags
   clean.csv leaves out (RULES: check's, check --deep's, both's, the peer's; or, without a check, the
   flipped rows or a random half of them: the ceilings), --clean-threshold from which score; the rows
   left out are scored against the rows flipped (precision, recall, F1). Each training's
   score is stored (results-check.json) under the set, the seed and the train version (the last commit
   that changed train's recipe, RECIPE), so --steps can run one training per invocation, clean and noisy
   serve every rule, and no score of an older train is reused.

cleanlab is AGPL-3.0: it is this benchmark's peer only, never a textrnn dependency. Install it (and
optionally datasketch) into the environment that runs the benchmark:

    pip install cleanlab datasketch
    python benchmarks/check.py                      # detection + speed; writes benchmarks/results-check.md
    python benchmarks/check.py --payoff trec        # adds the payoff of one set (results kept in results-check.json)
    python benchmarks/check.py --skip-detection --skip-speed --payoff trec --steps clean   # one training of it
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
from machine import cpu_name
from rich.console import Console

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("TEXTRNN_DATASETS", ROOT.parent / "shared" / "datasets"))
console = Console(stderr=True)
SINGLE = ("sst2", "trec", "agnews", "mr")
CACHE = Path(tempfile.gettempdir()) / "textrnn-check-bench"  # --deep probabilities, by set, noise, seed and rows
NOISE = 0.1


# what decides a training's score: the last commit that changed one of these (the deep cache and the
# payoff's trainings are keyed by it, so that scores of an older train are never reused)
RECIPE = ("textrnn/training", "textrnn/model", "textrnn/data", "textrnn/tasks", "textrnn/config.py",
          "textrnn/tokenizer.py", "textrnn/text.py")


def cpu() -> str:
    return cpu_name()


def train_version() -> str:
    """The short hash of the last commit that changed train's recipe (RECIPE); '+' if those files have
    uncommitted changes; 'unknown' outside git."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()

    try:
        commit = git("log", "-1", "--format=%h", "--", *RECIPE)
        return commit + ("+" if git("status", "--porcelain", "--", *RECIPE) else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def load(name: str, max_rows: int, seed: int = 0):  # a Dataset
    from textrnn.data.stream import read_any

    path = SHARED / name / ("train.txt" if name == "cooking" else "train.csv")
    data = read_any(path)
    if len(data) > max_rows:
        data = data.subset(sorted(np.random.default_rng(seed).choice(len(data), max_rows, replace=False).tolist()))
    return data


def recipe_probs(texts: list[str], y: np.ndarray, multi: bool, seed: int = 0) -> np.ndarray:
    """cleanlab's text recipe: 5-fold TF-IDF (defaults) + logistic regression out-of-fold probabilities."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict

    x = TfidfVectorizer().fit_transform(texts)
    if not multi:
        return cross_val_predict(LogisticRegression(max_iter=1000), x, y, method="predict_proba",
                                 cv=StratifiedKFold(5, shuffle=True, random_state=seed))
    probs = np.tile(y.mean(axis=0), (len(y), 1)).astype(float)
    fit = np.flatnonzero(y.sum(axis=0) >= 5)
    for train, held in KFold(5, shuffle=True, random_state=seed).split(x):
        for k in fit:
            t = y[train, k]
            if t.min() != t.max():
                model = LogisticRegression(solver="liblinear", dual=True).fit(x[train], t)
                probs[held, k] = model.predict_proba(x[held])[:, 1]
    return probs


def inject(y: np.ndarray, kind: str, clean_probs: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noisy labels and the changed rows: 10% of rows, uniform or confusable (see the docstring)."""
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(y), int(round(NOISE * len(y))), replace=False))
    noisy = y.copy()
    if y.ndim == 1:
        k = clean_probs.shape[1]
        if kind == "uniform":
            noisy[rows] = (y[rows] + rng.integers(1, k, len(rows))) % k
        else:
            confusion = np.array([clean_probs[y == i].sum(axis=0) for i in range(k)])
            np.fill_diagonal(confusion, -1)
            noisy[rows] = confusion.argmax(axis=1)[y[rows]]
        return noisy, rows
    for r in rows:
        present = np.flatnonzero(y[r])
        if len(present) and rng.random() < 0.5:
            noisy[r, rng.choice(present)] = 0
        else:
            absent = np.flatnonzero(y[r] == 0)
            pick = rng.choice(absent) if kind == "uniform" else absent[np.argmax(clean_probs[r, absent])]
            noisy[r, pick] = 1
    return noisy, rows


def prf(flagged: np.ndarray, truth: np.ndarray) -> dict:
    tp = len(np.intersect1d(flagged, truth))
    p, r = tp / max(len(flagged), 1), tp / max(len(truth), 1)
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "flagged": len(flagged)}


def write_data(path: Path, texts: list[str], labels: list) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows([t, "|".join(x) if isinstance(x, tuple) else x] for t, x in zip(texts, labels, strict=True))
    return path


def run_check(path: Path, multi: bool, out: Path | None = None, threshold: float = 0.0,
              networks=None) -> tuple[np.ndarray, float]:
    """The rows `check` flags (0-based) and its seconds; with `out`, writes problems.csv and clean.csv
    there (`--write-clean`); with `networks` (see `cached_networks`), as `check --deep`."""
    from textrnn.checks import CheckOptions, check_files, write_outputs

    t0 = time.perf_counter()
    options = CheckOptions(label_sep="|" if multi else None, clean_threshold=threshold, deep=networks is not None)
    findings = check_files(path, options=options, networks=networks)
    secs = time.perf_counter() - t0
    if out is not None:
        write_outputs(findings, out, write_clean=True)
    rows = np.array(sorted({p.row - 1 for p in findings.section("Label issues").problems}), dtype=int)
    return rows, secs


def cached_networks(name: str, data, labels: list, kind: str, seed: int):
    """What check_files' `networks` computes (textrnn.training.oof.deep_probabilities), from the cache."""
    from textrnn.training.oof import DeepProbabilities

    mixed, networks, _ = deep_probs(name, data, labels, kind, seed)
    classes = tuple(sorted(data.label_counts()))
    return lambda *args: DeepProbabilities(classes, mixed, networks, ())


def deep_probs(name: str, data, labels: list, kind: str, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """`check --deep`'s out-of-fold probabilities of the noisy data (textrnn.checks.deep, as the command
    computes them; columns in sorted label order), and those of the fold networks alone, and the
    seconds they took: computed once per set, noise, seed and train version, then read from CACHE (they cost about a
    training; detection and payoff share them)."""
    from textrnn.checks import labels as lab
    from textrnn.data import Dataset
    from textrnn.training.oof import deep_probabilities

    path = CACHE / f"{name}-{kind}-s{seed}-{len(data)}-{train_version()}.npz"
    if path.exists():
        saved = np.load(path)
        return saved["mixed"], saved["networks"], float(saved["seconds"])
    noisy = Dataset(list(data.texts), labels, source=f"{name}-{kind}", multi_label=data.multi_label)
    classes = sorted(data.label_counts())
    t0 = time.perf_counter()
    found = deep_probabilities(noisy, lab.FOLDS, seed)
    seconds = time.perf_counter() - t0
    cols = [found.labels.index(c) for c in classes]
    mixed, networks = found.mixed[:, cols], found.networks[:, cols]
    if data.multi_label:  # labels on too few rows are left unchecked, as check leaves them
        rare = lab.label_matrix(labels, classes).sum(axis=0) < lab.MIN_POSITIVES
        mixed[:, rare] = networks[:, rare] = np.nan
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, mixed=mixed, networks=networks, seconds=seconds)
    console.print(f"{name} {kind}: --deep probabilities in {seconds:.0f} s")
    return mixed, networks, seconds


def flagged_rows(probs: np.ndarray, noisy: np.ndarray, classes: list[str]) -> np.ndarray:
    from textrnn.checks import labels as lab

    find = lab.label_issues_multi if noisy.ndim == 2 else lab.label_issues
    issues = find(probs, noisy, classes)
    return np.array(sorted(x.row for x in issues), dtype=int)


def peer_mask(y: np.ndarray, probs: np.ndarray, filter_by: str | None = None) -> np.ndarray:
    """cleanlab's find_label_issues on labels `y` (class ids, or a 0/1 matrix: multi-label) and `probs`:
    the rows it flags (its default filter, or `filter_by`)."""
    kwargs = {"filter_by": filter_by} if filter_by else {}
    if y.ndim == 2:
        from cleanlab.multilabel_classification.filter import find_label_issues as find_multi

        return find_multi([np.flatnonzero(row).tolist() for row in y], probs, **kwargs)
    from cleanlab.filter import find_label_issues

    return find_label_issues(y, probs, **kwargs)


def detection(name: str, max_rows: int, seed: int, deep: tuple[str, ...] = ()) -> list[dict]:
    from textrnn.checks import labels as lab

    data = load(name, max_rows, seed)
    multi = data.multi_label
    classes = sorted(data.label_counts())
    y = lab.label_matrix(data.labels, classes) if multi else np.array([classes.index(x) for x in data.labels])
    clean = recipe_probs(data.texts, y, multi, seed)
    results = []
    for kind in ("uniform", "confusable"):
        noisy, changed = inject(y, kind, clean, seed)
        labels = [tuple(classes[j] for j in np.flatnonzero(row)) for row in noisy] if multi else \
            [classes[i] for i in noisy]
        with tempfile.TemporaryDirectory() as tmp:
            path = write_data(Path(tmp) / "noisy.csv", data.texts, labels)
            flagged, secs = run_check(path, multi)
            if kind in deep:  # check --deep, its networks' probabilities computed once (cached)
                deep_flagged, deep_check_secs = run_check(path, multi, networks=cached_networks(
                    name, data, labels, kind, seed))
        t0 = time.perf_counter()
        probs = recipe_probs(data.texts, noisy, multi, seed)
        mask = peer_mask(noisy, probs)
        if multi:
            same = None
            # cleanlab's off-diagonal filter, the rule check uses per label (reported beside, not the peer)
            off_diagonal = prf(np.flatnonzero(peer_mask(noisy, probs, "confident_learning")), changed)
        else:
            same = bool(np.array_equal(mask, lab.find_issues(probs, noisy)))
        peer_secs = time.perf_counter() - t0
        row = {"set": name, "rows": len(data), "noise": kind, "check": prf(flagged, changed), "check_seconds": secs,
               "cleanlab": prf(np.flatnonzero(mask), changed), "cleanlab_seconds": peer_secs, "same": same}
        if multi:
            row["cleanlab_off_diagonal"] = off_diagonal
        if kind in deep:
            mixed, networks, deep_secs = deep_probs(name, data, labels, kind, seed)
            row.update({"deep": prf(deep_flagged, changed), "deep_seconds": deep_secs + deep_check_secs,
                        "deep_mixed": prf(flagged_rows(mixed, noisy, classes), changed),
                        "deep_networks": prf(flagged_rows(networks, noisy, classes), changed)})
        console.print(f"{name} {kind}: check F1 {row['check']['f1']:.3f} ({secs:.1f} s), cleanlab F1 "
                      f"{row['cleanlab']['f1']:.3f} ({peer_secs:.1f} s), same filter: {same}"
                      + (f", --deep F1 {row['deep']['f1']:.3f}" if "deep" in row else ""))
        results.append(row)
    return results


def speed(n: int = 20000) -> dict:
    from textrnn.checks import CheckOptions, check_files
    from textrnn.checks import duplicates as dup
    from textrnn.data.stream import read_any

    texts, labels = [], []
    for name in ("mr", "subj", "sst2"):
        data = read_any(SHARED / name / "train.csv")
        texts += list(data.texts)
        labels += [f"{name}:{x}" for x in data.labels]
    texts, labels = texts[:n], labels[:n]
    result: dict = {"texts": len(texts)}
    with tempfile.TemporaryDirectory() as tmp:
        path = write_data(Path(tmp) / "big.csv", texts, labels)
        for key, options in (("whole", CheckOptions()), ("without_labels", CheckOptions(skip_labels=True))):
            t0 = time.perf_counter()
            check_files(path, options=options)
            result[key] = time.perf_counter() - t0
            console.print(f"check on {len(texts):,} texts ({key}): {result[key]:.1f} s")
    keys = [dup.normalise(t) for t in texts]
    result["memory"] = {}
    for m in (5000, 10000, 20000):
        tracemalloc.start()
        t0 = time.perf_counter()
        pairs = dup.near_pairs(keys[:m])
        secs = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        result["memory"][str(m)] = {"peak_mb": peak / 2**20, "seconds": secs, "pairs": len(pairs)}
        console.print(f"near duplicates of {m:,}: {secs:.2f} s, peak {peak / 2**20:.1f} MB, {len(pairs)} pairs")
    try:
        from datasketch import MinHash, MinHashLSH
    except ImportError:
        return result
    t0 = time.perf_counter()
    lsh, sigs = MinHashLSH(threshold=0.8, num_perm=128), {}
    distinct = list(dict.fromkeys(k for k in keys if k))
    for i, key in enumerate(distinct):
        mh = MinHash(num_perm=128)
        words = key.split()
        grams = [" ".join(words[j:j + dup.SHINGLE]) for j in range(max(1, len(words) - dup.SHINGLE + 1))]
        mh.update_batch([g.encode() for g in grams])
        lsh.insert(i, mh)
        sigs[i] = mh
    found = sum(len(lsh.query(mh)) - 1 for mh in sigs.values()) // 2
    result["datasketch"] = {"seconds": time.perf_counter() - t0, "candidate_pairs": found}
    console.print(f"datasketch MinHash + LSH on {len(distinct):,} texts: {result['datasketch']['seconds']:.1f} s")
    return result


RULES = {
    "linear": "every row the linear model flags (check --write-clean)",
    "deep": "every row the networks flag (check --deep --write-clean)",
    "agree": "rows both flag (check's and check --deep's flags intersected)",
    "flipped": "exactly the rows flipped, no check (the ceiling of any cleaning that leaves rows out)",
    "half-flipped": "a random half of the rows flipped (seeded), no check: what a flawless check that finds half "
                    "the flips buys",
    "cleanlab": "the rows the peer flags (cleanlab's find_label_issues on its text recipe's probabilities)",
}


def clean_file(rule: str, threshold: float, name: str, seed: int, data, labels: list, changed: np.ndarray,
               noisy: Path, out: Path) -> list[int]:
    """Writes `out`, the noisy file as `check --write-clean` cleans it by `rule` (RULES) from `threshold`;
    returns the rows kept (0-based)."""
    from dataclasses import replace

    from textrnn.checks import CheckOptions, check_files, write_outputs

    if rule in ("flipped", "half-flipped", "cleanlab"):
        if rule == "flipped":
            drop = changed
        elif rule == "half-flipped":
            drop = np.random.default_rng(seed + 1).choice(changed, len(changed) // 2, replace=False)
        else:
            drop = peer_flags(data, labels, seed)
        kept = np.setdiff1d(np.arange(len(data)), drop).tolist()
        out.parent.mkdir(parents=True, exist_ok=True)
        write_data(out, [data.texts[i] for i in kept], [labels[i] for i in kept])
        return kept
    options = CheckOptions(label_sep="|" if data.multi_label else None, clean_threshold=threshold)
    if rule == "linear":
        findings = check_files(noisy, options=options)
    else:
        networks = cached_networks(name, data, labels, "uniform", seed)
        findings = check_files(noisy, options=replace(options, deep=True), networks=networks)
    if rule == "agree":  # of the networks' flags, those the linear model flags too
        linear = check_files(noisy, options=options)
        findings.clean_rows = sorted(set(findings.clean_rows) | set(linear.clean_rows))
    write_outputs(findings, out.parent, write_clean=True)
    return findings.clean_rows


def peer_flags(data, labels: list, seed: int) -> np.ndarray:
    """The rows (0-based) cleanlab flags on the noisy labels, as in the detection above."""
    from textrnn.checks import labels as lab

    classes = sorted(data.label_counts())
    y = lab.label_matrix(labels, classes) if data.multi_label else np.array([classes.index(x) for x in labels])
    return np.flatnonzero(peer_mask(y, recipe_probs(data.texts, y, data.multi_label, seed)))


STEPS = ("clean", "noisy", "cleaned")  # the payoff's three trainings


def payoff_key(name: str, seed: int, version: str, what: str) -> str:
    """Where a payoff result is stored: set, noise seed, train version, and what (a training's data,
    or RULE@THRESHOLD for a cleaning)."""
    return f"{name}/s{seed}/{version}/{what}"


def payoff(name: str, max_rows: int, seed: int, store: dict, threshold: float = 0.0, rule: str = "linear",
           steps: tuple[str, ...] = STEPS, dry: bool = False, save=lambda: None) -> dict:
    """Test score of the default train on clean, noisy (uniform) and noisy-then-cleaned training data
    (`--write-clean` leaving out the label issues of `rule` (RULES) scoring at least `threshold`), and the
    precision, recall and F1 of the rows left out against the rows flipped (`dry`: only those, no
    training). Each training's score is kept in `store["trainings"]` under its set, seed, train version
    and data (`save()` is called after each), and only the trainings of `steps` that are not there yet
    are run: one invocation can do one training (see --steps), and clean and noisy serve every rule."""
    from dataclasses import replace

    from textrnn.checks import labels as lab
    from textrnn.config import Settings, TrainConfig
    from textrnn.training.job import train_model

    version = train_version()
    data = load(name, max_rows, seed)
    multi = data.multi_label
    classes = sorted(data.label_counts())
    y = lab.label_matrix(data.labels, classes) if multi else np.array([classes.index(x) for x in data.labels])
    noisy, changed = inject(y, "uniform", np.zeros((len(y), len(classes))), seed)
    labels = [tuple(classes[j] for j in np.flatnonzero(row)) for row in noisy] if multi else [classes[i] for i in noisy]
    test = SHARED / name / ("test.txt" if name == "cooking" else "test.csv")
    cleaning = f"{rule}@{threshold:g}"
    result = {"set": name, "rows": len(data), "seed": seed, "threshold": threshold, "rule": rule, "train": version}
    trainings = store.setdefault("trainings", {})
    settings = Settings(train=TrainConfig(seed=seed))
    if multi:
        settings = replace(settings, data=replace(settings.data, label_sep="|"))
    with tempfile.TemporaryDirectory() as tmp:
        files = {"clean": write_data(Path(tmp) / "clean-in.csv", data.texts, data.labels),
                 "noisy": write_data(Path(tmp) / "noisy.csv", data.texts, labels)}
        if "deep" in steps:  # only the networks' out-of-fold probabilities (about five trainings), cached
            deep_probs(name, data, labels, "uniform", seed)
        if "cleaned" in steps or dry:
            files["cleaned"] = Path(tmp) / "checked" / "clean.csv"
            clean_rows = clean_file(rule, threshold, name, seed, data, labels, changed, files["noisy"],
                                    files["cleaned"])
            result["cleaned_rows"] = len(clean_rows)
            left_out = np.setdiff1d(np.arange(len(data)), clean_rows)
            result["left_out"] = prf(left_out, changed)
            console.print(f"{name} {rule}: {len(left_out)} rows left out, P {result['left_out']['precision']:.3f} "
                          f"R {result['left_out']['recall']:.3f} F1 {result['left_out']['f1']:.3f}")
            store.setdefault("payoff", {})[payoff_key(name, seed, version, cleaning)] = result
        if dry:
            return result
        for key in (k for k in STEPS if k in steps):
            what = f"cleaned:{cleaning}" if key == "cleaned" else key
            if payoff_key(name, seed, version, what) in trainings:
                continue
            t0 = time.perf_counter()
            s = train_model(files[key], test_path=test, out=Path(tmp) / f"m-{key}", settings=settings,
                            make_default=False)
            score = s.test.micro_f1 if multi else s.test.accuracy
            trainings[payoff_key(name, seed, version, what)] = {"score": score, "seconds": time.perf_counter() - t0}
            save()
            console.print(f"{name} {what}: test {score:.4f} ({time.perf_counter() - t0:.0f} s train)")
    return result


def payoff_rows(store: dict) -> list[dict]:
    """Every stored cleaning with the scores of its three trainings (None where not run yet) and the
    share of the accuracy lost to noise that cleaning recovered (None unless the noise cost some)."""
    trainings = store.get("trainings", {})
    rows = []
    for r in store.get("payoff", {}).values():
        if "train" not in r:  # kept from before the trainings were stored one by one
            rows.append({**r, "train": "older"})
            continue
        score = {what: trainings.get(payoff_key(r["set"], r["seed"], r["train"], what), {}).get("score")
                 for what in ("clean", "noisy", f"cleaned:{r['rule']}@{r['threshold']:g}")}
        clean, noisy, cleaned = score.values()
        lost = None if clean is None or noisy is None else clean - noisy
        rows.append({**r, "clean": clean, "noisy": noisy, "cleaned": cleaned,
                     "recovered": (cleaned - noisy) / lost if cleaned is not None and lost and lost > 0 else None})
    return rows


def markdown(res: dict) -> str:
    lines = ["# `textrnn check` benchmark", "",
             f"Machine: {res.get('cpu', '?')}, {res.get('cores', '?')} cores. Command: "
             "`python benchmarks/check.py` (detection, speed) and, for the payoff, one training per run under the "
             "shared CPU lock: `python benchmarks/check.py --skip-detection --skip-speed --payoff SET --seed S "
             "--steps STEP [--rule RULE --clean-threshold T]` with STEP clean, noisy, deep (the networks' "
             "probabilities), cleaned. Noise: 10% of training rows, seeded (detection: seed 0). See the script's "
             "docstring for how noise is injected and what the peer gets.", "",
             "## Label-noise detection: rows flagged vs rows changed", "",
             "| set | rows | noise | check P | check R | check F1 | cleanlab P | cleanlab R | cleanlab F1 | "
             "check s | same filter |", "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    order = [*SINGLE, "cooking"]
    detected = sorted(res.get("detection", []), key=lambda r: order.index(r["set"]) if r["set"] in order else 9)
    for r in detected:
        c, p = r["check"], r["cleanlab"]
        same = "-" if r["same"] is None else ("yes" if r["same"] else "no")
        ours, peer = (f"{x['f1']:.3f}" for x in (c, p))
        ours, peer = (f"**{ours}**", peer) if ours >= peer else (ours, f"**{peer}**")  # the better F1 in bold
        lines.append(f"| {r['set']} | {r['rows']:,} | {r['noise']} | {c['precision']:.3f} | {c['recall']:.3f} | "
                     f"{ours} | {p['precision']:.3f} | {p['recall']:.3f} | {peer} | "
                     f"{r['check_seconds']:.1f} | {same} |")
    off = [r for r in detected if "cleanlab_off_diagonal" in r]
    if off:
        lines += ["", "Multi-label: check flags, per label, the off-diagonal rows of the confident joint; cleanlab's "
                  "default (the peer above) prunes by noise rate. cleanlab with `filter_by=\"confident_learning\"` "
                  "(off-diagonals) on the same probabilities, F1: " + ", ".join(
                      f"{r['set']} {r['noise']} {r['cleanlab_off_diagonal']['f1']:.3f}" for r in off) + " (its "
                  "probabilities give labels on fewer than 5 rows their prior, and with a constant probability "
                  "every row carrying such a label is counted off the diagonal; check leaves those labels unchecked)."]
    deep = [r for r in detected if "deep" in r]
    if deep:
        lines += ["", "## `check --deep`: labels judged by cross-fitted networks", "",
                  "`check --deep` judges labels by the mean of two out-of-fold probabilities: those of `train --folds "
                  "5`'s fold networks (train's defaults, the language model it pretrains included) mixed with "
                  "train's TF-IDF model, and check's linear model's. The columns beside it: the networks' mix "
                  "alone, the fold networks alone (no TF-IDF model), check without --deep, cleanlab. Seconds: the "
                  "whole `check --deep` (the networks' part was computed once, under the shared lock).", "",
                  "| set | noise | --deep P | --deep R | --deep F1 | networks + train's TF-IDF F1 | networks F1 | "
                  "check F1 | cleanlab F1 | --deep s |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in deep:
            d = r["deep"]
            lines.append(f"| {r['set']} | {r['noise']} | {d['precision']:.3f} | {d['recall']:.3f} | {d['f1']:.3f} | "
                         f"{r['deep_mixed']['f1']:.3f} | {r['deep_networks']['f1']:.3f} | {r['check']['f1']:.3f} | "
                         f"{r['cleanlab']['f1']:.3f} | {r['deep_seconds']:.0f} |")
    sp = res.get("speed")
    if sp:
        lines += ["", "## Speed", "",
                  f"`check_files` on {sp['texts']:,} texts (mr + subj + sst2 training texts, 6 classes): "
                  f"{sp['whole']:.1f} s in all, {sp['without_labels']:.1f} s without the label check.", "",
                  "| texts | near-duplicate search s | peak memory MB | pairs |", "|---:|---:|---:|---:|"]
        for m, v in sp["memory"].items():
            lines.append(f"| {int(m):,} | {v['seconds']:.2f} | {v['peak_mb']:.1f} | {v['pairs']} |")
        if "datasketch" in sp:
            lines += ["", f"datasketch 2.0 MinHash (update_batch) + MinHashLSH(threshold 0.8, 128 permutations) on "
                          f"the same distinct texts' shingles: {sp['datasketch']['seconds']:.1f} s "
                          f"(check's numpy MinHash with banding: {sp['memory']['20000']['seconds']:.2f} s "
                          "including the exact Jaccard check of candidates)."]
    rows = payoff_rows(res)
    if rows:
        lines += ["", "## Payoff: test score of the default `textrnn train`", "",
                  "Uniform noise (10% of the training rows, seeded by the seed column); cleaned = `check --out DIR "
                  "--write-clean` on the noisy file (rule: whose flags clean.csv leaves out: linear = check's, deep = "
                  "check --deep's, agree = both's; from --clean-threshold; flipped = exactly the rows "
                  "flipped, no check: the ceiling of leaving rows out; half-flipped = a random half of them: a "
                  "flawless check that finds half the flips; cleanlab = the peer's flags), trained on clean.csv. "
                  "The default `train`, seeded by the same seed; train = the last commit that changed train's recipe "
                  "(older: before the trainings were keyed by it). Test accuracy (cooking: micro-F1). Left out: the "
                  "rows clean.csv lacks (flags and repeats) against the rows flipped. -: not run yet.", "",
                  "| set | seed | train | rule | --clean-threshold | clean | noisy | cleaned | recovered | rows kept | "
                  "left out P | left out R | left out F1 |",
                  "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        rows.sort(key=lambda r: (r["train"] == "older", order.index(r["set"]) if r["set"] in order else 9,
                                 r.get("seed", 0), r.get("rule", "linear"), r.get("threshold", 0.0)))
        for r in rows:
            rec = "-" if r["recovered"] is None else f"{r['recovered']:.0%}"
            out = r.get("left_out")
            pr = " | ".join(f"{out[k]:.3f}" for k in ("precision", "recall", "f1")) if out else "- | - | -"
            acc = " | ".join("-" if r.get(k) is None else f"{r[k]:.4f}" for k in ("clean", "noisy", "cleaned"))
            kept = f"{r['cleaned_rows']:,} / {r['rows']:,}"
            lines.append(f"| {r['set']} | {r.get('seed', 0)} | {r['train']} | {r.get('rule', 'linear')} | "
                         f"{r.get('threshold', 0.0):g} | {acc} | {rec} | {kept} | {pr} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default="sst2,trec,agnews,mr,cooking")
    parser.add_argument("--max-rows", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-detection", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--deep", default="", help="sets whose detection also runs check --deep (comma-separated; "
                                                   "about a training each, cached)")
    parser.add_argument("--deep-noise", default="uniform", help="--deep on these noise kinds (uniform,confusable)")
    parser.add_argument("--payoff", default="", help="sets to measure the payoff on (comma-separated); slow")
    parser.add_argument("--clean-threshold", type=float, default=0.0, help="payoff: check --clean-threshold")
    parser.add_argument("--rule", default="linear", choices=sorted(RULES), help="payoff: which flags clean.csv "
                                                                                "leaves out (see RULES)")
    parser.add_argument("--steps", default=",".join(STEPS),
                        help="payoff: which of its trainings to run (clean,noisy,cleaned; those already stored for "
                             "this set, seed and train version are skipped), and 'deep' for the networks' "
                             "probabilities alone (cached): one step per invocation keeps each run short")
    parser.add_argument("--dry", action="store_true",
                        help="payoff: no training, only the rows left out")
    parser.add_argument("--markdown", type=Path, default=ROOT / "benchmarks" / "results-check.md")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    store = args.markdown.with_suffix(".json")
    res = json.loads(store.read_text()) if store.exists() else {}
    res.update({"cpu": cpu(), "cores": os.cpu_count()})
    sets = [s for s in args.sets.split(",") if s and (SHARED / s).is_dir()]
    if not sets:
        console.print(f"no data sets under {SHARED}; skipped")
        return
    if not args.skip_detection:
        try:
            import cleanlab  # noqa: F401
        except ImportError:
            console.print("cleanlab is not installed (pip install cleanlab): detection skipped")
        else:
            deep = {s for s in args.deep.split(",") if s}
            kinds = tuple(args.deep_noise.split(","))
            rows = [row for name in sets
                    for row in detection(name, args.max_rows, args.seed, kinds if name in deep else ())]
            res["detection"] = [r for r in res.get("detection", []) if r["set"] not in sets] + rows  # the sets rerun
    if not args.skip_speed:
        res["speed"] = speed()
    steps = tuple(x for x in args.steps.split(",") if x)
    if args.payoff and args.rule == "cleanlab" and importlib.util.find_spec("cleanlab") is None:
        parser.error("--rule cleanlab needs cleanlab (pip install cleanlab)")
    for name in (s for s in args.payoff.split(",") if s and (SHARED / s).is_dir()):
        payoff(name, args.max_rows, args.seed, res, args.clean_threshold, args.rule, steps, args.dry,
               save=lambda: store.write_text(json.dumps(res, indent=1)))
    store.write_text(json.dumps(res, indent=1))
    text = markdown(res)
    args.markdown.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
