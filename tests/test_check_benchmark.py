"""benchmarks/check.py's payoff bookkeeping: each training's score is stored under its set, seed,
train version and data, one invocation runs only the trainings it is asked for that are not stored
yet, and a score of another train version is never reused."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import ROWS, write_csv

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture
def bench(tmp_path, monkeypatch):
    """benchmarks/check.py as a module, reading a tiny set 'tiny' and training nothing: the fake
    train scores clean, noisy and cleaned data 0.9, 0.8 and 0.85 and records each call."""
    monkeypatch.syspath_prepend(str(BENCH))
    spec = importlib.util.spec_from_file_location("check_bench", BENCH / "check.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "check_bench", module)
    spec.loader.exec_module(module)
    (tmp_path / "sets" / "tiny").mkdir(parents=True)
    write_csv(tmp_path / "sets" / "tiny" / "train.csv", ROWS * 3)
    write_csv(tmp_path / "sets" / "tiny" / "test.csv", ROWS)
    monkeypatch.setattr(module, "SHARED", tmp_path / "sets")
    monkeypatch.setattr(module, "train_version", lambda: "abc1234")
    calls: list[str] = []

    def fake_train(path, **kwargs):
        calls.append(Path(path).name)
        score = {"clean-in.csv": 0.9, "noisy.csv": 0.8, "clean.csv": 0.85}[Path(path).name]
        return SimpleNamespace(test=SimpleNamespace(accuracy=score))

    import textrnn.training.job as job

    monkeypatch.setattr(job, "train_model", fake_train)
    return module, calls


def test_payoff_runs_only_the_steps_asked_and_not_stored(bench, monkeypatch):
    module, calls = bench
    store: dict = {}
    module.payoff("tiny", 1000, 0, store, steps=("clean",))
    assert calls == ["clean-in.csv"]
    assert list(store["trainings"]) == ["tiny/s0/abc1234/clean"]
    assert module.payoff_rows(store) == []  # no cleaning yet: no row

    module.payoff("tiny", 1000, 0, store)  # the default steps: clean is stored, the other two run
    assert calls == ["clean-in.csv", "noisy.csv", "clean.csv"]
    (row,) = module.payoff_rows(store)
    assert (row["clean"], row["noisy"], row["cleaned"]) == (0.9, 0.8, 0.85)
    assert row["recovered"] == pytest.approx(0.5)
    assert row["train"] == "abc1234" and row["left_out"]["flagged"] == row["rows"] - row["cleaned_rows"]

    module.payoff("tiny", 1000, 0, store, threshold=0.3)  # another cleaning reuses clean and noisy
    assert calls[3:] == ["clean.csv"]
    assert len(module.payoff_rows(store)) == 2

    module.payoff("tiny", 1000, 1, store, steps=("noisy",))  # another seed is another noise: trained again
    assert calls[4:] == ["noisy.csv"]

    monkeypatch.setattr(module, "train_version", lambda: "def5678")  # a newer train: nothing reused
    module.payoff("tiny", 1000, 0, store, steps=("cleaned",))
    assert calls[5:] == ["clean.csv"]
    newer = [r for r in module.payoff_rows(store) if r["train"] == "def5678"]
    assert len(newer) == 1 and newer[0]["clean"] is None and newer[0]["recovered"] is None
    assert "- | - | 0.8500 | - |" in module.markdown(store)



def test_payoff_ceiling_leaves_out_exactly_the_flipped_rows(bench):
    module, calls = bench
    store: dict = {}
    result = module.payoff("tiny", 1000, 0, store, rule="flipped", steps=("cleaned",))
    assert calls == ["clean.csv"]
    assert result["left_out"]["precision"] == result["left_out"]["recall"] == 1.0
    assert result["cleaned_rows"] == result["rows"] - round(0.1 * result["rows"])


def test_payoff_half_flipped_leaves_out_half_the_flipped_rows(bench):
    module, calls = bench
    result = module.payoff("tiny", 1000, 0, {}, rule="half-flipped", steps=("cleaned",))
    assert calls == ["clean.csv"]
    flipped = round(0.1 * result["rows"])
    assert result["left_out"]["precision"] == 1.0 and result["left_out"]["flagged"] == flipped // 2
    assert result["cleaned_rows"] == result["rows"] - flipped // 2

