"""Inference benchmark: textrnn's prediction paths against PyTorch eager, the CPU's peak and fastText.

    flock /tmp/textrnn-heavy.lock python benchmarks/inference.py [--model DIR] [--markdown FILE]

Without --model it trains the default model (`textrnn train` with default settings and --int8) on
<data-dir>/train.csv (validation dev.csv, test test.csv). Then, in one run:
  1. `textrnn bench`'s engines on test.csv replicated to --bench-texts texts, at batch 64 and 256:
     PyTorch eager (same weights, batches in file order padded to each batch's longest text; and
     length-sorted), ONNX fp32, ONNX int8 (batches run side by side, one thread each);
  2. `textrnn predict --file` end to end (a fresh process, CSV to /dev/null) on test.csv replicated
     to --lines lines, fp32 and int8, with wall time and peak memory (and peak memory on 1,000 lines);
  3. cold `textrnn predict "text"` against `python -c "import onnxruntime, tokenizers"` (medians);
  4. this CPU's fp32 matrix-product peak; fastText when --fasttext-python names a Python that has it.
Run it on an otherwise idle machine: timings of concurrent heavy jobs mean nothing.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from textrnn.export.bench import peak_gflops, run_bench  # noqa: E402
from textrnn.folder import ModelFolder, store  # noqa: E402
from textrnn.views.bench import render_bench  # noqa: E402

console = Console(highlight=False, width=140)
FASTTEXT_REFERENCE = 120_000  # sentences/s measured here (NOTES.md), used without --fasttext-python
FASTTEXT_SCRIPT = r"""
import csv, sys, time, fasttext
train, test, big, work = sys.argv[1:5]
def write(src, dst):
    with open(src, encoding="utf-8") as f, open(dst, "w", encoding="utf-8") as g:
        for r in csv.DictReader(f):
            g.write("__label__" + r["label"] + " " + r["text"].replace("\n", " ") + "\n")
    return dst
model = fasttext.train_supervised(write(train, work + "/ft.train"), wordNgrams=2, bucket=200000, epoch=10,
                                  lr=0.5, verbose=0, thread=2)
n, p, _ = model.test(write(test, work + "/ft.test"))
lines = [l.rstrip("\n") for l in open(big, encoding="utf-8")]
start = time.perf_counter()
model.predict(lines)
print(p, len(lines) / (time.perf_counter() - start))
"""


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT) + os.pathsep + e.get("PYTHONPATH", "")
    return e


# Runs a command and prints its wall seconds and peak RSS. A small process of its own: a child forked
# from this (large, torch-loaded) process would count this process's pages in its peak RSS.
MEASURE = r"""
import os, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
_, status, usage = os.wait4(proc.pid, 0)
wall = time.perf_counter() - start
if os.waitstatus_to_exitcode(status) != 0:
    sys.exit(proc.stderr.read().decode())
print(wall, usage.ru_maxrss / 1024)
"""


def run_measured(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MiB) of one run of `cmd`."""
    res = subprocess.run([sys.executable, "-c", MEASURE, *cmd], capture_output=True, text=True, env=env())
    if res.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{res.stderr}")
    wall, rss = (float(x) for x in res.stdout.split())
    return wall, rss


def read_texts(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [r["text"].replace("\n", " ") for r in csv.DictReader(f)]


def train_default(data_dir: Path, work: Path) -> Path:
    out = work / "sst2-default"
    console.print(f"[dim]training the default model on {data_dir}/train.csv ...[/]")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "textrnn", "train", str(data_dir / "train.csv"), "--val",
                    str(data_dir / "dev.csv"), "--test", str(data_dir / "test.csv"), "--out", str(out),
                    "--force", "--int8"], check=True, env={**env(), "TEXTRNN_MODELS": str(work)},
                   stderr=subprocess.DEVNULL)
    console.print(f"[dim]trained in {time.perf_counter() - start:.0f} s[/]")
    return out


