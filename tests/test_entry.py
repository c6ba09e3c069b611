"""The `textrnn` entry point: the one-text fast path loads no typer, rich or torch and prints what typer prints."""

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from textrnn import entry, text
from textrnn.cli import app


@pytest.mark.parametrize("argv, fast", [
    (["predict", "a text"], True),
    (["predict", "--model", "m", "--json", "--top-k", "2", "a", "b"], True),
    (["predict", "--csv", "--precision=fp32", "--threads", "1", "--device", "cpu", "x"], True),
    (["predict", "--device", "cuda", "x"], False),  # the typer path reports the provider and errors
    (["predict", "--file", "f.txt"], False),
    (["predict", "-"], False),
    (["predict", "--help"], False),
    (["predict", "--json", "--csv", "x"], False),
    (["predict", "--top-k", "0", "x"], False),
    (["predict", "--top-k", "\u00b2", "x"], False),  # a digit to str.isdigit, not to int()
    (["predict", "--threads", "\u00b2", "x"], False),
    (["predict", "--model"], False),
    (["predict", ""], False),
    (["predict"], False),
    (["train", "data.csv"], False),
    ([], False),
])
def test_which_command_lines_take_the_fast_path(argv, fast):
    assert (entry.parse_fast_predict(argv) is not None) is fast


@pytest.mark.parametrize("extra", [[], ["--json"], ["--csv", "--top-k", "2"], ["--top-k", "3"]])
def test_fast_path_prints_what_the_typer_path_prints(trained_model, extra, capsys):
    argv = ["predict", "--model", str(trained_model), *extra, "a fine film", "dull , boring"]
    assert entry.fast_predict(entry.parse_fast_predict(argv))
    fast = capsys.readouterr().out
    slow = CliRunner().invoke(app, argv, env={"COLUMNS": "100"})
    assert slow.exit_code == 0 and fast.replace(" ", "") == slow.stdout.replace(" ", "")


def test_fast_path_leaves_errors_to_typer(tmp_path, capsys):
    assert entry.fast_predict(entry.parse_fast_predict(["predict", "--model", str(tmp_path), "x"])) is False
    assert capsys.readouterr().out == ""


def test_one_text_predict_loads_no_typer_rich_or_torch(trained_model):
    code = ("import sys\n"
            f"sys.argv = ['textrnn', 'predict', '--model', {str(trained_model)!r}, 'a fine film']\n"
            "from textrnn.entry import main\n"
            "main()\n"
            "print(sorted(m for m in ('typer', 'rich', 'torch', 'pydantic', 'sklearn') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "a fine film" in out.stdout and out.stdout.strip().endswith("[]")


def test_fit_cuts_to_terminal_cells():
    assert text.fit("abcdef", 4) == "abc…"
    assert text.fit("ab", 4) == "ab  "
    assert text.fit("日本語です", 5) == "日本…"  # wide characters take two cells
    assert text.fit("line\nbreak", 10) == "line break"
