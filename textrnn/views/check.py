"""The `textrnn check` report: a section per check (a verdict line with what to do, its numbers, the
worst rows), texts cut to the terminal's width with control characters shown escaped."""

from __future__ import annotations

from pathlib import Path

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from textrnn.checks.findings import ERROR, OK, Findings, Problem, Section
from textrnn.text import fit
from textrnn.views.common import PLAIN, bar, section, title

MARKS = {OK: ("✔", "green"), "warning": ("⚠", "yellow"), ERROR: ("✘", "red")}


def _verdict(s: Section, width: int) -> Text:
    mark, style = MARKS[s.status]
    text = Text(f"{mark} ", style=f"bold {style}")
    text.append(s.verdict)
    return text


def _row(p: Problem) -> str:
    return (f"{p.split} " if p.split != "train" else "") + str(p.row)


def _side(p: Problem) -> str:
    """What the arrow column shows: the suggested label ("(no label)" where a multi-label row should lose
    every label), else the detail (row it repeats, the problem)."""
    if p.problem == "label issue":
        return p.suggested or "(no label)"
    return p.suggested or p.detail or p.problem


def _examples(problems: list[Problem], n: int, width: int, suggested: bool) -> Table | None:
    if not problems or n <= 0:
        return None
    shown = problems[:n]
    row_w = max(3, *(len(_row(p)) for p in shown))
    label_w = min(14, max(5, *(len(p.label) for p in shown)))
    side_w = min(18 if suggested else 28, max(5, *(len(_side(p)) for p in shown)))
    columns = 5 if suggested else 4
    text_w = max(16, width - 1 - row_w - label_w - side_w - (5 if suggested else 0) - 3 * (columns - 1))
    table = Table(**PLAIN, padding=(0, 1), pad_edge=False)
    table.add_column("row", justify="right", no_wrap=True, width=row_w)
    table.add_column("text", no_wrap=True, width=text_w)
    table.add_column("label", no_wrap=True, width=label_w)
    table.add_column("→" if suggested else "problem", no_wrap=True, width=side_w)
    if suggested:
        table.add_column("score", justify="right", no_wrap=True, width=5)
    for p in problems[:n]:
        cells = [_row(p), fit(p.text, text_w).rstrip() if p.text.strip() else "(empty)", fit(p.label, label_w).rstrip(),
                 fit(_side(p), side_w).rstrip()]
        if suggested:
            cells.append("" if p.score is None else f"{p.score:.2f}")
        table.add_row(*cells)
    return table


def _shape_body(s: Section, width: int) -> list[RenderableType]:
    counts = s.details["label_counts"]
    top = max(counts.values())
    shown = sorted(counts.items(), key=lambda kv: -kv[1])
    table = Table(**PLAIN, padding=(0, 1), pad_edge=False)
    table.add_column("label", no_wrap=True, max_width=24)
    table.add_column("rows", justify="right")
    table.add_column("", no_wrap=True)
    for label, n in shown[:8]:
        table.add_row(fit(label, 24).rstrip(), f"{n:,}", bar(n / top, 20))
    if len(shown) > 8:
        rest = shown[8:]
        table.add_row(f"... {len(rest)} more", f"{sum(n for _, n in rest):,}", f"(rarest: {rest[-1][1]})")
    rows = s.counts["rows"]
    parts: list[RenderableType] = [
        Text("rows: " + ", ".join(f"{k} {v:,}" for k, v in rows.items())
             + f" · {s.counts['labels']} labels · imbalance {s.counts['imbalance']:g}:1"), table]
    for split, st in s.details["lengths"].items():
        parts.append(Text(f"{split} tokens: median {st['median']:g}, 95% {st['p95']:g}, max {st['max']:,}; "
                          f"{st['cut']:,} ({st['cut_share']:.1%}) longer than --max-length {s.details['max_length']}"))
    for line in s.details["rare"][:s.details["examples"]]:
        parts.append(Text("rare: " + line, style="yellow"))
    for split, labels in s.details["unseen_labels"].items():
        parts.append(Text(f"{split} labels not in training: " + ", ".join(labels[:8]), style="yellow"))
    return parts


def render_check(findings: Findings, width: int, examples: int = 5) -> list[RenderableType]:
    """The report, section by section, then a summary line."""
    width = max(60, width)
    head = title("textrnn check · " + " · ".join(f"{k} {Path(v).name}" for k, v in findings.files.items()))
    parts: list[RenderableType] = [head]
    for s in findings.sections:
        parts.append(section(s.name))
        parts.append(_verdict(s, width))
        if s.name == "Shape":
            parts.extend(_shape_body(s, width))
        if s.name == "Label issues" and s.details.get("most_confused"):
            parts.append(Text("most often: " + ", ".join(f"{a} → {b} ({k})" for a, b, k in
                                                           s.details["most_confused"])))
        table = _examples(s.problems, examples, width, suggested=s.name != "Shape")
        if table is not None:
            more = len(s.problems) - examples
            parts.append(table)
            if more > 0:
                parts.append(Text(f"... {more:,} more (--out DIR writes them all to problems.csv)", style="dim"))
    parts.append(Text(""))
    if findings.clean:
        parts.append(Text(f"✔ No problems found in {len(findings.sections)} checks ({findings.seconds:.1f} s).",
                          style="bold green"))
    else:
        n = {st: sum(s.status == st for s in findings.sections) for st in MARKS}
        parts.append(Text(f"{n[OK]} checks passed, {n['warning']} warnings, {n[ERROR]} errors; "
                          f"{len(findings.problems):,} rows listed ({findings.seconds:.1f} s)", style="bold"))
    return parts
