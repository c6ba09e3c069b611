"""Checks, what they find: a Problem per row, a Section per check (counts, a verdict, what to do), and
the whole Findings, which the report view shows, `--json` prints and `--out` writes as problems.csv."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

OK, WARN, ERROR = "ok", "warning", "error"


def label_text(label: object) -> str:
    """A label as one string: multi-label sets joined with '|' (empty: no label)."""
    return "|".join(label) if isinstance(label, tuple) else str(label)


@dataclass
class Problem:
    """One row's problem. `row` is the row's number among its file's data rows (1: the first)."""

    split: str  # train, val or test
    row: int
    text: str
    label: str
    problem: str
    suggested: str = ""
    score: float | None = None  # label issues: how sure (0-1); near duplicates and leaks: similarity
    detail: str = ""


@dataclass
class Section:
    """A check's result: `status` ok, warning or error; `verdict` one line saying what it found and
    what to do; `counts` its numbers; `problems` the rows, worst first; `details` anything else."""

    name: str
    status: str
    verdict: str
    counts: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Findings:
    """Every section of a check, and what was checked."""

    files: dict[str, str]
    multi_label: bool
    sections: list[Section]
    seconds: float = 0.0
    clean_rows: list[int] | None = None  # 0-based training rows kept by --write-clean
    train: Any = None  # the training Dataset (for clean.csv)

    @property
    def problems(self) -> list[Problem]:
        return [p for s in self.sections for p in s.problems]

    @property
    def clean(self) -> bool:
        return all(s.status == OK for s in self.sections)

    def section(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {"files": self.files, "multi_label": self.multi_label, "clean": self.clean,
                "seconds": round(self.seconds, 2),
                "sections": [asdict(s) for s in self.sections]}
