"""End to end through the CLI: a tiny model really trained, then predict, evaluate, report, bad input."""

import json
import re
import shutil

import pytest
from typer.testing import CliRunner

from tests.conftest import ROWS, TINY, metadata, write_csv
from textrnn.cli import app
from textrnn.folder import ModelFolder, store

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_train_writes_a_complete_model_and_sets_the_default(train_csv, models_root):
    result = invoke("train", train_csv, *TINY, "--cell", "gru", "--seed", "3")
    assert result.exit_code == 0, result.output
    assert "Saved" in result.stdout and "val accuracy" in result.stdout
    model_dir = store.default_model()
    assert model_dir.parent == models_root and model_dir.name.startswith("train-")
    for name in (store.ONNX_FILE, store.TOKENIZER_FILE, store.WEIGHTS_FILE, store.METADATA_FILE):
        assert (model_dir / name).is_file()
    folder = ModelFolder.open(model_dir)
    meta = folder.metadata
    assert meta.labels == ("neg", "neutral", "pos") and meta.task.kind == "single_label"
    assert meta.settings.model.cell == "gru" and meta.settings.train.seed == 3
    assert len(meta.training.history) == 3 and 1 <= meta.training.best_epoch <= 3
    assert meta.data["train"].rows + meta.data["val"].rows == len(ROWS) * 3
    assert len(meta.data["train"].sha256) == 64 and meta.versions["torch"]
    assert not [p for p in models_root.iterdir() if p.name.startswith(".")]  # no temp folders left
    val = folder.validation_data()  # the exact held-out rows can be rebuilt from the metadata
    assert len(val) == meta.data["val"].rows and val.label_counts() == meta.data["val"].label_counts


def test_same_seed_same_model(train_csv, tmp_path):
    metas = []
    for name in ("a", "b"):
        assert invoke("train", train_csv, *TINY, "--out", tmp_path / name).exit_code == 0
        metas.append(metadata(tmp_path / name))
    assert metas[0].training.history[-1].loss == metas[1].training.history[-1].loss
    assert metas[0].results["val"] == metas[1].results["val"]


def test_an_ensemble_trains_exports_predicts_and_reports(train_csv, tmp_path):
    out = tmp_path / "ens"
    result = invoke("train", train_csv, *TINY, "--members", "2", "--seed", "1", "--int8", "--out", out)
    assert result.exit_code == 0, result.output
    assert "2 members, best epochs" in result.stdout and "Training member 2 of 2" in result.output
    meta = metadata(out)
    assert [m.seed for m in meta.training.members] == [2, 3] and meta.training.planned_members == 2
    assert "Average of 2 members' probabilities" in [row.layer for row in meta.network.layers]
    assert meta.export.parity_max_diff < 1e-4
    predicted = invoke("predict", "--model", out, "--json", "i loved this wonderful film")
    assert predicted.exit_code == 0 and 0.0 <= json.loads(predicted.stdout)["probability"] <= 1.0
    report = invoke("report", "--model", out)
    assert report.exit_code == 0 and "2 members averaged (seeds 2, 3)" in report.stdout
    assert "member 1 of 2" in report.stdout and "s (all members)" in report.stdout
    # inspect reads the whole ensemble: its last line is predict's answer
    fp32 = ("predict", "--model", out, "--json", "--precision", "fp32", "a fine film")  # model.onnx, not int8
    record = json.loads(invoke(*fp32).stdout)
    inspected = invoke("inspect", "--model", out, "a fine film")
    assert inspected.exit_code == 0, inspected.output
    found = re.search(r"Prediction: (\S+)\s+([\d.]+)%", inspected.stdout)
    assert found and found.group(1) == record["label"]
    assert abs(float(found.group(2)) - 100 * record["probability"]) < 0.01
    # export rewrites model.onnx from the weights: the same graph of both members, the same answers
    before = (out / "model.onnx").stat().st_mtime_ns
    exported = invoke("export", "--model", out)
    assert exported.exit_code == 0, exported.output
    parity = float(re.search(r"parity with PyTorch ([\d.e-]+)", exported.stdout).group(1))
    assert parity < 1e-4 and (out / "model.onnx").stat().st_mtime_ns != before
    assert json.loads(invoke(*fp32).stdout) == record


def test_keras_simple_rnn_relu_example_is_expressible(train_csv, tmp_path):
    result = invoke("train", train_csv, "--cell", "rnn", "--activation", "relu", "--no-bidirectional",
                    "--embedding-dim", "64", "--hidden-size", "128", "--pooling", "last", "--epochs", "2",
                    "--out", tmp_path / "keras")
    assert result.exit_code == 0, result.output
    assert metadata(tmp_path / "keras").network.layers[1].layer == "SimpleRNN(relu)"


def test_predict_table_json_topk_and_stdin(trained_model):
    result = invoke("predict", "--model", trained_model, "i loved this wonderful film", "a dull mess")
    assert result.exit_code == 0, result.output
    assert "wonderful" in result.stdout and "probability" in result.stdout
    result = invoke("predict", "--model", trained_model, "--json", "--top-k", "3", "a dull mess")
    record = json.loads(result.stdout.strip())
    assert record["label"] in ("neg", "neutral", "pos")
    assert abs(sum(t["probability"] for t in record["top"]) - 1) < 1e-3
    result = runner.invoke(app, ["predict", "--model", str(trained_model), "--json", "-"],
                           input="first text\n\nsecond text\n")
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["text"] for line in result.stdout.splitlines()] == ["first text", "second text"]


