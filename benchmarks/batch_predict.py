"""Texts per second: `textrnn predict --file` (one process) against `predict --engine ray` (Ray Data,
an actor pool on a local Ray instance), on the same texts and model; checks they agree row for row.

    flock /tmp/textrnn-heavy.lock .venv/bin/python benchmarks/batch_predict.py \
        --markdown benchmarks/results-batch-predict.md

Needs the ray extra (pip install -e ".[ray]"). Without --model, trains the default recipe on SST-2
for 2 epochs (the speed of a model does not depend on how well it learned). The texts are SST-2's
(train, dev, test) repeated to --rows, written as one text a line for `predict --file` and as
Parquet with an id column for Ray. Reads ../shared/datasets (or $TEXTRNN_DATASETS).
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from distributed_train import DATASETS, ROOT, Others, cpu_name

TEXTRNN = [sys.executable, "-m", "textrnn"]


def timed(command: list[str], **kwargs) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    out = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{out.stderr[-3000:]}")
    return time.perf_counter() - t0, out


def warm_ray(model: str, table: Path, out: Path, workers: int) -> float:
    """Seconds of a Ray prediction in a process where Ray is already running (a second run)."""
    code = (
        "import sys, time\n"
        "from textrnn.batch.tables import TableRequest, predict_table, start_ray\n"
        f"start_ray(workers={workers})\n"
        f"predict_table(TableRequest({str(table)!r}, {str(out)!r}, {model!r}, workers={workers}, force=True))\n"
        "t0 = time.perf_counter()\n"
        f"predict_table(TableRequest({str(table)!r}, {str(out)!r}, {model!r}, workers={workers}, force=True))\n"
        "print(time.perf_counter() - t0)\n")
    _, out_ = timed([sys.executable, "-c", code])
    return float(out_.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--model", help="model folder (default: train one on SST-2)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    import pandas as pd

    started, others = time.perf_counter(), Others()
    tmp = Path(tempfile.mkdtemp(prefix="textrnn-bench-batch-"))
    env = {**os.environ, "TEXTRNN_MODELS": str(tmp / "models"), "PYTHONPATH": str(ROOT)}
    model = args.model
    if model is None:
        model = str(tmp / "models" / "sst2")
        print("training the default recipe on SST-2 (2 epochs)...", file=sys.stderr)
        timed([*TEXTRNN, "train", str(DATASETS / "sst2" / "train.csv"), "--val", str(DATASETS / "sst2" / "dev.csv"),
               "--epochs", "2", "--out", model], env=env)
    texts = [t for split in ("train", "dev", "test") for t in pd.read_csv(DATASETS / "sst2" / f"{split}.csv")["text"]]
    texts = [texts[i % len(texts)] for i in range(args.rows)]
    lines = tmp / "texts.txt"
    lines.write_text("\n".join(texts) + "\n", encoding="utf-8")
    table = tmp / "texts.parquet"
    pd.DataFrame({"id": range(len(texts)), "text": texts}).to_parquet(table)

    local_s, _ = timed([*TEXTRNN, "predict", "--model", model, "--file", str(lines), "--csv"], env=env)
    local_s, local_out = timed([*TEXTRNN, "predict", "--model", model, "--file", str(lines), "--csv"], env=env)
    ray_out = tmp / "predictions.parquet"
    ray_s, _ = timed([*TEXTRNN, "predict", "--engine", "ray", "--model", model, "--file", str(table), "--out",
                      str(ray_out), "--workers", str(args.workers), "--force"], env=env)
    warm_s = warm_ray(model, table, tmp / "again.parquet", args.workers)

    local_rows = list(csv.DictReader(local_out.stdout.splitlines()))
    ray_rows = pd.read_parquet(ray_out)
    same = sum(a["label"] == b for a, b in zip(local_rows, ray_rows["label"], strict=True))
    worst = max(abs(float(a["probability"]) - b) for a, b in zip(local_rows, ray_rows["probability"], strict=True))
    n = len(texts)
    out = [f"Batch prediction, {n:,} SST-2 texts (one text a line for predict --file; Parquet with an id column "
           f"for Ray), default recipe model (BiLSTM 128, fp32 ONNX); CPU: {cpu_name()}", "",
           "| how | seconds | texts/s |", "| --- | ---: | ---: |",
           f"| `textrnn predict --file texts.txt --csv` (2 threads: batches side by side) | {local_s:.1f} | "
           f"{n / local_s:,.0f} |",
           f"| `textrnn predict --engine ray --file texts.parquet --out p.parquet --workers {args.workers}` (cold: "
           f"starts Ray, {args.workers} actors x 1 thread) | {ray_s:.1f} | {n / ray_s:,.0f} |",
           f"| the same, Ray already running (second run in one process) | {warm_s:.1f} | {n / warm_s:,.0f} |", "",
           f"Row for row: {same:,} of {n:,} labels equal, largest probability difference {worst:.1e} "
           "(predict --csv prints 6 decimals).",
           f"Total run time: {time.perf_counter() - started:.0f} s; {others.summary()}."]
    text = "\n".join(out)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")


if __name__ == "__main__":
    main()
