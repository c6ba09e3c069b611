"""Why the probe is slower just after serve_hostile.py's overload: the overload part of that benchmark,
--runs times on one server, with each probe sample after the overload on a timeline beside the
server's and the client's garbage collections (1 ms or more) and the moment the overload's
connections are closed.

    flock /tmp/textrnn-heavy.lock .venv/bin/python benchmarks/serve_after_overload.py --model DIR [--markdown FILE]

The server is `textrnn serve --workers 1` run under a wrapper that logs each collection's start
(monotonic clock, as the client's) and length. The capacity, the overload at twice it (16-text
requests, an open loop for --overload-seconds, every answer checked) and the probe (one 1-text
request every 10 ms) are serve_hostile.py's own. The overload's end is taken once every one of its
requests is answered, so nothing of it is queued after. A window's "max" is its slowest probe
sample (serve_hostile.py's p99 of a 100-sample window is that sample).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import serve_hostile as sh
from machine import cpu_name
from serve import read_texts, start_server, stop_server

# runs `python -m textrnn ARGS` with every collection of 1 ms or more appended to $GC_LOG
WRAPPER = """
import gc, os, runpy, sys, time
log, t = open(os.environ["GC_LOG"], "a", buffering=1), {}
def on_gc(phase, info):
    if phase == "start":
        t["start"] = time.perf_counter()
    elif time.perf_counter() - t["start"] >= 0.001:
        log.write(f"{t['start']:.6f} {1000 * (time.perf_counter() - t['start']):.2f} {info['generation']}\\n")
