"""Checks, shape: rows, labels and their counts (imbalance; labels too rare to learn or to validate),
text lengths in tokens (the share `--max-length` cuts), empty texts, control or replacement
characters (bad encoding), and rows that cannot be read."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

import numpy as np

from textrnn.checks.findings import ERROR, OK, WARN, Problem, Section, label_text
from textrnn.checks.reading import Checked

TOKEN = re.compile(r"\w+|[^\w\s]+")  # what the word tokenizer's pre-tokenizer splits (Whitespace)
MIN_TO_LEARN = 10  # rows of a label below which a classifier rarely learns it
MIN_TO_VALIDATE = 5  # validation rows of a label below which its score is noise


def token_count(text: str) -> int:
    return len(TOKEN.findall(text))


def odd_characters(text: str) -> str | None:
    """'replacement characters' (U+FFFD: bytes decoded wrongly somewhere), 'control characters', or None."""
    if "\ufffd" in text:
        return "replacement characters"
    if not text.isprintable() and any(unicodedata.category(ch) == "Cc" and ch not in "\t\n\r" for ch in text):
        return "control characters"
    return None


def _rare(counts: dict[str, int], splits: dict[str, Checked], val_split: float) -> list[str]:
    """One line per label too rare to learn or to validate, with the numbers that make it so."""
    lines = []
    val = splits.get("val")
    val_counts = val.data.label_counts() if val is not None else None
    for label, n in sorted(counts.items(), key=lambda kv: kv[1]):
        held = val_counts.get(label, 0) if val_counts is not None else round(n * val_split)
        where = "the validation file has" if val_counts is not None else f"a {val_split:g} validation split holds"
        if n < MIN_TO_LEARN:
            lines.append(f"{label!s}: {n} training rows (fewer than {MIN_TO_LEARN} are rarely learned); "
                         f"{where} {held}")
        elif held < MIN_TO_VALIDATE:
            lines.append(f"{label!s}: {n} training rows; {where} {held} (fewer than {MIN_TO_VALIDATE} "
                         "give no reliable score)")
    return lines


def shape(splits: dict[str, Checked], max_length: int, val_split: float, examples: int) -> Section:
    """The Shape section over the files given (train first)."""
    train = splits["train"].data
    counts = train.label_counts()
    values = sorted(counts.values())
    imbalance = values[-1] / values[0] if values else 1.0
    problems: list[Problem] = []
    n_odd = Counter()
    lengths: dict[str, dict] = {}
    for split, checked in splits.items():
        for bad in checked.bad_rows:
            problems.append(Problem(split, bad.row, bad.raw, "", "unreadable row",
                                    detail=f"line {bad.line}: {bad.reason}"))
        data = checked.data
        tokens = np.fromiter((token_count(t) for t in data.texts), dtype=np.int64, count=len(data))
        for i, text in enumerate(data.texts):
            odd = odd_characters(text)
            if odd:
                n_odd[odd] += 1
                problems.append(Problem(split, checked.row(i), text, label_text(data.labels[i]), odd))
        lengths[split] = {"min": int(tokens.min()), "median": float(np.median(tokens)),
                          "p95": float(np.percentile(tokens, 95)), "max": int(tokens.max()),
                          "cut": int((tokens > max_length).sum()), "cut_share": float((tokens > max_length).mean())}
    rare = _rare(counts, splits, val_split)
    unseen = {split: sorted(set(c.data.label_counts()) - set(counts))
              for split, c in splits.items() if split != "train"}
    unseen = {k: v for k, v in unseen.items() if v}
    n_bad = sum(len(c.bad_rows) for c in splits.values())
    cut = lengths["train"]["cut_share"]
    notes = []
    if n_bad:
        notes.append(f"{n_bad} unreadable rows (train refuses the file: fix or remove them)")
    if n_odd:
        notes.append(f"{sum(n_odd.values())} texts with control or replacement characters (bad encoding?)")
    if rare:
        notes.append(f"{len(rare)} labels too rare to learn or to validate: add examples or merge them")
    if imbalance >= 10:
        notes.append(f"imbalance {imbalance:.0f}:1: consider --class-weight balanced")
    if cut >= 0.01:
        notes.append(f"{cut:.0%} of training texts are longer than --max-length {max_length}: raise it")
    if unseen:
        notes.append("labels in " + ", ".join(unseen) + " that training lacks: the model cannot predict them")
    status = ERROR if n_bad else WARN if notes else OK
    verdict = "; ".join(notes) if notes else (f"{len(train):,} rows, {len(counts)} labels, imbalance "
                                               f"{imbalance:.1f}:1, lengths fine")
    return Section("Shape", status, verdict, counts={
        "rows": {split: len(c.data) for split, c in splits.items()}, "labels": len(counts),
        "imbalance": round(imbalance, 2), "unreadable_rows": n_bad, "odd_characters": dict(n_odd),
        "rare_labels": len(rare), "cut_by_max_length": lengths["train"]["cut"]},
        problems=problems, details={"label_counts": counts, "lengths": lengths, "max_length": max_length,
                                    "rare": rare, "unseen_labels": unseen, "examples": examples})

