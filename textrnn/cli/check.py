"""`textrnn check DATA`: find what is wrong with labelled data (shape, duplicates, leakage, likely
mislabelled rows) before it costs accuracy. Its options are declared once, as the fields of
CheckRequest and CheckOptions (textrnn.checks.request)."""

from __future__ import annotations

import json
from typing import Any

from textrnn.checks.request import CheckOptions, CheckRequest
from textrnn.cli.core import err, handle_errors, out, terminal_width
from textrnn.cli.options import DataArgument, JsonOption, settings_of, with_settings


@handle_errors
@with_settings((CheckRequest, ("val", "test")), (CheckOptions, ("text_column", "label_column", "label_sep",
               "multi_label", "max_length", "folds", "near", "skip_labels")), CheckRequest, CheckOptions, "as_json")
def check_cmd(
    data: DataArgument,
    as_json: JsonOption = False,
    **settings: Any,
) -> None:
    """Check labelled DATA for problems: shape, duplicates, leakage, label issues.

    Reads the files as `train` does. Label issues are rows whose label a model that never saw them
    (k-fold TF-IDF + logistic regression) disagrees with, by confident learning (Northcutt et al.
    2021), ranked by how sure, with the label it suggests. The files are never modified.

    \b
    Examples:
      textrnn check data.csv
      textrnn check train.csv --val dev.csv --test test.csv
      textrnn check data.csv --json > problems.json
      textrnn check data.csv --out checked/ --write-clean   # checked/problems.csv, checked/clean.csv
      textrnn train checked/clean.csv
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from textrnn.checks.run import run_check
    from textrnn.views.check import render_check

    options = CheckOptions(**settings_of(CheckOptions, settings))
    request = CheckRequest(data=data, options=options, **settings_of(CheckRequest, settings))
    request.check()
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=err,
                  transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task("Reading", total=None)

        def on_stage(name: str) -> None:
            progress.update(task, description=name, total=options.folds if name == "Label issues" else None,
                            completed=0)

        findings, written = run_check(request, on_stage, lambda: progress.advance(task))
    if as_json:
        out.print_json(json.dumps(findings.to_dict()))
    else:
        for part in render_check(findings, min(terminal_width(), 100), options.examples):
            out.print(part)
    for path in written:
        note = " (train with --label-sep '|')" if path.name == "clean.csv" and findings.multi_label else ""
        count = f"{len(findings.clean_rows):,} of {len(findings.train):,} rows" if path.name == "clean.csv" else \
            f"{len(findings.problems):,} problems"
        err.print(f"wrote {path}: {count}{note}", soft_wrap=True, highlight=False)
