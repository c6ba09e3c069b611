"""How far the automatic language-model pretraining of `textrnn train` gets: what the old wall-clock
cap (1.5 minutes) allowed on this machine, against the token budget that replaced it.

For each shared dataset that `--pretrain auto` pretrains on (1,000 to 50,000 training texts: trec,
mr, subj, sst5), the training texts are split as `train` splits them (10% validation, seed 0), the
default tokenizer is trained, and the default encoder is pretrained as `train` does, once with the
time cap only (`--pretrain-minutes`) and once with the token budget only (the default). The table
shows tokens, epochs and seconds of each; the token budget was set near what the cap allowed here.

    python benchmarks/pretrain_budget.py --out benchmarks/results-pretrain-budget.md
    python benchmarks/pretrain_budget.py --minutes 0.25 --datasets trec     # a quick look
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

from machine import cpu_name

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("TEXTRNN_DATASETS", ROOT.parent / "shared" / "datasets"))
DATASETS = ["trec", "sst5", "mr", "subj"]




def run(name: str, minutes: float | None, tokens: int | None) -> dict:
    from textrnn.config import InitConfig, PretrainConfig, Settings
    from textrnn.data import stratified_split
    from textrnn.data.stream import read_any
    from textrnn.tokenizer import encode, train_tokenizer
    from textrnn.training.pretrain import fit_language_model

    settings = Settings()
    train = read_any(SHARED / name / "train.csv")
    train, _ = stratified_split(train, settings.data.val_split, settings.train.seed)
    tokenizer = train_tokenizer(train.texts, settings.tokenizer)
    init = InitConfig()
    config = PretrainConfig(epochs=init.pretrain_epochs, minutes=minutes, tokens=tokens, seed=settings.train.seed,
                            precision=settings.train.precision)
    t0 = time.perf_counter()
    result = fit_language_model(encode(tokenizer, train.texts), tokenizer.get_vocab_size(), settings.model, config)
    seconds = time.perf_counter() - t0
    epochs = len(result.history)
    return {"texts": len(train), "tokens": result.seen, "epochs": epochs, "per_epoch": result.tokens,
            "seconds": seconds, "stopped": result.stopped,
            "ppl": result.history[result.best_epoch - 1].val_perplexity}


def main() -> None:
    from textrnn.config import InitConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=DATASETS)
    parser.add_argument("--minutes", type=float, default=1.5, help="the old default time cap")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    budget = InitConfig().pretrain_tokens
    rows = []
    for name in args.datasets:
        if not (SHARED / name / "train.csv").is_file():
            print(f"skipped {name}: no {SHARED / name / 'train.csv'}", file=sys.stderr)
            continue
        capped, budgeted = run(name, args.minutes, None), run(name, None, budget)
        rows.append((name, capped, budgeted))
        print(name, capped, budgeted, file=sys.stderr, flush=True)
    command = "python benchmarks/pretrain_budget.py " + " ".join(sys.argv[1:])
    lines = [f"# Pretraining budget: the {args.minutes:g}-minute cap against {budget:,} tokens", "",
             f"Command: `{command.strip()}`", "",
             f"Machine: {cpu_name()}, {os.cpu_count()} cores; Python {platform.python_version()}", "",
             "| dataset | training texts | tokens an epoch | cap: tokens | cap: epochs | cap: seconds "
             "| cap: perplexity | budget: tokens | budget: epochs | budget: seconds | budget: perplexity |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, c, b in rows:
        lines.append(f"| {name} | {c['texts']:,} | {c['per_epoch']:,} | {c['tokens']:,} | {c['epochs']} "
                     f"({c['stopped']}) | {c['seconds']:.0f} | {c['ppl']:.1f} | {b['tokens']:,} | {b['epochs']} "
                     f"({b['stopped']}) | {b['seconds']:.0f} | {b['ppl']:.1f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
