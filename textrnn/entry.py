"""The `textrnn` command's entry point: one-shot `predict TEXT...` without typer; the rest through typer.

A cold `textrnn predict "text"` is mostly imports. typer (which builds pydantic adapters for every
option) and rich together cost about as much as onnxruntime itself, so `main` reads the simple
`predict` forms itself and runs them with only onnxruntime, tokenizers and numpy loaded:

    predict [--model DIR] [--json | --csv] [--top-k N] [--precision P] [--device auto|cpu]
            [--threads N] TEXT... [-- TEXT...]

Anything else (other commands, --file or stdin, --help, any other option, --device cuda) and any
error goes to the typer app in textrnn.cli, which owns the CLI's behaviour and messages; nothing is
written before the fast path knows it will succeed, so falling back never duplicates output.
"""

from __future__ import annotations

import sys

_VALUES = {"--model": "model", "--top-k": "top_k", "--precision": "precision", "--device": "device",
           "--threads": "threads"}
_FLAGS = {"--json": "json", "--csv": "csv"}


def parse_fast_predict(argv: list[str]) -> dict | None:
    """The options of a simple `predict TEXT...` command line, or None when typer must handle it."""
    if not argv or argv[0] != "predict":
        return None
    opts: dict = {"model": None, "top_k": "1", "precision": "auto", "device": "auto", "threads": None,
                  "json": False, "csv": False, "texts": []}
    args = iter(argv[1:])
    for arg in args:
        if arg == "--":  # the rest are texts, even those starting with '-'
            rest = list(args)
            if not all(t.strip() for t in rest):
                return None
            opts["texts"].extend(rest)
            break
        name, eq, value = arg.partition("=")
        if name in _VALUES:
            value = value if eq else next(args, None)
            if value is None:
                return None
            opts[_VALUES[name]] = value
        elif arg in _FLAGS:
            opts[_FLAGS[arg]] = True
        elif arg.startswith("-") or not arg.strip():  # '-' (stdin), other options, empty texts
            return None
        else:
            opts["texts"].append(arg)
    def count(value: str) -> bool:  # ASCII digits only: "²".isdigit() is true but int("²") fails
        return value.isascii() and value.isdigit() and int(value) >= 1

    ok = (opts["texts"] and not (opts["json"] and opts["csv"]) and count(opts["top_k"])
          and opts["precision"] in ("auto", "fp32", "int8") and opts["device"] in ("auto", "cpu")
          and (opts["threads"] is None or count(opts["threads"])))
    return opts if ok else None


def fast_predict(opts: dict) -> bool:
    """Run a parsed simple predict; False (nothing written) when it fails and typer should take over."""
    from textrnn.errors import TextrnnError
    from textrnn.infer import load_predictor
    from textrnn.output import csv_rows, json_lines, table_lines

    top_k = int(opts["top_k"])
    try:
        predictor = load_predictor(opts["model"], opts["device"],
                                   int(opts["threads"]) if opts["threads"] else None, opts["precision"])
        predictions = predictor.predict(opts["texts"], top_k=top_k)
    except TextrnnError:
        return False
    if predictor.provider != "CPUExecutionProvider":  # auto found CUDA: say so, as the typer path does
        sys.stderr.write(f"running on {predictor.provider} ({predictor.precision})\n")
    if opts["json"]:
        text = json_lines(predictions, top_k)
    elif opts["csv"]:
        text = csv_rows(predictions, top_k, header=True)
    else:
        text = table_lines(predictions, predictor.labels, header=True)
    sys.stdout.write(text)
    sys.stdout.flush()
    return True


def main() -> None:
    opts = parse_fast_predict(sys.argv[1:])
    if opts is not None and fast_predict(opts):
        return
    from textrnn.cli import main as typer_main

    typer_main()
