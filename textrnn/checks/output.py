"""Checks, files: problems.csv (every problem found, a row each) and, on request, clean.csv (the
training data without exact duplicates, label conflicts and the flagged label issues), written into
a folder, each file whole or not at all. The files checked are never written to."""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path

from textrnn.checks.findings import Findings, label_text
from textrnn.errors import DataError

PROBLEM_COLUMNS = ("split", "row", "text", "label", "problem", "suggested_label", "score", "detail")


def _write(path: Path, header: tuple[str, ...], rows: list[list]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_outputs(findings: Findings, out: Path, write_clean: bool = False) -> list[Path]:
    """Write problems.csv (and clean.csv) into `out` (created if missing); return the paths written."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out} is a file, not a folder")
    targets = [out / "problems.csv"] + ([out / "clean.csv"] if write_clean else [])
    inputs = {Path(p).resolve() for p in findings.files.values()}
    for target in targets:
        if target.resolve() in inputs:
            raise DataError(f"{target} is a file being checked; choose another --out folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        _write(targets[0], PROBLEM_COLUMNS, [[p.split, p.row, p.text, p.label, p.problem, p.suggested,
                                               "" if p.score is None else p.score, p.detail]
                                              for p in findings.problems])
        if write_clean:
            data = findings.train
            label = "labels" if data.multi_label else "label"
            _write(targets[1], ("text", label), [[data.texts[i], label_text(data.labels[i])]
                                                 for i in findings.clean_rows])
    except OSError as err:
        raise DataError(f"cannot write into {out}: {err.strerror}") from err
    return targets
