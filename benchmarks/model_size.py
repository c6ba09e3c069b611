"""Model folder size: what each file holds, test scores, export parity and prediction speed.

    flock /tmp/textrnn-heavy.lock python benchmarks/model_size.py [--baseline DIR | --baseline-src SRC]
        [--models DIR] [--datasets cooking sst2 trec] [--choices] [--markdown benchmarks/results-model-size.md]

For each data set, the default model (`textrnn train` with default settings; cooking: train.txt with
--test test.txt; sst2: train.csv --val dev.csv --test test.csv; trec: train.csv --test test.csv) is
trained by this textrnn, or taken from --models DIR/<set>. --baseline DIR/<set> are folders written by
an earlier textrnn (the same recipe), or --baseline-src SRC trains them with the textrnn package found in
SRC (e.g. `git archive 9bbc07c textrnn | tar x -C SRC`). Both are measured in the same run, by this
textrnn's prediction path:
  1. the size of each file (MB, 10^6 bytes) and of the folder;
  2. the test scores and the export parity recorded by training (metadata.json);
  3. cold `textrnn predict "text"` (median of --cold-runs fresh processes) and `textrnn predict --file`
     on --lines texts (the test texts repeated; wall time of a fresh process, output to /dev/null).
--choices: the compact forms of the linear model's weight table, applied to each baseline folder's
fp32 table (model.onnx's `linear.weight` replaced) and its test set re-scored with ONNX Runtime.
Data sets come from ../shared/datasets or $TEXTRNN_DATASETS; missing ones are skipped.
Run it on an otherwise idle machine: timings of concurrent heavy jobs mean nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import machine
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from textrnn.folder import ModelFolder  # noqa: E402
from textrnn.folder.store import INT8_FILE, METADATA_FILE, ONNX_FILE, TOKENIZER_FILE, WEIGHTS_FILE  # noqa: E402
from textrnn.model.table import TOP_K, sparse  # noqa: E402

console = Console(highlight=False, width=160)
DATASETS = Path(os.environ.get("TEXTRNN_DATASETS") or ROOT.parent / "shared" / "datasets")
RECIPES = {  # train file, extra arguments (relative to the set's folder), test file
    "cooking": ("train.txt", [], "test.txt"),
    "sst2": ("train.csv", ["--val", "dev.csv"], "test.csv"),
    "trec": ("train.csv", [], "test.csv"),
}
FILES = (ONNX_FILE, WEIGHTS_FILE, INT8_FILE, TOKENIZER_FILE, METADATA_FILE)
COLD_TEXT = "how do i keep a sauce from splitting"


def cpu_name() -> str:
    return f"{machine.cpu_name()}, {os.cpu_count()} CPUs" + (", AVX-512" if "avx512f" in machine.cpu_flags() else "")

def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def textrnn_cmd() -> list[str]:
    script = Path(sys.executable).parent / "textrnn"  # the console script (its fast path for predict)
    return [str(script)] if script.is_file() else [sys.executable, "-m", "textrnn"]


def train(name: str, work: Path, src: Path | None = None) -> Path:
    """The default model on `name`, trained by this textrnn or by the package in `src`."""
    train_file, extra, test_file = RECIPES[name]
    folder = DATASETS / name
    out = work / ("baseline" if src else "models") / name
    args = [str(folder / train_file), *[str(folder / a) if a.endswith((".csv", ".txt")) else a for a in extra],
            "--test", str(folder / test_file), "--out", str(out), "--force"]
    console.print(f"[dim]training the default model on {name}{f' with {src}' if src else ''} ...[/]")
    start = time.perf_counter()
    run_env = {**env(), "TEXTRNN_MODELS": str(work / "pointer")}
    cmd = [*textrnn_cmd(), "train", *args]
    if src is not None:  # from a folder that holds no other textrnn (not the current one: -m reads it first)
        run_env["PYTHONPATH"] = str(src)
        cmd = [sys.executable, "-m", "textrnn", "train", *args]
    subprocess.run(cmd, check=True, env=run_env, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    console.print(f"[dim]trained in {time.perf_counter() - start:.0f} s[/]")
    return out


def mb(n: float) -> str:
    return f"{n / 1e6:.2f}"


def scores(meta) -> str:  # Metadata
    test = meta.results.get("test")
    if test is None:
        return "-"
    m = test.metrics
    if hasattr(m, "p_at_1"):
        return f"micro-F1 {m.micro_f1:.4f}, P@1 {m.p_at_1:.4f}"
    return f"accuracy {m.accuracy:.2%}"


def cold_predict(model: Path, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([*textrnn_cmd(), "predict", "--model", str(model), COLD_TEXT], check=True,
                       stdout=subprocess.DEVNULL, env=env())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def file_predict(model: Path, texts: Path, runs: int = 2) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([*textrnn_cmd(), "predict", "--model", str(model), "--file", str(texts)], check=True,
                       stdout=subprocess.DEVNULL, env=env())
        best = min(best, time.perf_counter() - start)
    return best


def measure(label: str, name: str, model: Path, texts: Path, n_texts: int, cold_runs: int) -> list[str]:
    folder = ModelFolder.open(model)
    sizes = [(model / f).stat().st_size if (model / f).is_file() else 0 for f in FILES]
    cold = cold_predict(model, cold_runs)
    seconds = file_predict(model, texts)
    export = folder.metadata.export
    return [name, label, *[mb(s) if s else "-" for s in sizes], mb(folder.size_bytes), scores(folder.metadata),
            f"{export.parity_max_diff:.1e}" if export else "-", f"{cold * 1000:.0f}", f"{n_texts / seconds:,.0f}"]


def _per_column(weight: np.ndarray, levels: int) -> np.ndarray:
    """Symmetric per-column quantization to +-levels steps of the column's largest weight."""
    peak = np.abs(weight).max(axis=0)
    scale = np.where(peak > 0, peak / levels, 1.0).astype(np.float32)
    return np.clip(np.rint(weight / scale), -levels, levels) * scale


