"""Cross-fitted training (`train --folds K`): fold assignment, the choice of K, the fit (every text
predicted out of fold, the refit, Ctrl-C), and the CLI end to end on a tiny model."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.conftest import ROWS, TINY, metadata, write_csv
from tests.test_training import TASK, _InterruptAt, _toy
from textrnn.cli import app
from textrnn.config import ModelConfig, TrainConfig
from textrnn.data import Dataset
from textrnn.data.folds import AUTO_FOLDS, AUTO_MAX_TEXTS, choose_folds, fold_of_each_text
from textrnn.errors import ConfigError
from textrnn.model import TextClassifier
from textrnn.training.crossfit import FOLD_PATIENCE_STEPS, fit_folds, fold_patience, refit_epochs
from textrnn.training.loop import FitResult, fit

runner = CliRunner()
# TINY ends with "--folds 1" (the suite's default); these tests give their own
TINY_NETWORK = TINY[:-2]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_single_label_folds_are_stratified_and_cover_every_text():
    labels = ["a"] * 50 + ["b"] * 30 + ["c"] * 20
    folds = fold_of_each_text(Dataset([f"t{i}" for i in range(100)], labels), 5, seed=0)
    assert sorted(set(folds)) == [0, 1, 2, 3, 4]
    for label, count in (("a", 10), ("b", 6), ("c", 4)):  # every fold holds a fifth of each class
        per_fold = np.bincount(folds[np.array(labels) == label], minlength=5)
        assert (per_fold == count).all()
    assert (fold_of_each_text(Dataset([f"t{i}" for i in range(100)], labels), 5, seed=0) == folds).all()


def test_multi_label_folds_spread_every_label_by_iterative_stratification():
    rng = np.random.default_rng(1)
    names = [f"l{j}" for j in range(8)]
    labels = [tuple(sorted({names[j] for j in rng.choice(8, rng.integers(0, 3), replace=False)})) for _ in range(300)]
    data = Dataset([f"t{i}" for i in range(300)], labels, multi_label=True)
    folds = fold_of_each_text(data, 4, seed=0)
    assert (np.bincount(folds, minlength=4) >= 300 // 4 - 2).all()  # sizes within a couple of texts
    for name in names:
        holding = [folds[i] for i, x in enumerate(labels) if name in x]
        per_fold = np.bincount(holding, minlength=4)
        assert per_fold.max() - per_fold.min() <= 1, (name, per_fold)  # each label as even as its count allows


def test_auto_folds_by_data_size_and_a_validation_file():
    small = Dataset([f"t{i}" for i in range(100)], ["a", "b"] * 50)
    big = Dataset([f"t{i}" for i in range(AUTO_MAX_TEXTS)], ["a", "b"] * (AUTO_MAX_TEXTS // 2))
    assert choose_folds("auto", small, has_val_file=False) == (AUTO_FOLDS, None)
    assert choose_folds("auto", small, has_val_file=True) == (1, None)  # --val keeps its meaning
    assert choose_folds("auto", big, has_val_file=False) == (1, None)
    assert choose_folds("3", big, has_val_file=True) == (3, None)


def test_auto_folds_fall_back_visibly_when_a_class_is_rarer_than_the_folds():
    three = Dataset([f"t{i}" for i in range(53)], ["a"] * 50 + ["b"] * 3)
    k, note = choose_folds("auto", three, has_val_file=False)
    assert k == 3 and "'b' has only 3 texts" in note
    one = Dataset([f"t{i}" for i in range(51)], ["a"] * 50 + ["b"])
    k, note = choose_folds("auto", one, has_val_file=False)
    assert k == 1 and "one validation split" in note


@pytest.mark.parametrize(("value", "message"), [
    ("0", "at least 1"), ("-2", "at least 1"), ("five", "auto or a whole number"), ("6", "class 'b' has 5"),
])
def test_bad_folds_are_config_errors(value, message):
    data = Dataset([f"t{i}" for i in range(55)], ["a"] * 50 + ["b"] * 5)
    with pytest.raises(ConfigError, match=message):
        choose_folds(value, data, has_val_file=False)


def test_a_fit_without_validation_runs_every_epoch_and_keeps_the_last():
    ids, y = _toy()
    model = TextClassifier(ModelConfig(embedding_dim=8, hidden_size=8), 30, 2)
    result = fit(model, TASK, ids, y, [], y[:0], TrainConfig(epochs=4, patience=1))
    assert len(result.history) == 4 and result.best_epoch == 4 and result.stopped == "completed"


def _make():
    return TextClassifier(ModelConfig(embedding_dim=8, hidden_size=8), 30, 2)


def test_every_text_is_predicted_by_the_network_that_did_not_see_it():
    ids, y = _toy()
    folds = np.arange(len(ids)) % 3
    config = TrainConfig(epochs=3, patience=3, batch_size=16)
    fitted = fit_folds(_make, TASK, ids, y, folds, config, "refit")
    assert len(fitted.folds) == 3 and fitted.kept == "refit"
    assert fitted.refit_epochs == refit_epochs(fitted.folds)
    assert len(fitted.fits[0].history) == fitted.refit_epochs  # the refit ran its epochs, no validation
    np.testing.assert_allclose(fitted.oof.sum(1), 1.0, rtol=1e-5)
    # fold 0's rows, predicted again by the same recipe trained without them, match the OOF rows
    from textrnn.training.batches import member_seed
    from textrnn.training.loop import fit_members, predict_logits

    held, train = np.flatnonzero(folds == 0), np.flatnonzero(folds != 0)
    models, _ = fit_members(_make, 1, TASK, [ids[j] for j in train], y[train], [ids[j] for j in held], y[held],
                            TrainConfig(epochs=3, patience=3, batch_size=16, seed=member_seed(0, 0, 3)))
    again = TASK.probabilities(predict_logits(models[0], [ids[j] for j in held]))
    np.testing.assert_allclose(fitted.oof[held], again, atol=1e-6)


def test_members_keep_the_fold_networks():
    ids, y = _toy()
    fitted = fit_folds(_make, TASK, ids, y, np.arange(len(ids)) % 2, TrainConfig(epochs=2, batch_size=16), "members")
    assert fitted.kept == "members" and len(fitted.network.members) == 2 and fitted.refit_epochs is None


def test_refit_epochs_is_the_median_best_epoch():
    assert refit_epochs([FitResult(best_epoch=e) for e in (2, 118, 36, 11, 13)]) == 13


def test_a_fold_network_waits_half_the_small_data_patience_unless_told():
    config = TrainConfig(batch_size=32)
    assert fold_patience(config, 400) == -(-FOLD_PATIENCE_STEPS // 13) == 24  # 13 steps an epoch
    assert fold_patience(config, 50_000) == 4  # AUTO_PATIENCE: plenty of steps per epoch
    assert fold_patience(TrainConfig(patience=7), 400) == 7


def test_ctrl_c_in_a_fold_keeps_nothing_and_says_why():
    ids, y = _toy()
    stages = []

    class Stop(_InterruptAt):
        def on_stage(self, name):
            stages.append(name)

    with pytest.raises(KeyboardInterrupt):
        fit_folds(_make, TASK, ids, y, np.arange(len(ids)) % 3, TrainConfig(epochs=2, batch_size=16), "refit",
                  Stop(1))
    assert any("Interrupted in fold 1 of 3: nothing is kept" in s for s in stages)


def test_train_with_folds_end_to_end(tmp_path, monkeypatch):
    from textrnn.training import tfidf

    monkeypatch.setattr(tfidf, "ALPHAS", np.array([0.5]))  # the network keeps a share: it is refitted
    data = write_csv(tmp_path / "train.csv", ROWS * 3)
    test = write_csv(tmp_path / "test.csv", ROWS)
    out = tmp_path / "m"
    result = invoke("train", data, "--test", test, "--out", out, *TINY_NETWORK, "--folds", "3")
    assert result.exit_code == 0, result.output
    assert "3 folds, best epochs" in result.stdout and "cross-validated accuracy" in result.stdout
    meta = metadata(out)
    assert len(meta.training.folds) == 3 and meta.training.fold_model == "refit" and meta.training.refit_epochs
    assert meta.data["val"].source == "cross-validated (3 folds of train)"
    assert meta.data["train"].rows == meta.results["val"].metrics.n == len(ROWS) * 3  # every text validated
    report = runner.invoke(app, ["report", "--model", str(out)], env={"COLUMNS": "100"})
    assert report.exit_code == 0, report.output
    for phrase in ("Cross-fitting", "Folds: 3 networks", "Cross-validated"):
        assert phrase in report.stdout, phrase
    predicted = invoke("predict", "--model", out, "--json", "a wonderful film")
    assert predicted.exit_code == 0 and json.loads(predicted.stdout.splitlines()[0])["label"] in ("pos", "neg",
                                                                                                   "neutral")


def test_no_refit_where_the_mix_gives_the_network_no_share(tmp_path, monkeypatch):
    from textrnn.training import tfidf

    monkeypatch.setattr(tfidf, "ALPHAS", np.array([1.0]))  # the TF-IDF model takes the whole share
    data = write_csv(tmp_path / "train.csv", ROWS * 3)
    out = tmp_path / "m"
    result = invoke("train", data, "--out", out, *TINY_NETWORK, "--folds", "3")
    assert result.exit_code == 0, result.output
    assert "Refitting" not in result.output and "no refit" in result.output
    meta = metadata(out)
    assert meta.linear.alpha == 1.0 and meta.training.fold_model == "first fold"
    assert meta.training.refit_epochs is None and len(meta.training.folds) == 3
    assert meta.results["val"].metrics.n == len(ROWS) * 3  # still every text validated out of fold
    report = runner.invoke(app, ["report", "--model", str(out)], env={"COLUMNS": "100"})
    assert report.exit_code == 0 and "the linear model alone" in " ".join(report.stdout.split())
    assert invoke("predict", "--model", out, "a dull film").exit_code == 0


def test_fold_members_are_one_graph_that_predicts(tmp_path):
    data = write_csv(tmp_path / "train.csv", ROWS * 3)
    out = tmp_path / "m"
    result = invoke("train", data, "--out", out, *TINY_NETWORK, "--folds", "2", "--fold-model", "members")
    assert result.exit_code == 0, result.output
    meta = metadata(out)
    assert meta.members == 2 and meta.training.fold_model == "members"
    assert invoke("predict", "--model", out, "a dull film").exit_code == 0


def test_folds_with_a_validation_file_keep_it_as_a_held_out_check(tmp_path):
    data = write_csv(tmp_path / "train.csv", ROWS * 3)
    val = write_csv(tmp_path / "val.csv", ROWS)
    out = tmp_path / "m"
    result = invoke("train", data, "--val", val, "--out", out, *TINY_NETWORK, "--folds", "2")
    assert result.exit_code == 0, result.output
    meta = metadata(out)
    assert len(meta.training.folds) == 2 and meta.data["val"].source == "file"
    assert meta.results["val"].metrics.n == len(ROWS)


@pytest.mark.parametrize(("folds", "message"), [("0", "--folds must be at least 1"),
                                                ("10", "needs at least 10 texts of each class")])
def test_bad_folds_on_the_command_line(tmp_path, folds, message):
    data = write_csv(tmp_path / "train.csv", ROWS)  # 8 texts per class
    out = tmp_path / "m"
    result = invoke("train", data, "--out", out, *TINY_NETWORK, "--folds", folds)
    assert result.exit_code == 1 and message in result.output
    assert "Traceback" not in result.output and not out.exists()


def test_a_distilled_network_learns_from_soft_targets():
    ids, y = _toy()
    fitted = fit_folds(_make, TASK, ids, y, np.arange(len(ids)) % 2, TrainConfig(epochs=2, batch_size=16),
                       "distilled")
    assert fitted.kept == "distilled" and fitted.refit_epochs and len(fitted.fits[0].history) == fitted.refit_epochs
    soft = np.array([[0.7, 0.3], [0.2, 0.8]], dtype=np.float32)
    assert TASK.target_tensor(soft).dtype.is_floating_point  # cross-entropy against probabilities
