"""Checks, run: read the files as `train` reads them, run every check, and say which training rows a
clean copy keeps; also the cheap checks `train` runs on its own files (one warning line each)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from textrnn.checks import duplicates as dup
from textrnn.checks import labels as lab
from textrnn.checks.findings import OK, WARN, Findings, Problem, Section, label_text
from textrnn.checks.output import write_outputs
from textrnn.checks.reading import Checked, read_checked
from textrnn.checks.request import CheckOptions, CheckRequest
from textrnn.checks.shape import shape
from textrnn.data import Dataset
from textrnn.errors import ConfigError, DataError

QUICK_MAX_BYTES = 100 << 20


def clean_threshold(options: CheckOptions, multi_label: bool = False) -> float | None:
    """The score from which clean.csv leaves a label issue out: the option's, else 0 (every flag), or with
    --deep labels.DEEP_CLEAN_THRESHOLD; None (none left out) for multi-label data without the option: there
    check flags a third of cooking's rows on its own labels, and leaving the flagged rows out cost 1.4 points
    of micro-F1 where 10% noise cost 0.06 (benchmarks/results-check.md)."""
    if options.clean_threshold is not None:
        return options.clean_threshold
    if multi_label:
        return None
    return lab.DEEP_CLEAN_THRESHOLD if options.deep else 0.0


def read_files(paths: dict[str, Path], options: CheckOptions) -> dict[str, Checked]:
    cols = {"text_column": options.text_column, "label_column": options.label_column,
            "label_sep": options.label_sep, "multi_label": options.multi_label}
    splits = {name: read_checked(Path(path), **cols) for name, path in paths.items() if path is not None}
    train = splits["train"].data
    if len(train) < 2:
        raise DataError(f"{train.source} has a single row; checking needs at least 2")
    classes = train.label_counts()
    if len(classes) < 2:
        only = next(iter(classes)) if classes else "none"
        raise DataError(f"{train.source} has a single {'label' if train.multi_label else 'class'} ({only!r}); "
                        "a classifier needs at least 2")
    return splits


def _in_training(n: int, also: str = "") -> str:
    return f"text is {also}a training text" if n == 1 else f"texts are {also}training texts"


def _duplicates(checked: Checked, keys: list[str], options: CheckOptions) -> tuple[Section, set[int]]:
    """The Duplicates section, and the training rows a clean copy drops for them."""
    data = checked.data
    groups = dup.exact_groups(keys, data.labels)
    problems, drop = [], set()
    extra = conflicts = 0
    for group in sorted(groups, key=lambda g: (not g.conflict, -len(g.rows))):
        first = checked.row(group.rows[0])
        if group.conflict:
            conflicts += 1
            votes = Counter(label_text(x) for x in group.labels).most_common()
            keep = votes[0][0] if len(votes) == 1 or votes[0][1] > votes[1][1] else None
            kept = False
            shown = ", ".join(f"{label} {n}" for label, n in votes)
            for i in group.rows:
                label = label_text(data.labels[i])
                problems.append(Problem("train", checked.row(i), data.texts[i], label, "label conflict",
                                        suggested=keep or "", detail=shown))
                if label == keep and not kept:
                    kept = True
                else:
                    drop.add(i)
        else:
            for i in group.rows[1:]:
                problems.append(Problem("train", checked.row(i), data.texts[i], label_text(data.labels[i]),
                                        "exact duplicate", detail=f"= row {first}"))
                drop.add(i)
        extra += len(group.rows) - 1
    near = dup.near_pairs(keys, options.near, options.seed)
    near_conflicts = 0
    for pair in sorted(near, key=lambda p: -p.similarity):
        a, b = pair.first, pair.second
        differ = label_text(data.labels[a]) != label_text(data.labels[b])
        near_conflicts += differ
        problems.append(Problem("train", checked.row(b), data.texts[b], label_text(data.labels[b]),
                                "near-duplicate label conflict" if differ else "near duplicate",
                                score=round(pair.similarity, 3),
                                detail=f"~ row {checked.row(a)} ({label_text(data.labels[a])})"))
    notes = []
    if extra:
        notes.append(f"{extra} rows repeat another's text ({len(groups)} texts)")
    if conflicts:
        notes.append(f"{conflicts} of those texts have labels that disagree")
    if near:
        notes.append(f"{len(near)} near-duplicate pairs ({near_conflicts} with different labels)")
    if notes:
        notes.append("--write-clean drops the repeats and conflicts" if extra else "review them in problems.csv")
    status = WARN if notes else OK
    verdict = "; ".join(notes) if notes else "no duplicate or near-duplicate texts"
    return Section("Duplicates", status, verdict, counts={
        "duplicate_rows": extra, "duplicate_texts": len(groups), "conflicting_texts": conflicts,
        "near_pairs": len(near), "near_conflicts": near_conflicts}, problems=problems), drop


def _leakage(splits: dict[str, Checked], keys: dict[str, list[str]], options: CheckOptions) -> Section:
    train = splits["train"]
    found = dup.leaks(keys["train"], {s: k for s, k in keys.items() if s != "train"}, True, options.near,
                      options.seed)
    problems = []
    for leak in found:
        checked = splits[leak.split]
        data = checked.data
        exact = leak.similarity >= 1.0
        problems.append(Problem(leak.split, checked.row(leak.row), data.texts[leak.row],
                                label_text(data.labels[leak.row]), "leak" if exact else "near leak",
                                score=round(leak.similarity, 3), detail=f"~ train row {train.row(leak.train_row)}"
                                if not exact else f"= train row {train.row(leak.train_row)}"))
    counts = {}
    notes = []
    for split in (s for s in splits if s != "train"):
        n = sum(1 for leak in found if leak.split == split and leak.similarity >= 1.0)
        m = sum(1 for leak in found if leak.split == split and leak.similarity < 1.0)
        counts[split] = {"exact": n, "near": m, "rows": len(splits[split].data)}
        if n or m:
            notes.append(f"{n} {split} {_in_training(n)}" + (f" and {m} nearly" if m else ""))
    if notes:
        notes.append("scores will be optimistic: remove them from " + " and ".join(
            s for s in counts if counts[s]["exact"] or counts[s]["near"]))
    verdict = "; ".join(notes) if notes else "no validation or test text is also a training text"
    return Section("Leakage", WARN if notes else OK, verdict, counts=counts, problems=problems)


def _deep_probabilities(data: Dataset, classes: list[str], options: CheckOptions, progress: Any,
                        networks: Callable[..., Any]) -> np.ndarray:
    """Out-of-fold probabilities of cross-fitted networks, columns in the order of `classes`
    (multi-label: NaN for labels on fewer than MIN_POSITIVES rows, left unchecked as without --deep)."""
    found = networks(data, options.folds, options.seed, progress, options.settings)
    probs = found.mixed[:, [found.labels.index(c) for c in classes]]
    if data.multi_label:
        probs[:, lab.label_matrix(data.labels, classes).sum(axis=0) < lab.MIN_POSITIVES] = np.nan
    return probs


def _label_issues(data: Dataset, checked: Checked, options: CheckOptions,
                  on_fold: Callable[[], None] | None, progress: Any = None,
                  networks: Callable[..., Any] | None = None) -> Section:
    classes = sorted(data.label_counts())
    if data.multi_label:
        y = lab.label_matrix(data.labels, classes)
        probs = lab.oof_probabilities_multi(data.texts, y, options.folds, options.seed, on_fold)
    else:
        index = {c: i for i, c in enumerate(classes)}
        y = np.array([index[x] for x in data.labels])
        probs = lab.oof_probabilities(data.texts, y, len(classes), options.folds, options.seed, on_fold)
    if options.deep:  # the mean of both models' probabilities (DEEP_SHARE): better flags than either alone
        deep = _deep_probabilities(data, classes, options, progress, networks)
        probs = lab.DEEP_SHARE * deep + (1 - lab.DEEP_SHARE) * probs
    issues = lab.label_issues_multi(probs, y, classes) if data.multi_label else lab.label_issues(probs, y, classes)
    unchecked = int(np.isnan(probs[0]).sum()) if data.multi_label else 0
    model = "cross-fitted networks + linear model" if options.deep else "out-of-fold model"
    problems = [Problem("train", checked.row(x.row), data.texts[x.row], label_text(data.labels[x.row]),
                        "label issue", suggested=label_text(x.suggested), score=round(x.score, 4),
                        detail=model) for x in issues]
    confused = Counter((p.label, p.suggested) for p in problems).most_common(3) if not data.multi_label else []
    n = len(issues)
    share = n / len(data)
    threshold = clean_threshold(options, data.multi_label)
    if n:
        verdict = (f"{n} likely mislabelled rows ({share:.1%}): review them (problems.csv with --out); "
                   + (f"--write-clean leaves out those scoring >= {threshold:g}" if threshold is not None else
                      "--write-clean keeps them (multi-label: --clean-threshold X leaves out those scoring >= X)"))
    else:
        verdict = "no row's label disagrees with an out-of-fold model"
    if unchecked:
        verdict += f"; {unchecked} labels on fewer than {lab.MIN_POSITIVES} rows not checked"
    return Section("Label issues", WARN if n else OK, verdict, counts={
        "flagged": n, "share": round(share, 4), "folds": options.folds, "unchecked_labels": unchecked,
        "model": "deep" if options.deep else "linear"},
        problems=problems, details={"most_confused": [[a, b, k] for (a, b), k in confused]})


def check_files(train: Path, val: Path | None = None, test: Path | None = None,
                options: CheckOptions = CheckOptions(), on_stage: Callable[[str], None] | None = None,
                on_fold: Callable[[], None] | None = None, progress: Any = None,
                networks: Callable[..., Any] | None = None) -> Findings:
    """Read the files as train does and run every check. Raises DataError for files train refuses
    outright (missing, unreadable, no label column, a single class or row). `on_fold`: called after
    each fold of the linear model. With `options.deep`, `networks` gives the out-of-fold probabilities
    (textrnn.training.oof.deep_probabilities, a stage above this one: the caller passes it) and
    `progress` (a textrnn.training.loop.Progress) shows its stages and epochs."""
    if not 0.0 <= clean_threshold(options) <= 1.0:  # the option's, or the single-label default
        raise ConfigError(f"the clean threshold must be in [0, 1] (got {options.clean_threshold})")
    if not 0.0 < options.near <= 1.0:
        raise ConfigError(f"the near-duplicate similarity must be in (0, 1] (got {options.near})")
    if options.folds < 2:
        raise ConfigError(f"folds must be at least 2 (got {options.folds})")
    if options.deep and networks is None:
        raise ConfigError("deep needs `networks` (textrnn.training.oof.deep_probabilities)")
    stage = on_stage or (lambda name: None)
    started = time.perf_counter()
    stage("Reading")
    splits = read_files({"train": train, "val": val, "test": test}, options)
    data = splits["train"].data
    if len(data) < options.folds:
        raise DataError(f"{data.source} has {len(data)} rows; the label check needs at least --folds "
                        f"({options.folds})")
    sections = [shape(splits, options.max_length, options.val_split, options.examples)]
    stage("Duplicates")
    keys = {split: [dup.normalise(t) for t in c.data.texts] for split, c in splits.items()}
    section, drop = _duplicates(splits["train"], keys["train"], options)
    sections.append(section)
    if len(splits) > 1:
        stage("Leakage")
        sections.append(_leakage(splits, keys, options))
    if not options.skip_labels:
        stage("Label issues")
        issues = _label_issues(data, splits["train"], options, on_fold, progress, networks)
        sections.append(issues)
        threshold = clean_threshold(options, data.multi_label)
        rows = {p.row for p in issues.problems if p.score is not None and threshold is not None
                and p.score >= threshold}
        drop |= {i for i in range(len(data)) if splits["train"].row(i) in rows}
    files = {split: str(c.data.source) for split, c in splits.items()}
    return Findings(files, data.multi_label, sections, time.perf_counter() - started,
                    clean_rows=[i for i in range(len(data)) if i not in drop], train=data)


def run_check(request: CheckRequest, on_stage: Callable[[str], None] | None = None,
              on_fold: Callable[[], None] | None = None, progress: Any = None,
              networks: Callable[..., Any] | None = None) -> tuple[Findings, list[Path]]:
    """Do a CheckRequest (`textrnn check`): every check on its files, then problems.csv (and clean.csv)
    written into its `out` folder when it has one; returns the findings and the files written. `progress`
    and `networks`: --deep's, as check_files takes them."""
    request.check()
    findings = check_files(request.data, request.val, request.test, request.options, on_stage, on_fold, progress,
                           networks)
    written = write_outputs(findings, request.out, request.write_clean) if request.out is not None else []
    return findings, written


