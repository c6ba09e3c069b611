"""Seconds per training epoch with 1 and 2 processes (torchrun, gloo on the CPU), and how much of the
2-process epoch is communication.

    flock /tmp/textrnn-heavy.lock .venv/bin/python benchmarks/distributed_train.py \
        --markdown benchmarks/results-distributed.md

The same data, model and batches in every run (the default recipe: word vocabulary, BiLSTM 128,
batch 32, the precision `--precision auto` picks on this CPU), timed over the training steps of each
epoch (validation apart):

    1 process, 2 threads         what `textrnn train` does on this machine
    1 process, 1 thread
    2 processes x 1 thread       torchrun, DistributedDataParallel: each step's batch split by rows
    2 processes, no all-reduce   the same with DDP's gradient all-reduce replaced by a no-op hook

communication share = (2 processes - no all-reduce) / 2 processes. Reads ../shared/datasets (or
$TEXTRNN_DATASETS). Prints a table; --markdown also writes it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import machine

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("TEXTRNN_DATASETS", ROOT.parent / "shared" / "datasets"))


def cpu_name() -> str:
    flags = machine.cpu_flags()
    extra = ", AVX512-BF16" if "avx512_bf16" in flags else (", AVX2" if "avx2" in flags else "")
    return f"{machine.cpu_name()} ({os.cpu_count()} cores{extra})"

class Others:
    """CPU time that processes other than this one and its children used while it ran (the 2 cores
    are shared: a busy neighbour slows threads that wait on each other most)."""

    def __init__(self) -> None:
        self.start = (self._busy(), self._ours(), time.perf_counter())

    @staticmethod
    def _busy() -> float:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        ticks = [int(x) for x in fields]
        return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait

    @staticmethod
    def _ours() -> float:
        import resource

        usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
        return sum(u.ru_utime + u.ru_stime for u in usage)

    def summary(self) -> str:
        busy, ours, t = self._busy(), self._ours(), time.perf_counter()
        others = max(0.0, (busy - self.start[0]) - (ours - self.start[1]))
        share = others / max((t - self.start[2]) * (os.cpu_count() or 1), 1e-9)
        return f"other processes used {others:.0f} CPU-seconds meanwhile ({share:.0%} of the machine)"


# ---------------------------------------------------------------------------------------------- worker


def worker(args: argparse.Namespace) -> None:
    """One process of a run: the data stage, then `fit` with timing callbacks; rank 0 prints JSON."""
    import torch
    import torch.distributed as dist

    from textrnn.config import Settings
    from textrnn.data.tokens import encode_compact
    from textrnn.model import build_member
    from textrnn.tokenizer import train_tokenizer
    from textrnn.training.distributed import DataParallel, place
    from textrnn.training.loop import FitHooks, fit
    from textrnn.training.splits import read_splits

    torch.set_num_threads(args.threads)
    settings = Settings.from_options({"epochs": args.epochs, "patience": args.epochs})
    data = DATASETS / args.dataset
    splits = read_splits(data / "train.csv", data / "dev.csv" if (data / "dev.csv").exists() else None, None,
                         settings)
    tokenizer = train_tokenizer(splits.train.texts, settings.tokenizer)
    train_ids, val_ids = encode_compact(tokenizer, splits.train.texts), encode_compact(tokenizer, splits.val.texts)
    where = place()
    hooks: FitHooks = FitHooks()
    if where.world > 1:
        dist.init_process_group("gloo")
        hooks = (no_allreduce_hooks() if args.no_allreduce else DataParallel)(where, torch.device("cpu"))
    timer = EpochTimer()
    torch.manual_seed(0)
    model = build_member(settings.model, tokenizer.get_vocab_size(), splits.task)
    result = fit(model, splits.task, train_ids, splits.targets("train"), val_ids, splits.targets("val"),
                 settings.train, timer, hooks)
    if hooks.is_writer:
        print(json.dumps({"train_s": timer.train, "val_s": timer.val, "steps": timer.steps,
                          "val_acc": [h.val_score for h in result.history], "precision": result.precision}))
    if where.world > 1:
        dist.destroy_process_group()


class EpochTimer:
    """A FitCallback that times each epoch's training steps and its validation."""

    def __init__(self) -> None:
        self.train: list[float] = []
        self.val: list[float] = []
        self.steps = 0

    def on_epoch_start(self, epoch: int, epochs: int, batches: int) -> None:
        self.start = self.last = time.perf_counter()
        self.steps = batches

    def on_batch_end(self, loss: float) -> None:
        self.last = time.perf_counter()

    def on_epoch_end(self, stats, is_best: bool) -> None:
        self.train.append(self.last - self.start)
        self.val.append(time.perf_counter() - self.last)