def torch_peak(size: int = 2048) -> float | None:
    try:
        import torch
    except ImportError:
        return None
    a = torch.randn(size, size)
    a @ a
    best = min(_timed(lambda: a @ a) for _ in range(3))
    return 2 * size**3 / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "datasets" / "sst2")
    parser.add_argument("--model", type=Path, help="model folder (default: train the default model)")
    parser.add_argument("--lines", type=int, default=100_000, help="lines for `predict --file`")
    parser.add_argument("--bench-texts", type=int, default=20_000, help="texts per in-process throughput pass")
    parser.add_argument("--cold-runs", type=int, default=15)
    parser.add_argument("--fasttext-python", help="a Python with fasttext installed (e.g. /tmp/ftvenv/bin/python)")
    parser.add_argument("--markdown", type=Path, help="also write the tables to this markdown file")
    args = parser.parse_args()
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="textrnn-bench-"))
    model = args.model or train_default(args.data_dir, work)
    folder = ModelFolder.open(model)
    if not (model / store.INT8_FILE).is_file() and folder.metadata.int8 is None:
        from textrnn.export.quantize import quantize_model
        quantize_model(folder)
    meta = folder.metadata

    test_texts = read_texts(args.data_dir / "test.csv")
    big, small = work / "big.txt", work / "small.txt"
    replicated = (test_texts * (args.lines // len(test_texts) + 1))[: args.lines]
    big.write_text("\n".join(replicated) + "\n", encoding="utf-8")
    small.write_text("\n".join(replicated[:1000]) + "\n", encoding="utf-8")

    # 1. engines in process
    console.print("[dim]timing engines in process...[/]")
    bench = run_bench(folder, test_texts, engines=("fp32", "int8", "torch", "torch-sorted"),
                      min_texts=args.bench_texts)
    bench_rows = {e.engine: e for e in bench.engines}
    peak_np, peak_torch = peak_gflops(), torch_peak()
    peak = max(p for p in (peak_np, peak_torch) if p)

    # 2. predict --file end to end
    console.print("[dim]timing predict --file...[/]")
    predict = [sys.executable, "-m", "textrnn", "predict", "--model", str(model)]
    e2e = {}
    for precision in ("fp32", "int8"):
        wall, rss = run_measured([*predict, "--file", str(big), "--csv", "--precision", precision])
        e2e[precision] = (args.lines / wall, rss)
    _, rss_small = run_measured([*predict, "--file", str(small), "--csv"])

    # 3. cold start, interleaved so that both see the same machine
    console.print("[dim]timing cold starts...[/]")
    base_cmd = [sys.executable, "-c", "import onnxruntime, tokenizers"]
    cold_cmd = [*predict, "a gripping , beautifully acted film"]
    base, cold = [], []
    for _ in range(args.cold_runs):
        base.append(run_measured(base_cmd)[0])
        cold.append(run_measured(cold_cmd)[0])
    base_med, cold_med = statistics.median(base), statistics.median(cold)

    # 4. fastText
    ft_rate, ft_acc, ft_note = FASTTEXT_REFERENCE, None, "reference figure from NOTES.md (not measured)"
    if args.fasttext_python:
        console.print("[dim]timing fastText...[/]")
        res = subprocess.run([args.fasttext_python, "-c", FASTTEXT_SCRIPT, str(args.data_dir / "train.csv"),
                              str(args.data_dir / "test.csv"), str(big), str(work)],
                             capture_output=True, text=True, check=True)
        ft_acc, ft_rate = (float(x) for x in res.stdout.split())
        ft_note = f"measured: wordNgrams 2, dim 100, test accuracy {ft_acc:.2%}"

    # tables
    console.print(render_bench(bench, peak))
    torch256 = bench_rows["PyTorch eager"].throughput[256]
    fp32_rate, int8_rate = e2e["fp32"][0], e2e["int8"][0]
    fp32_model = bench_rows["ONNX fp32"].throughput[64]
    test_acc = meta.results["test"].metrics.accuracy if "test" in meta.results else None
    int8_rec = meta.int8.__dict__ if meta.int8 else {}
    rows = [
        ["predict --file fp32 vs PyTorch eager (b256)", f"{fp32_rate:,.0f} vs {torch256:,.0f} /s",
         f"{fp32_rate / torch256:.2f}x", ">= 3x", "yes" if fp32_rate >= 3 * torch256 else "no"],
        ["predict --file int8 vs PyTorch eager (b256)", f"{int8_rate:,.0f} vs {torch256:,.0f} /s",
         f"{int8_rate / torch256:.2f}x", ">= 5x", "yes" if int8_rate >= 5 * torch256 else "no"],
        ["fp32 GFLOP/s, predict --file (in-process bench, b64)",
         f"{bench.gflops(fp32_rate):.0f} ({bench.gflops(fp32_model):.0f}) of {peak:.0f} peak",
         f"{peak / bench.gflops(fp32_rate):.2f}x ({peak / bench.gflops(fp32_model):.2f}x) below",
         "within 2x", "yes" if peak <= 2 * bench.gflops(fp32_rate) else "no"],
        ["cold predict \"text\" vs import onnxruntime, tokenizers (median)",
         f"{cold_med:.3f} vs {base_med:.3f} s", f"{cold_med / base_med:.2f}x", "<= 1.5x and < 0.5 s",
         "yes" if cold_med <= 1.5 * base_med and cold_med < 0.5 else "no"],
        [f"peak memory predict --file, {args.lines:,} vs 1,000 lines", f"{e2e['int8'][1]:.0f} vs {rss_small:.0f} MiB",
         f"{e2e['int8'][1] / rss_small:.2f}x", "<= 1.2x", "yes" if e2e["int8"][1] <= 1.2 * rss_small else "no"],
        ["predict --file int8 vs fastText", f"{int8_rate:,.0f} vs {ft_rate:,.0f} /s", f"{int8_rate / ft_rate:.2f}x",
         "report", ft_note],
    ]
    headers = ["target", "measured", "ratio", "goal", "met"]
    table = Table(title=f"Targets: {model.name}, MFLOP/text {bench.flops_per_text / 1e6:.2f}, "
                        f"test accuracy {test_acc or float('nan'):.2%} (fp32), int8: {int8_rec.get('status', '-')}")
    for h in headers:
        table.add_column(h)
    for r in rows:
        table.add_row(*r)
    console.print(table)
    facts = (f"peak fp32 matmul: numpy {peak_np:.0f} GFLOP/s, torch {peak_torch or float('nan'):.0f} GFLOP/s; "
             f"ONNX: {bench.engines[0].threads} batches side by side, 1 thread each; "
             f"int8: {int8_rec.get('reason', '-')}; "
             f"fp32 predict --file peak memory {e2e['fp32'][1]:.0f} MiB; total {time.perf_counter() - started:.0f} s")
    console.print(facts, soft_wrap=True)
    if args.markdown:
        engines = [[e.engine, e.provider, str(e.threads), f"{e.p50_ms:.2f}", f"{e.p95_ms:.2f}",
                    f"{e.throughput[64]:,.0f}", f"{e.throughput[256]:,.0f}",
                    f"{bench.gflops(e.throughput[256]):.0f}"] for e in bench.engines]
        text = ("# Inference benchmark\n\n`" + " ".join(sys.argv) + "`\n\n"
                + markdown_table(["engine", "provider", "threads", "p50 ms (b1)", "p95 ms (b1)", "texts/s b64",
                                  "texts/s b256", "GFLOP/s b256"], engines)
                + "\n\n" + markdown_table(headers, rows) + "\n\n" + facts + "\n")
        args.markdown.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