def quick_warnings(train: Path, val: Path | None, test: Path | None, text_column: str | None = None,
                   label_column: str | None = None, label_sep: str | None = None,
                   multi_label: bool = False) -> list[str]:
    """What `train` warns about before training: exact duplicates, conflicting labels, and validation
    or test texts that are training texts (no model, no near-duplicate search). Files that cannot be
    read give no warning (train reports them); nor do files over QUICK_MAX_BYTES together (reading
    them twice would cost train more than the warnings are worth there)."""
    paths = [Path(p) for p in (train, val, test) if p is not None]
    if sum(p.stat().st_size for p in paths if p.is_file()) > QUICK_MAX_BYTES:
        return []
    try:
        splits = {name: read_checked(Path(p), text_column, label_column, label_sep, multi_label)
                  for name, p in {"train": train, "val": val, "test": test}.items() if p is not None}
    except (DataError, OSError):
        return []
    name = Path(train).name
    keys = {split: [dup.normalise(t) for t in c.data.texts] for split, c in splits.items()}
    groups = dup.exact_groups(keys["train"], splits["train"].data.labels)
    lines = []
    extra = sum(len(g.rows) - 1 for g in groups)
    conflicts = sum(g.conflict for g in groups)
    if extra:
        lines.append(f"{name}: {extra} rows repeat another row's text ({len(groups)} texts); "
                     f"`textrnn check {train}` lists them")
    if conflicts:
        lines.append(f"{name}: {conflicts} texts appear with different labels (label conflicts)")
    found = dup.leaks(keys["train"], {s: k for s, k in keys.items() if s != "train"}, near=False)
    for split in ("val", "test"):
        n = sum(1 for leak in found if leak.split == split)
        if n:
            lines.append(f"{n} {split} {_in_training(n, 'also ')}: {split} scores will be optimistic")
    return lines
