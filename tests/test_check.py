"""`textrnn check`: confident learning, duplicates, near duplicates, leakage, multi-label, and the command."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.conftest import write_csv
from textrnn.checks import duplicates as dup
from textrnn.checks import labels as lab
from textrnn.checks import quick_warnings
from textrnn.cli import app

runner = CliRunner()
VOCAB = {"sport": "goal match team score coach league player season win stadium keeper striker referee cup "
                  "final penalty derby fans pitch trophy".split(),
         "food": "recipe bake oven flour sugar butter salt pepper dough sauce garlic onion roast simmer "
                 "kitchen spoon taste fresh cream pan".split(),
         "tech": "laptop software code server cloud chip battery screen update app phone network data "
                 "keyboard linux driver memory pixel router cable".split()}


def texts_of(label: str, n: int, rng: np.random.Generator, words: int = 8) -> list[str]:
    return [" ".join(rng.choice(VOCAB[label], words, replace=False)) for _ in range(n)]


def clean_rows(n: int = 60, seed: int = 0) -> list[tuple[str, str]]:
    rng = np.random.default_rng(seed)
    return [(t, label) for label in VOCAB for t in texts_of(label, n, rng)]


# confident learning

def test_confident_learning_finds_injected_flips() -> None:
    rng = np.random.default_rng(0)
    n, k = 900, 3
    truth = rng.integers(0, k, n)
    probs = rng.dirichlet(np.ones(k) * 0.5, n) * 0.3
    probs[np.arange(n), truth] += 0.7
    given = truth.copy()
    flipped = rng.choice(n, 90, replace=False)
    given[flipped] = (truth[flipped] + rng.integers(1, k, 90)) % k
    mask = lab.find_issues(probs, given)
    found = set(np.flatnonzero(mask))
    assert len(found & set(flipped)) >= 78  # recall (cleanlab flags the same 81 rows here)
    assert len(found - set(flipped)) <= 5  # precision
    joint = lab.confident_joint(probs, given)
    assert np.allclose(joint.sum(axis=1), np.bincount(given, minlength=k))  # calibrated to the label counts


def test_label_issues_on_texts_suggest_the_true_label() -> None:
    rows = clean_rows(40)
    classes = sorted(VOCAB)
    truth = np.array([classes.index(label) for _, label in rows])
    given = truth.copy()
    flipped = np.arange(0, len(rows), 12)  # 10 rows
    given[flipped] = (truth[flipped] + 1) % 3
    probs = lab.oof_probabilities([t for t, _ in rows], given, 3, folds=5)
    issues = lab.label_issues(probs, given, classes)
    rows_found = {x.row for x in issues}
    assert len(rows_found & set(flipped.tolist())) >= 8 and len(rows_found - set(flipped.tolist())) <= 2
    by_row = {x.row: x for x in issues}
    for r in flipped:
        if r in by_row:
            assert by_row[r].suggested == classes[truth[r]] and 0 < by_row[r].score <= 1
    assert [x.score for x in issues] == sorted((x.score for x in issues), reverse=True)


def test_multilabel_issues_find_dropped_and_added_labels() -> None:
    rng = np.random.default_rng(1)
    classes = sorted(VOCAB)
    rows, truth = [], []
    for _ in range(150):
        labs = sorted(rng.choice(classes, rng.integers(1, 3), replace=False).tolist())
        rows.append(" ".join(w for x in labs for w in rng.choice(VOCAB[x], 4, replace=False)))
        truth.append(tuple(labs))
    y = lab.label_matrix(truth, classes)
    noisy = y.copy()
    changed = [3, 30, 60, 90, 120]
    for r in changed:
        noisy[r, 0] ^= 1  # drop or add 'food'
    probs = lab.oof_probabilities_multi(rows, noisy, folds=5)
    issues = lab.label_issues_multi(probs, noisy, classes)
    found = {x.row: x for x in issues}
    # the off-diagonal rule is strict on 150 rows: rows 90 and 120 (p 0.35 and 0.23 of a label they
    # were given) lie above the mean p of the rows without it (0.22), so they are not flagged
    assert len(set(changed) & set(found)) >= 3 and len(set(found) - set(changed)) <= 1
    for r in set(changed) & set(found):
        assert found[r].suggested == truth[r]


def test_multilabel_flags_the_off_diagonal_rows_of_a_rare_label() -> None:
    # a label on 20 of 400 rows: 2 of its rows are confidently absent (p below the mean of the rows
    # without it), 4 confidently present, 14 in between; one row without it is confidently present
    p = np.full(400, 0.02)
    p[:2], p[2:6], p[6:20], p[20] = 0.005, 0.9, 0.1, 0.8
    y = np.zeros((400, 2), dtype=np.int8)
    y[:20, 0] = 1
    y[::2, 1] = 1
    probs = np.stack([p, np.full(400, np.nan)], axis=1)  # the second label unchecked
    issues = lab.label_issues_multi(probs, y, ["rare", "other"])
    assert sorted(x.row for x in issues) == [0, 1, 20]
    assert {x.row: x.suggested for x in issues}[20] == ("rare", "other")
    # prune by noise rate on the calibrated joint would take 2 * 20 / 6 rows labelled "rare": 5 in-between ones too
    two = np.stack([1 - p, p], axis=1)
    assert np.flatnonzero(lab.find_issues(two, y[:, 0].astype(np.int64))).tolist() == [0, 1, *range(6, 11), 20]


# duplicates and leakage

def test_normalise_and_exact_groups_with_conflicts() -> None:
    texts = ["Great film!", "great   FILM", "great film.", "Bad film", "bad film", "other"]
    labels = ["pos", "pos", "neg", "neg", "neg", "pos"]
    keys = [dup.normalise(t) for t in texts]
    assert keys[0] == keys[1] == keys[2] == "great film"
    groups = {tuple(g.rows): g.conflict for g in dup.exact_groups(keys, labels)}
    assert groups == {(0, 1, 2): True, (3, 4): False}


def test_near_duplicates_found_without_unrelated_pairs() -> None:
    base = "the new phone has a bright screen a fast chip and a battery that lasts two full days of use"
    rng = np.random.default_rng(3)
    others = texts_of("food", 200, rng, words=12)
    texts = [base, base.replace("days of use", "days of work"), *others]
    pairs = dup.near_pairs([dup.normalise(t) for t in texts], threshold=0.8)
    assert [(p.first, p.second) for p in pairs] == [(0, 1)] and 0.8 <= pairs[0].similarity < 1
    sig = dup.signatures([dup.shingles(dup.normalise(t)) for t in texts])
    assert sig.shape == (len(texts), dup.PERMUTATIONS)


def test_leaks_exact_and_near() -> None:
    train = ["a long text about the match and the team that won the cup final in the rain",
             "how do i bake bread", "what is a router"]
    test = ["How do I bake bread?", "a long text about the match and the team that won the cup final in the snow",
            "something else entirely"]
    found = dup.leaks([dup.normalise(t) for t in train], {"test": [dup.normalise(t) for t in test]})
    assert [(x.row, x.train_row, x.similarity == 1.0) for x in found] == [(0, 1, True), (1, 0, False)]


# the command

def test_check_report_json_out_and_clean(tmp_path: Path) -> None:
    rows = clean_rows(40)
    rows += [(rows[0][0], "tech"), (rows[1][0].upper(), rows[1][1])]  # a conflict and an exact repeat
    rows[5] = (rows[5][0], "tech")  # a sport text labelled tech
    data = write_csv(tmp_path / "train.csv", rows)
    test = write_csv(tmp_path / "test.csv", [(rows[10][0], rows[10][1]), ("laptop code server app", "tech")])
    result = runner.invoke(app, ["check", str(data), "--test", str(test)], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    for name in ("Shape", "Duplicates", "Leakage", "Label issues"):
        assert name in result.output
    assert "1 test text is a training text" in result.output
    assert all(len(line) <= 80 for line in result.stdout.splitlines())
    result = runner.invoke(app, ["check", str(data), "--json"])
    report = json.loads(result.stdout)
    sections = {s["name"]: s for s in report["sections"]}
    assert sections["Duplicates"]["counts"]["conflicting_texts"] == 1
    assert sections["Duplicates"]["counts"]["duplicate_rows"] == 2
    assert any(p["row"] == 6 and p["suggested"] == "sport" for p in sections["Label issues"]["problems"])
    before = data.read_bytes()
    out = tmp_path / "checked"
    result = runner.invoke(app, ["check", str(data), "--out", str(out), "--write-clean"])
    assert result.exit_code == 0, result.output
    assert data.read_bytes() == before
    with open(out / "problems.csv", encoding="utf-8") as f:
        problems = list(csv.DictReader(f))
    assert set(problems[0]) == {"split", "row", "text", "label", "problem", "suggested_label", "score", "detail"}
    assert {"label conflict", "exact duplicate", "label issue"} <= {p["problem"] for p in problems}
    with open(out / "clean.csv", encoding="utf-8") as f:
        clean = list(csv.DictReader(f))
    texts = [r["text"] for r in clean]
    assert rows[0][0] not in texts and rows[5][0] not in texts  # a tie-conflict and a label issue left out
    assert len([t for t in texts if dup.normalise(t) == dup.normalise(rows[1][0])]) == 1
    assert len(clean) < len(rows) - 3


def test_check_on_clean_data_says_so(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "d.csv", clean_rows(60))
    result = runner.invoke(app, ["check", str(data)])
    assert result.exit_code == 0, result.output
    assert "No problems found" in result.output


def test_check_lists_unreadable_rows_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    rows = clean_rows(20)
    write_csv(path, rows)
    lines = path.read_text(encoding="utf-8").splitlines()
    lines.insert(3, "   ,sport")
    lines.insert(8, "a,b,c,d")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["check", str(path), "--json", "--no-label-check"])
    assert result.exit_code == 0, result.output
    shape = json.loads(result.stdout)["sections"][0]
    assert shape["status"] == "error" and shape["counts"]["unreadable_rows"] == 2
    assert [p["detail"].split(":")[0] for p in shape["problems"]] == ["line 4", "line 9"]
    assert [p["row"] for p in shape["problems"]] == [3, 8]


def _fasttext_multilabel(path: Path, relabel: dict[int, list[str]] | None = None) -> Path:
    """90 fastText lines: every third sport and tech, the rest food; `relabel`: rows (0-based) given other labels."""
    rng = np.random.default_rng(2)
    lines = []
    for i in range(90):
        labs = ["sport", "tech"] if i % 3 == 0 else ["food"]
        words = [w for x in labs for w in rng.choice(VOCAB[x], 4, replace=False)]
        lines.append(" ".join(f"__label__{x}" for x in (relabel or {}).get(i, labs)) + " " + " ".join(words))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_check_multilabel_fasttext(tmp_path: Path) -> None:
    path = _fasttext_multilabel(tmp_path / "d.txt")
    result = runner.invoke(app, ["check", str(path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["multi_label"] is True
    assert {s["name"] for s in report["sections"]} == {"Shape", "Duplicates", "Label issues"}


def test_check_multilabel_write_clean_keeps_label_issues_unless_asked(tmp_path: Path) -> None:
    path = _fasttext_multilabel(tmp_path / "d.txt", relabel={4: ["tech"]})  # a food text tagged tech
    kept = {}
    for extra in ([], ["--clean-threshold", "0"]):
        out = tmp_path / f"out{len(extra)}"
        result = runner.invoke(app, ["check", str(path), "--out", str(out), "--write-clean", *extra])
        assert result.exit_code == 0, result.output
        with open(out / "problems.csv", encoding="utf-8") as f:
            flagged = {int(p["row"]) for p in csv.DictReader(f) if p["problem"] == "label issue"}
        with open(out / "clean.csv", encoding="utf-8") as f:
            kept[len(extra)] = len(list(csv.DictReader(f)))
        assert 5 in flagged  # the food text tagged tech (row 5, 1-based)
    assert kept[0] == 90 and kept[2] == 90 - len(flagged)
    assert "--write-clean keeps them" in runner.invoke(app, ["check", str(path)], env={"COLUMNS": "200"}).output


@pytest.mark.parametrize("case", ["missing", "no_label", "one_class", "one_row", "clean_without_out"])
def test_check_bad_input_is_one_error_line(tmp_path: Path, case: str) -> None:
    args = ["check", str(tmp_path / "nope.csv")]
    if case == "no_label":
        args[1] = str(write_csv(tmp_path / "d.csv", clean_rows(5), header=("text", "whatever")))
    elif case == "one_class":
        args[1] = str(write_csv(tmp_path / "d.csv", [(t, "x") for t, _ in clean_rows(5)]))
    elif case == "one_row":
        args[1] = str(write_csv(tmp_path / "d.csv", [("just one", "x")]))
    elif case == "clean_without_out":
        args = ["check", str(write_csv(tmp_path / "d.csv", clean_rows(5))), "--write-clean"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output


def test_quick_warnings_for_train(tmp_path: Path) -> None:
    rows = clean_rows(10)
    data = write_csv(tmp_path / "train.csv", rows + [(rows[0][0], "food"), (rows[1][0], rows[1][1])])
    test = write_csv(tmp_path / "test.csv", [rows[2], ("new text here", "tech")])
    lines = quick_warnings(data, None, test)
    assert len(lines) == 3
    assert "2 rows repeat" in lines[0] and "1 texts appear with different labels" in lines[1]
    assert lines[2].startswith("1 test text is also a training text")
    assert quick_warnings(write_csv(tmp_path / "ok.csv", rows), None, None) == []
    assert quick_warnings(tmp_path / "missing.csv", None, None) == []


def test_train_prints_one_warning_per_data_problem(train_csv: Path, tmp_path: Path) -> None:
    from tests.conftest import ROWS, TINY

    test = write_csv(tmp_path / "test.csv", ROWS[:4])
    result = runner.invoke(app, ["train", str(train_csv), "--test", str(test), "--out", str(tmp_path / "m"), *TINY])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2, result.output
    assert "48 rows repeat" in warnings[0] and "4 test texts are also training texts" in warnings[1]


# --deep: label issues judged by cross-fitted networks (tiny networks, 3 folds)

DEEP_TINY = ["--deep", "--folds", "3", "--embedding-dim", "16", "--hidden-size", "16", "--epochs", "4",
             "--batch-size", "8", "--pretrain", "off"]


def test_check_deep_finds_flipped_rows(tmp_path: Path) -> None:
    rows = clean_rows(20)
    rows[3] = (rows[3][0], "tech")  # a sport text labelled tech (rows 0-19: sport, 20-39: food, 40-59: tech)
    rows[25] = (rows[25][0], "sport")  # a food text labelled sport
    data = write_csv(tmp_path / "train.csv", rows)
    out = tmp_path / "checked"
    result = runner.invoke(app, ["check", str(data), "--json", "--out", str(out), "--write-clean", *DEEP_TINY])
    assert result.exit_code == 0, result.output
    section = {s["name"]: s for s in json.loads(result.stdout)["sections"]}["Label issues"]
    assert section["counts"]["model"] == "deep"
    assert "leaves out those scoring >= 0.3" in section["verdict"]  # --deep's default clean threshold
    flagged = {p["row"]: p for p in section["problems"]}
    assert {4, 26} <= set(flagged), flagged
    assert flagged[4]["suggested"] == "sport" and flagged[26]["suggested"] == "food"
    assert flagged[4]["detail"] == "cross-fitted networks + linear model"
    assert len(flagged) <= 6  # precision: 2 flips among 60 rows
    with open(out / "clean.csv", encoding="utf-8") as f:
        texts = [r["text"] for r in csv.DictReader(f)]
    assert rows[3][0] not in texts and rows[25][0] not in texts


def test_check_deep_multilabel(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    lines = []
    for i in range(90):
        labs = ["sport", "tech"] if i % 3 == 0 else ["food"]
        if i in (4, 7):
            labs = ["food", "tech"]  # food texts that gained a tag
        topics = ["sport", "tech"] if i % 3 == 0 else ["food"]
        words = [w for x in topics for w in rng.choice(VOCAB[x], 4, replace=False)]
        lines.append(" ".join(f"__label__{x}" for x in labs) + " " + " ".join(words))
    path = tmp_path / "d.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["check", str(path), "--json", *DEEP_TINY])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    section = {s["name"]: s for s in report["sections"]}["Label issues"]
    assert report["multi_label"] and section["counts"]["model"] == "deep"
    assert {(p["row"], p["suggested"]) for p in section["problems"]} == {(5, "food"), (8, "food")}


def test_check_deep_ctrl_c_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from textrnn.cli import check as cli_check

    def stop_in_fold_2(self, epoch: int, epochs: int, batches: int) -> None:
        if self.fold == "Fold 2 of 3":
            raise KeyboardInterrupt  # what Ctrl-C (SIGINT) raises in the main thread

    monkeypatch.setattr(cli_check.DeepProgress, "on_epoch_start", stop_in_fold_2)
    data = write_csv(tmp_path / "train.csv", clean_rows(10))
    out = tmp_path / "checked"
    result = runner.invoke(app, ["check", str(data), "--out", str(out), "--write-clean", *DEEP_TINY])
    assert result.exit_code == 130, result.output
    assert "nothing was saved" in result.output and "Fold 2 of 3" in result.output
    assert not out.exists()


def test_check_deep_bad_folds_is_one_error_line(tmp_path: Path) -> None:
    rows = clean_rows(10) + [("a lonely text about nothing", "other"), ("another lonely one", "other")]
    result = runner.invoke(app, ["check", str(write_csv(tmp_path / "d.csv", rows)), *DEEP_TINY])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "'other' has 2" in lines[0], result.output


def test_clean_threshold_default_keeps_multi_label_issues() -> None:
    from textrnn.checks import CheckOptions
    from textrnn.checks.run import clean_threshold

    assert clean_threshold(CheckOptions()) == 0.0
    assert clean_threshold(CheckOptions(deep=True)) == lab.DEEP_CLEAN_THRESHOLD
    assert clean_threshold(CheckOptions(deep=True, clean_threshold=0.0)) == 0.0
    assert clean_threshold(CheckOptions(), multi_label=True) is None
    assert clean_threshold(CheckOptions(clean_threshold=0.5), multi_label=True) == 0.5


def test_a_multi_label_row_that_should_lose_every_label_shows_no_label() -> None:
    from textrnn.checks.findings import Problem
    from textrnn.views.check import _side

    drop_all = Problem("train", 3, "some text", "a|b", "label issue", suggested="", score=0.9,
                       detail="out-of-fold model")
    assert _side(drop_all) == "(no label)"
    assert _side(Problem("train", 4, "t", "a", "exact duplicate", detail="row 2")) == "row 2"
