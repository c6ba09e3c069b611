"""textrnn tune: the budget holds, the best trial's model is saved with every trial, given options stay
fixed, the same seed gives the same search, pruning and the per-trial time cap work."""

from __future__ import annotations

import time

import pytest
from typer.testing import CliRunner

from tests.conftest import ROWS, metadata, write_csv
from textrnn.cli import app
from textrnn.errors import ConfigError

pytest.importorskip("optuna")
runner = CliRunner()
SMALL = ["--epochs", "3", "--batch-size", "8"]


@pytest.fixture
def data(tmp_path):
    return write_csv(tmp_path / "train.csv", ROWS * 3)


def tune(*args):
    return runner.invoke(app, ["tune", *[str(a) for a in args]])


def test_a_search_keeps_the_best_trial_and_records_every_trial(data, tmp_path):
    t0 = time.perf_counter()
    result = tune(data, "--budget", "40s", "--trials", "3", *SMALL, "--hidden-size", "16", "--embedding-dim", "16",
                  "--out", tmp_path / "m")
    assert result.exit_code == 0, result.output
    assert time.perf_counter() - t0 < 60
    meta = metadata(tmp_path / "m")
    tuning = meta.tuning
    assert len(tuning.trials) == 3 and tuning.stopped == "trials" and tuning.fixed == (
        "batch_size", "embedding_dim", "epochs", "hidden_size")
    first = tuning.trials[0].params  # the default recipe comes first
    assert first["lr"] == 0.002 and first["cell"] == "lstm" and first["pretrain"] == "on"  # the default recipe
    best = max((t for t in tuning.trials if t.val_score is not None), key=lambda t: (t.val_score, -t.val_loss))
    assert tuning.best_trial == best.number
    assert meta.training.history[meta.training.best_epoch - 1].val_score == pytest.approx(best.val_score)
    for name in ("hidden_size", "embedding_dim", "batch_size"):  # given: fixed, never searched
        assert all(name not in t.params for t in tuning.trials)
    assert meta.settings.model.hidden_size == 16 and meta.settings.train.batch_size == 8
    report = runner.invoke(app, ["report", "--model", str(tmp_path / "m")], env={"COLUMNS": "160"})
    assert report.exit_code == 0 and "Search: best of 3 trials" in report.stdout and "fixed by you" in report.stdout


def test_the_same_seed_gives_the_same_search(data, tmp_path):
    from textrnn.config import InitConfig, ModelConfig, Settings, TrainConfig
    from textrnn.training.tune import tune_model

    settings = Settings(model=ModelConfig(hidden_size=8, embedding_dim=8), train=TrainConfig(epochs=2, seed=3),
                        init=InitConfig(pretrain="off"))  # given, so never searched (and a quick test)
    runs = [tune_model(data, budget=120, out=tmp_path / name, settings=settings, trials=3,
                       fixed=("hidden_size", "embedding_dim", "epochs", "pretrain"), make_default=False)
            for name in ("a", "b")]
    params = [[t.params for t in run.metadata.tuning.trials] for run in runs]
    assert params[0] == params[1] and params[0][1] != params[0][0]
    assert all("pretrain" not in p for p in params[0]) and not runs[0].metadata.pretrained


def test_pruning_and_the_time_cap(data):

    from textrnn.config import ModelConfig, Settings, TrainConfig
    from textrnn.training.splits import read_splits
    from textrnn.training.tune import _Best, _run_trial

    splits = read_splits(data, None, None, Settings(), cross_fit=False)  # as tune reads them
    settings = Settings(model=ModelConfig(hidden_size=8, embedding_dim=8), train=TrainConfig(epochs=3))

    class Trial:
        number = 0

        def __init__(self, prune):
            self.prune = prune

        def report(self, value, step):
            pass

        def should_prune(self):
            return self.prune

    best = _Best()
    pruned = _run_trial(Trial(True), {}, splits, settings, 60.0, {}, None, best, lambda s: None)
    assert pruned.state == "pruned" and pruned.epochs == 1 and best.fitted is None
    late = _run_trial(Trial(False), {}, splits, settings, -1.0, {}, None, best, lambda s: None)
    assert late.state == "failed" and late.epochs == 0 and best.fitted is None  # no epoch before the deadline
    done = _run_trial(Trial(False), {}, splits, settings, 60.0, {}, None, best, lambda s: None)
    assert done.state == "complete" and done.epochs == 3 and best.fitted is not None and best.trial == 0


def test_a_budget_too_small_for_one_trial_is_one_clear_line(data, tmp_path):
    result = tune(data, "--budget", "1s", "--out", tmp_path / "m")
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "too small for one trial" in errors[0] and not (tmp_path / "m").exists()


@pytest.mark.parametrize("text, seconds", [("10m", 600), ("90s", 90), ("1.5h", 5400), ("45", 45)])
def test_budgets_read_as_people_write_them(text, seconds):
    from textrnn.training.tune import parse_budget

    assert parse_budget(text) == seconds
    with pytest.raises(ConfigError, match="budget must look like"):
        parse_budget("ten minutes")