def no_allreduce_hooks() -> type:
    """DataParallel with DDP's gradient all-reduce replaced by a no-op (timing only: the models diverge)."""
    from contextlib import contextmanager

    import torch

    from textrnn.training.distributed import DataParallel

    def noop(state, bucket):  # the local gradients, unchanged: no communication
        future = torch.futures.Future()
        future.set_result(bucket.buffer())
        return future

    class _NoAllReduce(DataParallel):
        @contextmanager
        def fitting(self, model):
            with super().fitting(model) as wrapped:
                wrapped.register_comm_hook(None, noop)
                yield wrapped

    return _NoAllReduce


# ---------------------------------------------------------------------------------------------- driver


RUNS = [("1 process, 2 threads", 1, 2, False), ("1 process, 1 thread", 1, 1, False),
        ("2 processes x 1 thread (DDP)", 2, 1, False), ("2 processes x 1 thread, no all-reduce", 2, 1, True)]


def run(name: str, procs: int, threads: int, no_allreduce: bool, args: argparse.Namespace) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT)}
    worker_args = [str(Path(__file__).resolve()), "--worker", "--dataset", args.dataset, "--epochs", str(args.epochs),
                   "--threads", str(threads)] + (["--no-allreduce"] if no_allreduce else [])
    if procs > 1:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={procs}",
                   *worker_args]
    else:
        command = [sys.executable, *worker_args]
    t0 = time.perf_counter()
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{name} failed:\n{out.stderr[-3000:]}")
    record = json.loads(out.stdout.strip().splitlines()[-1])
    record["wall_s"] = time.perf_counter() - t0
    print(f"  {name}: {record}", file=sys.stderr)
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="sst2")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-allreduce", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    started, others = time.perf_counter(), Others()
    results = {name: run(name, procs, threads, noop, args) for name, procs, threads, noop in RUNS}
    median = {name: statistics.median(r["train_s"]) for name, r in results.items()}
    ddp, local = median[RUNS[2][0]], median[RUNS[3][0]]
    lines = [f"Training epoch, {args.dataset} ({results[RUNS[0][0]]['steps']} steps of batch 32 an epoch, default "
             f"recipe, {results[RUNS[0][0]]['precision']}), median of {args.epochs} epochs; CPU: {cpu_name()}; "
             f"torch {__import__('torch').__version__}, gloo", "",
             "| run | s/epoch (training steps) | validation s | speed-up vs 1 process, 2 threads | last val acc |",
             "| --- | ---: | ---: | ---: | ---: |"]
    base = median[RUNS[0][0]]
    for name, r in results.items():
        val, acc = statistics.median(r["val_s"]), r["val_acc"][-1]
        lines.append(f"| {name} | {median[name]:.2f} | {val:.2f} | {base / median[name]:.2f}x | {acc:.4f} |")
    lines += ["", f"Communication share of the 2-process epoch: ({ddp:.2f} - {local:.2f}) / {ddp:.2f} = "
              f"{(ddp - local) / ddp:.0%} (the gradient all-reduce; the no-all-reduce run trains two diverging "
              "models and is for timing only).",
              f"Total run time: {time.perf_counter() - started:.0f} s; {others.summary()}."]
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")


if __name__ == "__main__":
    main()
