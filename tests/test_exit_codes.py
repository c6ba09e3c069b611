"""One exit-code rule for every command (README, Commands): 1 for bad data, models and option values,
whoever checks them (the option parser: a bad choice, a number out of range or not a number; or the
library), 2 only for a command line that does not parse (an unknown option, a missing argument or
option value). Each case: exactly one `error:` line naming the problem, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from textrnn.cli import app

runner = CliRunner()

# (command line, what the error line says); {data} is a labelled CSV, {model} a trained model
BAD_VALUES = {
    # a choice that is not one of the choices
    "train --cell": (["train", "{data}", "--cell", "transformer"], "--cell"),
    "train --tokenizer": (["train", "{data}", "--tokenizer", "sentencepiece"], "--tokenizer"),
    "tune --pooling": (["tune", "{data}", "--pooling", "attention"], "--pooling"),
    "pretrain --cell": (["pretrain", "{data}", "--out", "{tmp}/lm", "--cell", "cnn"], "--cell"),
    "predict --device": (["predict", "--device", "tpu", "x"], "--device"),
    "predict --precision": (["predict", "--precision", "fp8", "x"], "--precision"),
    "evaluate --device": (["evaluate", "{data}", "--device", "tpu"], "--device"),
    "bench --device": (["bench", "--device", "tpu"], "--device"),
    # a number out of range
    "train --nproc": (["train", "{data}", "--nproc", "0"], "--nproc"),
    "tune --trials": (["tune", "{data}", "--trials", "0"], "--trials"),
    "predict --top-k": (["predict", "--top-k", "0", "x"], "--top-k"),
    "predict --min-labels": (["predict", "--min-labels", "-1", "x"], "--min-labels"),
    "inspect --units": (["inspect", "--units", "0", "x"], "--units"),
    "export --max-drop": (["export", "--int8", "--max-drop", "-1"], "--max-drop"),
    "bench --limit": (["bench", "--limit", "0"], "--limit"),
    "serve --port": (["serve", "--port", "99999"], "--port"),
    # not a number
    "train --epochs": (["train", "{data}", "--epochs", "many"], "--epochs"),
    "pretrain --epochs": (["pretrain", "{data}", "--out", "{tmp}/lm", "--epochs", "x"], "--epochs"),
    "predict --threads": (["predict", "--threads", "two", "x"], "--threads"),
    "serve --workers": (["serve", "--workers", "1.5"], "--workers"),
    # values the library checks
    "train --val-split": (["train", "{data}", "--val-split", "0.95"], "val_split"),
    "tune --budget": (["tune", "{data}", "--budget", "soon"], "budget"),
    "pretrain --val-share": (["pretrain", "{data}", "--out", "{tmp}/lm", "--val-share", "0.9"], "val_share"),
    "predict --json --csv": (["predict", "--json", "--csv", "x"], "--json and --csv"),
    # missing or unreadable data and models
    "train missing data": (["train", "{tmp}/missing.csv"], "does not exist"),
    "train a folder as data": (["train", "{tmp}"], "unknown file type"),
    "tune missing data": (["tune", "{tmp}/missing.csv"], "does not exist"),
    "pretrain missing texts": (["pretrain", "{tmp}/missing.txt", "--out", "{tmp}/lm"], "does not exist"),
    "evaluate missing data": (["evaluate", "{tmp}/missing.csv", "--model", "{model}"], "does not exist"),
    "predict missing file": (["predict", "--model", "{model}", "--file", "{tmp}/missing.txt"], "does not exist"),
    "predict missing model": (["predict", "--model", "{tmp}/nowhere", "x"], "does not exist"),
    "report missing model": (["report", "--model", "{tmp}/nowhere"], "does not exist"),
    "inspect missing model": (["inspect", "--model", "{tmp}/nowhere", "x"], "does not exist"),
    "export missing model": (["export", "--model", "{tmp}/nowhere"], "does not exist"),
}

BAD_COMMAND_LINES = {
    "unknown option": (["train", "{data}", "--hiden-size", "3"], "No such option"),
    "unknown option, predict": (["predict", "--bogus", "x"], "No such option"),
    "missing argument": (["train"], "Missing argument"),
    "missing argument, evaluate": (["evaluate"], "Missing argument"),
    "missing option value": (["train", "{data}", "--epochs"], "requires an argument"),
    "missing required option": (["pretrain", "{data}"], "Missing option"),
    "unknown command": (["trian", "{data}"], "No such command"),
}


def _run(args: list[str], tmp_path, train_csv, trained_model):
    values = {"data": str(train_csv), "tmp": str(tmp_path), "model": str(trained_model)}
    return runner.invoke(app, [a.format(**values) for a in args])


def _one_error_line(result) -> str:
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    return errors[0]


@pytest.mark.parametrize("name", list(BAD_VALUES))
def test_a_bad_value_exits_1(name, tmp_path, train_csv, trained_model):
    args, message = BAD_VALUES[name]
    result = _run(args, tmp_path, train_csv, trained_model)
    assert result.exit_code == 1, result.output
    assert message in _one_error_line(result)
    assert not (tmp_path / "lm").exists()


@pytest.mark.parametrize("name", list(BAD_COMMAND_LINES))
def test_a_command_line_that_does_not_parse_exits_2(name, tmp_path, train_csv, trained_model):
    args, message = BAD_COMMAND_LINES[name]
    result = _run(args, tmp_path, train_csv, trained_model)
    assert result.exit_code == 2, result.output
    assert message in _one_error_line(result)


@pytest.mark.parametrize("args", [["predict", "--top-k", "0", "x"], ["predict", "--device", "tpu", "x"],
                                  ["predict", "--threads", "²", "x"]])
def test_the_fast_predict_path_follows_the_same_rule(args, trained_model):
    """`textrnn predict` on a simple command line runs without typer (textrnn/entry.py): a value it
    does not take goes to typer, which says why and exits 1, as every other command."""
    proc = subprocess.run([sys.executable, "-m", "textrnn", *args[:1], "--model", str(trained_model), *args[1:]],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert [line for line in proc.stderr.splitlines() if line.startswith("error:")], proc.stderr