gc.callbacks.append(on_gc)
sys.argv = ["textrnn", *sys.argv[1:]]
runpy.run_module("textrnn", run_name="__main__")
"""


class Watch:
    """This process's collections of 1 ms or more, and when the overload's pool closed its connections."""

    def __init__(self) -> None:
        self.collections: list[tuple[float, float, int]] = []
        self.closes: list[tuple[float, int]] = []
        self._start = 0.0
        gc.callbacks.append(self.on_gc)
        close = sh.Pool.close

        def closing(pool: sh.Pool) -> None:
            self.closes.append((time.perf_counter(), len(pool.free)))
            close(pool)

        sh.Pool.close = closing

    def on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        elif time.perf_counter() - self._start >= 0.001:
            self.collections.append((self._start, 1000 * (time.perf_counter() - self._start), info["generation"]))


def window(samples: list[tuple[float, float, int]], start: float, end: float) -> tuple[float, float]:
    got = [s for t, s, _ in samples if start <= t < end]
    return 1000 * sh.pct(got, 0.5), 1000 * max(got, default=float("nan"))


async def bench(port: int, texts: list[str], args: argparse.Namespace, watch: Watch) -> tuple[float, list[dict]]:
    rng = random.Random(args.seed)
    pool = [[texts[rng.randrange(len(texts))] + f" ({i})" for _ in range(args.size)] for i in range(args.pool)]
    answers = await sh.single_answers(port, pool)
    cap = await sh.capacity(port, pool, args.capacity_seconds, 32)
    runs = []
    for _ in range(args.runs):
        probe = sh.Probe(port, texts[0])
        task = asyncio.ensure_future(probe.run())
        t0 = time.perf_counter()
        await asyncio.sleep(2)
        before = window(probe.samples, t0, time.perf_counter())
        start = time.perf_counter()
        result = await sh.overload(port, pool, answers, 2 * cap, args.overload_seconds)
        end = time.perf_counter()
        await asyncio.sleep(3.2)
        probe.stopped = True
        await task
        after = sorted(((t - end, s) for t, s, _ in probe.samples if end <= t < end + 3), key=lambda x: -x[1])
        runs.append({"start": start, "end": end, "before": before, "after": [window(probe.samples, end + i, end + i + 1)
                                                                              for i in range(3)],
                     "slowest": after[:2], "overload": result,
                     "closed": [(1000 * (t - end), n) for t, n in watch.closes if end - 1 <= t <= end + 3]})
        await asyncio.sleep(2)
    return cap, runs


def markdown(cap: float, runs: list[dict], server_gc: list[tuple[float, float, int]], watch: Watch,
             args: argparse.Namespace, load: str) -> str:
    command = ("flock /tmp/textrnn-heavy.lock .venv/bin/python benchmarks/serve_after_overload.py "
               + " ".join(sys.argv[1:]))
    lines = ["## The probe just after the overload", "", f"`{command}`", "",
             f"Machine: {cpu_name()}, {os.cpu_count()} cores, shared: {load}. Capacity {cap:.0f} requests/s of "
             f"{args.size} texts; overload at twice it for {args.overload_seconds:.0f} s, {args.runs} times on one "
             "server.", "",
             "| run | before p50 / max ms | 0-1 s after | 1-2 s after | 2-3 s after | slowest after (ms after the "
             "end: ms) | overload connections closed | server collections >= 1 ms: during the overload (sum, gen 2 "
             "max) | in the 3 s after (server / client) |", "|---|---|---|---|---|---|---|---|---|"]
    for i, r in enumerate(runs, 1):
        during = [(d, g) for t, d, g in server_gc if r["start"] <= t <= r["end"]]
        after_server = sum(r["end"] < t <= r["end"] + 3 for t, _, _ in server_gc)
        after_client = sum(r["end"] < t <= r["end"] + 3 for t, _, _ in watch.collections)
        cells = [f"{p50:.2f} / {mx:.2f}" for p50, mx in [r["before"], *r["after"]]]
        slowest = ", ".join(f"+{1000 * t:.0f}: {1000 * s:.2f}" for t, s in r["slowest"])
        closed = ", ".join(f"{n} at {t:+.0f} ms" for t, n in r["closed"])
        gen2 = max((d for d, g in during if g == 2), default=0.0)
        spent = sum(d for d, _ in during)
        lines.append(f"| {i} | {' | '.join(cells)} | {slowest} | {closed} | {len(during)} ({spent:.0f} ms, "
                     f"{gen2:.1f} ms) | {after_server} / {after_client} |")
    return "\n".join(lines + [""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get(
        "TEXTRNN_DATASETS", sh.ROOT.parent / "shared" / "datasets")) / "sst2")
    parser.add_argument("--model", type=Path, help="model folder (default: train serve_hostile.py's small one)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=16, help="texts per overload request")
    parser.add_argument("--pool", type=int, default=500)
    parser.add_argument("--capacity-seconds", type=float, default=5)
    parser.add_argument("--overload-seconds", type=float, default=30)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--markdown", type=Path, help="also write the table to this markdown file")
    args = parser.parse_args()
    if not (args.data_dir / "test.csv").is_file():
        print(f"skipped: no {args.data_dir}/test.csv (set TEXTRNN_DATASETS)", file=sys.stderr)
        return
    work = Path(tempfile.mkdtemp(prefix="textrnn-after-overload-"))
    model = args.model or sh.train_small(args.data_dir, work)
    os.environ["GC_LOG"] = str(work / "gc.log")
    (work / "gc.log").write_text("")
    watch = Watch()
    proc, port = start_server([sys.executable, "-c", WRAPPER, "serve", "--model", str(model), "--port", "0",
                               "--workers", "1", "--name", "m"], "/v2/health/ready", True)
    load_before = os.getloadavg()
    try:
        cap, runs = asyncio.run(bench(port, read_texts(args.data_dir / "test.csv"), args, watch))
    finally:
        stop_server(proc)
    server_gc = [(float(t), float(d), int(g)) for t, d, g in
                 (line.split() for line in (work / "gc.log").read_text().splitlines())]
    text = markdown(cap, runs, server_gc, watch, args,
                    f"load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after")
    print(text)
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
