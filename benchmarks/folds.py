"""Cross-fitting's final-model options side by side (`train --folds K --fold-model refit|distilled|members`,
and `--folds 1`): training seconds, model folder size, and `textrnn predict --file` throughput (the real
command, a subprocess, on the test texts repeated to --texts), on one seeded sample of a dataset.
Accuracy over seeds is benchmarks/accuracy.py's job (--systems default folds1 distilled members).

    python benchmarks/folds.py --dataset sst2 --sample 500 --markdown benchmarks/results-folds.md
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import SHARED, cpu, sample  # the benchmarks folder's own module

OPTIONS = {"--folds 1": ("1", "refit"), "refit (default)": ("auto", "refit"), "distilled": ("auto", "distilled"),
           "members": ("auto", "members")}


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="sst2")
    parser.add_argument("--sample", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--texts", type=int, default=20_000, help="texts for predict --file")
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    from textrnn.config import DataConfig, Settings, TrainConfig
    from textrnn.data import load_dataset
    from textrnn.training.job import train_model

    test = load_dataset(SHARED / args.dataset / "test.csv")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        train = sample(args.dataset, args.sample, args.seed, tmp)
        texts = (test.texts * (args.texts // len(test.texts) + 1))[: args.texts]
        (tmp / "texts.txt").write_text("\n".join(t.replace("\n", " ") for t in texts) + "\n", encoding="utf-8")
        for name, (folds, kept) in OPTIONS.items():
            settings = Settings(data=DataConfig(folds=folds, fold_model=kept), train=TrainConfig(seed=args.seed))
            t0 = time.perf_counter()
            s = train_model(train, test_path=SHARED / args.dataset / "test.csv", out=tmp / kept / folds,
                            settings=settings, make_default=False)
            secs = time.perf_counter() - t0
            speeds = []
            for _ in range(3):  # best of 3: the machine is shared
                t1 = time.perf_counter()
                subprocess.run([sys.executable, "-m", "textrnn", "predict", "--model", str(s.model_dir), "--file",
                                str(tmp / "texts.txt"), "--csv"], check=True, stdout=subprocess.DEVNULL)
                speeds.append(args.texts / (time.perf_counter() - t1))
            rows.append((name, s.test.accuracy, secs, folder_bytes(s.model_dir), max(speeds)))
            print(f"{name}: test {s.test.accuracy:.4f}, {secs:.0f} s, {folder_bytes(s.model_dir) / 2**20:.1f} MB, "
                  f"{max(speeds):,.0f} texts/s", file=sys.stderr)
    lines = [f"# Cross-fitting: the final-model options ({args.dataset}, {args.sample}-row sample, seed {args.seed})",
             "", f"Command: `python benchmarks/folds.py {' '.join(sys.argv[1:])}`", "", f"Machine: {cpu()}", "",
             f"predict --file: {args.texts:,} test texts, the real command (cold start included), best of 3.", "",
             "| final model | test accuracy | training s | model folder MB | predict --file texts/s |",
             "|---|---|---|---|---|"]
    lines += [f"| {n} | {100 * a:.2f} | {s:.0f} | {b / 2**20:.1f} | {v:,.0f} |" for n, a, s, b, v in rows]
    print("\n".join(lines))
    if args.markdown:
        args.markdown.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
