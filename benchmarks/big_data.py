"""The data stage at 10,000, 100,000 and 1,000,000 rows: seconds and peak memory of reading, splitting,
training the tokenizer and encoding, streamed into compact storage (what `textrnn train` does) against
the lists `load_dataset` and `encode` build; and seconds per 1,000 optimizer steps at each size.

    flock /tmp/textrnn-heavy.lock .venv/bin/python benchmarks/big_data.py \
        --markdown benchmarks/results-big-data.md [--train-1m]

The data is a synthetic CSV made here from the shared sets (../shared/datasets or $TEXTRNN_DATASETS):
rows drawn at random (seed 0) from the texts of sst2, sst5, mr, subj, trec and agnews, labelled with
their set and class (24 classes). Each measurement runs in a fresh process; peak memory is the growth
of that process's peak resident size (ru_maxrss) over its size after imports. `--train-1m` also runs
`textrnn train` on the 1,000,000-row file for one epoch and reports its time and peak memory.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from distributed_train import DATASETS, ROOT, Others, cpu_name

SETS = ("sst2", "sst5", "mr", "subj", "trec", "agnews")
FIXED_VOCAB = 8000  # about the vocabulary of the 10,000-row file


def make_file(rows: int, path: Path) -> Path:
    """A CSV of `rows` rows drawn from the shared sets."""
    import numpy as np

    pool: list[tuple[str, str]] = []
    for name in SETS:
        for split in sorted((DATASETS / name).glob("*.csv")):
            with open(split, encoding="utf-8", newline="") as f:
                pool += [(r["text"], f"{name}:{r['label']}") for r in csv.DictReader(f)]
    picks = np.random.default_rng(0).integers(0, len(pool), size=rows)
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(pool[i] for i in picks.tolist())
    return path


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# ---------------------------------------------------------------------------------------------- child


def child(args: argparse.Namespace) -> None:
    """One data stage (streamed or lists) on one file, then (streamed) the optimizer steps; prints JSON."""
    import numpy as np
    import torch

    from textrnn.config import Settings
    from textrnn.data import load_dataset, stratified_split
    from textrnn.data.stream import read_labelled
    from textrnn.data.tokens import TokenArrays, encode_compact
    from textrnn.tokenizer import encode, train_tokenizer

    settings = Settings()
    base = rss_mb()
    times = {}
    t = time.perf_counter()
    data = read_labelled(args.file) if args.how == "streamed" else load_dataset(args.file)
    times["read"] = time.perf_counter() - t
    t = time.perf_counter()
    train, val = stratified_split(data, settings.data.val_split, settings.train.seed)
    del data
    times["split"] = time.perf_counter() - t
    t = time.perf_counter()
    tokenizer = train_tokenizer(train.texts, settings.tokenizer)
    times["tokenizer"] = time.perf_counter() - t
    t = time.perf_counter()
    if args.how == "streamed":
        train_ids, val_ids = encode_compact(tokenizer, train.texts), encode_compact(tokenizer, val.texts)
        tokens = len(train_ids.flat) + len(val_ids.flat)
    else:
        train_ids, val_ids = encode(tokenizer, train.texts), encode(tokenizer, val.texts)
        tokens = sum(map(len, train_ids)) + sum(map(len, val_ids))
    times["encode"] = time.perf_counter() - t
    record = {"seconds": times, "peak_mb": peak_mb() - base, "held_mb": rss_mb() - base, "tokens": tokens,
              "rows": len(train) + len(val)}
    record["vocab"] = tokenizer.get_vocab_size()
    if args.steps:
        record["steps_s"] = time_steps(settings, tokenizer.get_vocab_size(), train, train_ids, args.steps, np, torch)
        # the same with the vocabulary capped (ids are ranked by frequency: words past the cap are [UNK]),
        # so that the model, and the work of a step, is the same size whatever the rows
        capped = TokenArrays(np.where(train_ids.flat >= FIXED_VOCAB, 1, train_ids.flat).astype(train_ids.flat.dtype),
                             train_ids.offsets)
        record["steps_fixed_s"] = time_steps(settings, FIXED_VOCAB, train, capped, args.steps, np, torch)
    print(json.dumps(record))


def time_steps(settings, vocab, train, train_ids, steps, np, torch) -> float:
    """Seconds for `steps` optimizer steps of the default model on this data (as the fit loop runs them)."""
    from textrnn.model import build_member
    from textrnn.tasks import Task
    from textrnn.training.batches import length_batches
    from textrnn.training.devices import resolve_device, resolve_precision
    from textrnn.training.epochs import Step, WeightAverage
    from textrnn.training.loop import Classifying, token_lengths

    task = Task.from_training_data(train)
    torch.manual_seed(0)
    model = build_member(settings.model, vocab, task)
    device = resolve_device("cpu")
    objective = Classifying(task, train_ids, task.targets(train), [], None, settings.train, device,
                            resolve_precision("auto", device), patience=1)
    step = Step(model, objective, WeightAverage(model, settings.train.ema))
    model.train()
    rng = np.random.default_rng(0)
    lengths = token_lengths(train_ids)
    done, t = 0, None
    while done < steps + 100:
        for idx in length_batches(lengths, settings.train.batch_size, rng):
            if done == 100:  # after a warm-up (oneDNN builds kernels for new shapes)
                t = time.perf_counter()
            if done == steps + 100:
                break
            step(idx)
            done += 1
    return time.perf_counter() - t


# ---------------------------------------------------------------------------------------------- driver


def measure(file: Path, how: str, steps: int) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", "--file", str(file), "--how", how,
               "--steps", str(steps)]
    out = subprocess.run(command, capture_output=True, text=True, check=False,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    if out.returncode != 0:
        raise SystemExit(f"{how} on {file} failed:\n{out.stderr[-3000:]}")
    record = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"  {file.name} {how}: {record}", file=sys.stderr)
    return record


def train_1m(file: Path, tmp: Path) -> str:
    env = {**os.environ, "TEXTRNN_MODELS": str(tmp / "models"), "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "textrnn", "train", str(file), "--epochs", "1", "--out",
                          str(tmp / "models" / "big")], capture_output=True, text=True, check=False, env=env)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if out.returncode != 0:
        raise SystemExit(f"train failed:\n{out.stderr[-3000:]}")
    meta = json.loads((tmp / "models" / "big" / "metadata.json").read_text())
    saved = [line for line in out.stdout.splitlines() if line.startswith("Saved")]
    return (f"`textrnn train` on the 1,000,000-row file, `--epochs 1` (default recipe): {seconds:.0f} s in all "
            f"(training {meta['training']['seconds']:.0f} s), peak resident memory {peak:,.0f} MB (the whole process: "
            f"torch, the model, ONNX export and evaluation included); {saved[0] if saved else ''}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--train-1m", action="store_true")
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--how", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    started, others = time.perf_counter(), Others()
    tmp = Path(tempfile.mkdtemp(prefix="textrnn-bench-big-"))
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    for n in sizes:
        file = make_file(n, tmp / f"rows-{n}.csv")
        lists = measure(file, "lists", 0)
        streamed = measure(file, "streamed", args.steps)
        rows.append((n, file.stat().st_size / 2**20, lists, streamed))
    lines = [f"Data stage (read, split, tokenizer, encoding) and optimizer steps; synthetic CSV from the shared sets; "
             f"CPU: {cpu_name()}", "",
             "| rows | file MB | tokens | lists: s | lists: peak MB | streamed + compact: s | streamed: peak MB | "
             f"streamed: held MB | vocabulary | s / {args.steps:,} steps | the same, vocabulary {FIXED_VOCAB:,} |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for n, mb, lists, streamed in rows:
        lists_s, streamed_s = sum(lists["seconds"].values()), sum(streamed["seconds"].values())
        lines.append(f"| {n:,} | {mb:.1f} | {streamed['tokens']:,} | {lists_s:.1f} | {lists['peak_mb']:,.0f} | "
                     f"{streamed_s:.1f} | {streamed['peak_mb']:,.0f} | {streamed['held_mb']:,.0f} | "
                     f"{streamed['vocab']:,} | {streamed['steps_s']:.1f} | {streamed['steps_fixed_s']:.1f} |")
    lines += ["", "Growth factors (streamed), each size against the one before:"]
    for (n0, _, _, a), (n1, _, _, b) in zip(rows, rows[1:], strict=False):
        lines.append(f"- {n0:,} -> {n1:,} rows (x{n1 / n0:.0f}): data-stage seconds x"
                     f"{sum(b['seconds'].values()) / sum(a['seconds'].values()):.1f}, peak memory "
                     f"x{b['peak_mb'] / max(a['peak_mb'], 1e-9):.1f}, tokens x{b['tokens'] / a['tokens']:.1f}, "
                     f"seconds per {args.steps:,} steps x{b['steps_s'] / a['steps_s']:.2f} (with the vocabulary "
                     f"capped at {FIXED_VOCAB:,}: x{b['steps_fixed_s'] / a['steps_fixed_s']:.2f})")
    last = rows[-1][3]["seconds"]
    lines += ["", "Streamed stages at the largest size: " + ", ".join(f"{k} {v:.1f} s" for k, v in last.items()),
              "Peak MB: growth of the process's peak resident size over its size after imports; held MB: what the "
              "data (texts, labels, token ids, tokenizer) still holds after the stage."]
    if args.train_1m and sizes[-1] == 1_000_000:
        lines += ["", train_1m(tmp / "rows-1000000.csv", tmp)]
    lines.append(f"Total run time: {time.perf_counter() - started:.0f} s; {others.summary()}.")
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")


if __name__ == "__main__":
    main()