def test_predict_uses_the_default_model(trained_model):
    store.set_default(trained_model)
    result = invoke("predict", "--json", "great acting")
    assert result.exit_code == 0 and json.loads(result.stdout)["label"]


def test_evaluate_and_report(trained_model, tmp_path):
    data = write_csv(tmp_path / "eval.csv", ROWS)
    result = invoke("evaluate", data, "--model", trained_model, "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["n"] == len(ROWS) and sum(map(sum, metrics["confusion"])) == len(ROWS)
    result = invoke("report", "--model", trained_model)
    assert result.exit_code == 0, result.output
    for phrase in ("Embedding", "Bidirectional(LSTM)", "val_accuracy", "Learning curves", "Test", "Confusion"):
        assert phrase in result.stdout
    meta = metadata(trained_model)
    assert meta.results["test"].metrics.accuracy == meta.test_torch_score


def test_help_teaches():
    result = invoke("train", "--help")
    assert result.exit_code == 0 and "--hidden-size" in result.stdout and "Example" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["train", "{tmp}/missing.csv"], "does not exist"),
    (["train", "{tmp}/empty.csv"], "no data rows"),
    (["train", "{tmp}/latin1.csv"], "not UTF-8"),
    (["train", "{tmp}/nolabel.csv"], "no label column"),
    (["train", "{tmp}/oneclass.csv"], "single class"),
    (["train", "{tmp}/emptytext.csv"], "empty text"),
    (["train", "{tmp}/ok.csv", "--text-column", "body"], "no 'body' column"),
    (["train", "{tmp}/ok.csv", "--activation", "relu"], "applies only to --cell rnn"),
    (["train", "{tmp}/ok.csv", "--val", "{tmp}/otherlabels.csv", "--epochs", "1"], "labels not in the training"),
    (["train", "{tmp}/ok.csv", "--ema", "1"], "ema must be in [0, 1)"),
    (["train", "{tmp}/ok.csv", "--members", "0"], "members must be between 1 and 16"),
    (["predict", "hello"], "no trained model yet"),
    (["report"], "no trained model yet"),
    (["predict", "--model", "{tmp}/nowhere", "hello"], "does not exist"),
    (["predict", "--model", "{tmp}/ok.csv"], "no text to classify"),
])
def test_bad_input_is_one_clear_line(tmp_path, args, message):
    (tmp_path / "empty.csv").write_text("text,label\n")
    (tmp_path / "latin1.csv").write_bytes("text,label\ncaf\xe9,x\n".encode("latin-1"))
    write_csv(tmp_path / "nolabel.csv", [("a", "b")], header=("text", "stars"))
    write_csv(tmp_path / "oneclass.csv", [("a", "x"), ("b", "x")])
    write_csv(tmp_path / "emptytext.csv", [("a", "x"), ("", "y")])
    write_csv(tmp_path / "ok.csv", ROWS)
    write_csv(tmp_path / "otherlabels.csv", [("a", "pos"), ("b", "surprise")])
    result = invoke(*[a.format(tmp=tmp_path) for a in args])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0]
    assert isinstance(result.exception, SystemExit)  # handled, not an uncaught exception


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / store.ONNX_FILE).unlink(), "missing model.onnx"),
    (lambda d: (d / store.ONNX_FILE).write_bytes(b"not a model"), "not an ONNX model"),
    (lambda d: (d / store.METADATA_FILE).write_text("{"), "corrupt"),
    (lambda d: (d / store.TOKENIZER_FILE).write_text("[]"), "corrupt"),
])
def test_damaged_model_folder(trained_model, tmp_path, damage, message):
    broken = tmp_path / "broken"
    shutil.copytree(trained_model, broken)
    damage(broken)
    result = invoke("predict", "--model", broken, "hello")
    assert result.exit_code == 1 and message in result.output and isinstance(result.exception, SystemExit)


def test_existing_out_is_not_harmed_without_force(train_csv, trained_model, tmp_path):
    target = tmp_path / "keep"
    shutil.copytree(trained_model, target)
    before = (target / store.ONNX_FILE).read_bytes()
    result = invoke("train", train_csv, *TINY, "--out", target)
    assert result.exit_code == 1 and "already exists" in result.output
    assert (target / store.ONNX_FILE).read_bytes() == before
    assert invoke("train", train_csv, *TINY, "--out", target, "--force").exit_code == 0


def test_cuda_requested_without_cuda_is_a_clear_error(trained_model):
    """Without a usable CUDA (most machines): one clear error. With one (a GPU machine): it predicts."""
    from textrnn.errors import DeviceError
    from textrnn.inference.sessions import open_session

    try:
        open_session(trained_model / store.ONNX_FILE, "cuda")
        usable = True
    except DeviceError:
        usable = False
    result = invoke("predict", "--model", trained_model, "--device", "cuda", "--json", "hello")
    if usable:
        assert result.exit_code == 0 and json.loads(result.stdout)["text"] == "hello", result.output
    else:
        assert result.exit_code == 1 and "--device cuda" in result.output


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / store.WEIGHTS_FILE).unlink(), "has no model.safetensors"),
    (lambda d: (d / store.WEIGHTS_FILE).write_bytes(b"junk"), "is corrupt or does not fit"),
])
def test_commands_needing_weights_explain_damaged_weights(trained_model, tmp_path, damage, message):
    broken = tmp_path / "broken"
    shutil.copytree(trained_model, broken)
    damage(broken)
    for args in (["inspect", "--model", broken, "a fine film"], ["export", "--model", broken]):
        result = invoke(*args)
        assert result.exit_code == 1 and message in result.output and isinstance(result.exception, SystemExit)