def table_choices(weight: np.ndarray) -> list[tuple[str, np.ndarray, int]]:
    """(name, the table as it would compute, bytes stored) of each compact form of `weight` (features, classes)."""
    f, c = weight.shape
    out = [("fp32 dense (as before)", weight, weight.nbytes),
           ("fp16 dense", weight.astype(np.float16).astype(np.float32), weight.size * 2),
           ("int8 per column, dense", _per_column(weight, 127), weight.size + 4 * c),
           ("int4 per column, dense", _per_column(weight, 7), (weight.size + 1) // 2 + 4 * c)]
    for k in (8, 16, 32, 64):
        if k < c or k == TOP_K:
            table = sparse(weight, k)
            wired = " (wired)" if k == TOP_K else ""
            out.append((f"top {min(k, c)} per row, fp16 + int16 class{wired}", table.dense()[1:], table.nbytes))
    return out


def choices(name: str, baseline: Path) -> list[list[str]]:
    import onnx
    from onnx import numpy_helper

    from textrnn.inference.predictor import Predictor

    folder = ModelFolder.open(baseline)
    model = onnx.load(str(baseline / ONNX_FILE))
    init = next((i for i in model.graph.initializer if i.name == "linear.weight"), None)
    if init is None:
        console.print(f"[yellow]{baseline} has no fp32 linear.weight table: no choices[/]")
        return []
    full = numpy_helper.to_array(init)
    test = folder.load_dataset(DATASETS / name / RECIPES[name][2])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, dense, size in table_choices(full[1:]):
            table = np.concatenate([full[:1], dense.astype(np.float32)])
            init.CopyFrom(numpy_helper.from_array(table, "linear.weight"))
            path = Path(tmp) / "model.onnx"
            onnx.save(model, str(path))
            metrics = Predictor(folder, device="cpu", precision="fp32", onnx_path=path).evaluate(test)
            shown = (f"micro-F1 {metrics.micro_f1:.4f}, P@1 {metrics.p_at_1:.4f}" if hasattr(metrics, "p_at_1")
                     else f"accuracy {metrics.accuracy:.2%}")
            rows.append([name, label, mb(size), shown])
    return rows


def render(title: str, headers: list[str], rows: list[list[str]]) -> str:
    table = Table(title=title)
    for h in headers:
        table.add_column(h)
    for r in rows:
        table.add_row(*r)
    console.print(table)
    lines = [f"### {title}", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--models", type=Path, help="DIR/<set>: models of this textrnn (default: train them)")
    parser.add_argument("--baseline", type=Path, help="DIR/<set>: folders written by an earlier textrnn")
    parser.add_argument("--baseline-src", type=Path, help="train the baseline with the textrnn package in this folder")
    parser.add_argument("--choices", action="store_true", help="re-score the baseline tables' compact forms")
    parser.add_argument("--lines", type=int, default=10_000, help="texts for `predict --file`")
    parser.add_argument("--cold-runs", type=int, default=7)
    parser.add_argument("--markdown", type=Path, help="also write the tables to this markdown file")
    parser.add_argument("--work", type=Path, help="where trained models go (default: a new temporary folder)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="textrnn-size-"))
    work.mkdir(parents=True, exist_ok=True)
    console.print(f"[dim]models in {work}[/]")
    rows, choice_rows = [], []
    for name in args.datasets:
        if not (DATASETS / name).is_dir():
            console.print(f"[yellow]skipped {name}: {DATASETS / name} is not there[/]")
            continue
        baseline = args.baseline / name if args.baseline else train(name, work, args.baseline_src) \
            if args.baseline_src else None
        model = args.models / name if args.models else train(name, work)
        test = ModelFolder.open(model).load_dataset(DATASETS / name / RECIPES[name][2])
        texts = work / f"{name}-texts.txt"
        lines = [t.replace("\n", " ") for t in test.texts]
        texts.write_text("\n".join((lines * (args.lines // len(lines) + 1))[:args.lines]) + "\n", encoding="utf-8")
        if baseline is not None and baseline.is_dir():
            rows.append(measure("earlier textrnn", name, baseline, texts, args.lines, args.cold_runs))
            if args.choices:
                choice_rows += choices(name, baseline)
        rows.append(measure("this textrnn", name, model, texts, args.lines, args.cold_runs))
        report(args, rows, choice_rows)  # after each set: a partial table survives an interrupted run


def report(args: argparse.Namespace, rows: list[list[str]], choice_rows: list[list[str]]) -> None:
    headers = ["set", "written by", *[f"{f} MB" for f in FILES], "folder MB", "test", "parity",
               "cold predict ms", f"predict --file texts/s ({args.lines:,})"]
    parts = [f"CPU: {cpu_name()}; default recipe; MB = 10^6 bytes; cold predict: median of {args.cold_runs} "
             f"fresh processes; predict --file: best of 2 fresh processes.", "",
             render("Model folders", headers, rows)]
    if choice_rows:
        parts += ["", render("The linear model's table in compact forms (the earlier folder's fp32 table, "
                             "test set re-scored with ONNX Runtime)", ["set", "form", "table MB", "test"],
                             choice_rows)]
    if args.markdown:
        args.markdown.write_text("# Model folder size\n\n" + "\n".join(parts) + "\n", encoding="utf-8")
        console.print(f"wrote {args.markdown}")


if __name__ == "__main__":
    main()
