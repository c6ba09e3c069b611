"""The `textrnn` command's entry point: one-shot `predict TEXT...` without typer; the rest through typer.

A cold `textrnn predict "text"` is mostly imports. typer (which builds adapters for every option)
and rich together cost about as much as onnxruntime itself, so `main` reads the simple `predict`
forms itself into the same PredictRequest the typer command builds, and runs the same library call
(textrnn.views.predictions.run_predict) with only onnxruntime, tokenizers and numpy loaded:

    predict [--model DIR] [--json | --csv] [--top-k N] [--precision P] [--device auto|cpu]
            [--threads N] TEXT... [-- TEXT...]

The options and their choices are read from PredictRequest's fields (textrnn.inference.request), where
`predict`'s options are declared for the typer command too; FAST names the ones this path reads.

Anything else (other commands, --file or stdin, --help, any other option, --device cuda) and any
error before output starts goes to the typer app in textrnn.cli, which owns the CLI's messages;
nothing is written before the fast path knows the model loaded, so falling back never duplicates
output.
"""

from __future__ import annotations

import sys

FAST = ("model", "top_k", "precision", "device", "threads")  # the PredictRequest fields this path reads itself


def _count(value: str) -> int | None:
    """A positive whole number written in ASCII digits ("²".isdigit() is true but int("²") fails)."""
    return int(value) if value.isascii() and value.isdigit() and int(value) >= 1 else None


def fast_options() -> tuple[dict[str, str], dict[str, str], dict[str, tuple[str, ...]]]:
    """From PredictRequest's fields (where predict's options are declared): the fast path's value options
    ({--flag: field}), its format switches ({--json: json, --csv: csv}) and each Choice field's values."""
    from dataclasses import fields

    from textrnn.inference.request import PredictRequest
    from textrnn.options import Choice, Device, OutputFormat

    typer_only = {"device": (Device.cuda,)}  # left to typer, which reports the provider and its errors

    by_name = {f.name: f for f in fields(PredictRequest)}
    values = {"--" + (by_name[n].metadata.get("flag") or n).replace("_", "-"): n for n in FAST}
    formats = {f"--{fmt.value}": fmt.value for fmt in OutputFormat if fmt != OutputFormat.table}
    kinds = {kind.__name__: kind for kind in Choice.__subclasses__()}
    allowed = {n: tuple(c.value for c in kinds[by_name[n].type] if c not in typer_only.get(n, ()))
               for n in FAST if by_name[n].type in kinds}
    return values, formats, allowed


def parse_fast_predict(argv: list[str]) -> dict | None:
    """The fields of a PredictRequest for a simple `predict TEXT...` command line, or None when typer
    must handle it."""
    if not argv or argv[0] != "predict":
        return None
    values, formats, allowed = fast_options()
    opts: dict = {"texts": [], "format": "table"}
    args = iter(argv[1:])
    for arg in args:
        if arg == "--":  # the rest are texts, even those starting with '-'
            opts["texts"].extend(args)
            break
        name, eq, value = arg.partition("=")
        if name in values:
            value = value if eq else next(args, None)
            if value is None:
                return None
            opts[values[name]] = value
        elif arg in formats:
            if opts["format"] != "table":  # --json and --csv together: typer says so
                return None
            opts["format"] = formats[arg]
        elif arg.startswith("-") or not arg.strip():  # '-' (stdin), other options, empty texts
            return None
        else:
            opts["texts"].append(arg)
    for key in ("top_k", "threads"):
        if key in opts and _count(opts[key]) is None:
            return None
        if key in opts:
            opts[key] = _count(opts[key])
    ok = opts["texts"] and all(t.strip() for t in opts["texts"]) and all(
        opts[key] in choices for key, choices in allowed.items() if key in opts)
    return opts if ok else None


def fast_predict(opts: dict) -> bool:
    """Run a parsed simple predict; False (nothing written) when it fails and typer should take over."""
    from textrnn.errors import TextrnnError
    from textrnn.inference.predict import open_predictor
    from textrnn.inference.request import PredictRequest
    from textrnn.views.predictions import write_predictions

    request = PredictRequest(**{**opts, "texts": tuple(opts["texts"])})
    try:
        predictor = open_predictor(request, notice=lambda line: sys.stderr.write(line + "\n"))
    except TextrnnError:
        return False
    try:
        write_predictions(predictor, request)
    except TextrnnError as err:  # output may have started: say it here, as the typer path would
        sys.stderr.write(f"error: {err}\n")
        sys.exit(1)
    return True


def main() -> None:
    opts = parse_fast_predict(sys.argv[1:])
    if opts is not None and fast_predict(opts):
        return
    from textrnn.cli import main as typer_main

    typer_main()
