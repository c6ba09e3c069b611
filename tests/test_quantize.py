"""int8: kept only for LSTM and only when validation accuracy holds; the decision is recorded."""

import dataclasses
import json
import shutil

import pytest
from typer.testing import CliRunner

from tests.conftest import TINY, metadata
from textrnn.cli import app
from textrnn.export import quantize
from textrnn.folder import ModelFolder, store
from textrnn.inference.predictor import Predictor

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def model_copy(trained_model, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(trained_model, target)
    return target


@pytest.mark.parametrize("fp32, int8, keep", [(0.80, 0.80, True), (0.80, 0.796, True), (0.80, 0.795, True),
                                              (0.80, 0.794, False), (0.80, 0.90, True), (0.5, 0.3, False)])
def test_decide_allows_at_most_half_a_point(fp32, int8, keep):
    assert quantize.decide(fp32, int8)[0] is keep


def test_export_int8_writes_a_model_predict_then_uses(model_copy):
    result = invoke("export", "--model", model_copy, "--int8", "--max-drop", "100")
    assert result.exit_code == 0, result.output
    assert "Wrote" in result.stdout and (model_copy / store.INT8_FILE).is_file()
    record = metadata(model_copy).int8
    assert record.status == "kept" and record.val_rows == metadata(model_copy).data["val"].rows
    assert 0 <= record.int8_score <= 1 and record.max_drop_points == 100
    assert Predictor(model_copy, device="cpu").precision == "int8"
    assert Predictor(model_copy, device="cpu", precision="fp32").precision == "fp32"
    result = invoke("predict", "--model", model_copy, "--json", "--precision", "int8", "a fine film")
    assert result.exit_code == 0 and json.loads(result.stdout)["label"] in ("neg", "neutral", "pos")


def test_int8_refused_when_accuracy_drops(model_copy, monkeypatch):
    (model_copy / store.INT8_FILE).write_bytes(b"stale")  # an older int8 model must not survive
    scores = {"fp32": (0.90, 0.1), "int8": (0.88, 0.1)}
    monkeypatch.setattr(quantize, "_score", lambda folder, path, data, precision: scores[precision])
    result = invoke("export", "--model", model_copy, "--int8")
    assert result.exit_code == 0, result.output
    assert "No int8 model" in result.stdout and "refused" in result.stdout
    assert not (model_copy / store.INT8_FILE).exists()
    assert not [p for p in model_copy.iterdir() if p.name.startswith(".")]
    record = metadata(model_copy).int8
    assert record.status == "refused" and record.drop_points == pytest.approx(2.0)
    assert Predictor(model_copy, device="cpu").precision == "fp32"


@pytest.mark.parametrize("cell", ["gru", "rnn"])
def test_int8_skipped_for_cells_without_a_fast_kernel(model_copy, cell):
    folder = ModelFolder.open(model_copy)
    settings = folder.metadata.settings
    model = dataclasses.replace(settings.model, cell=cell)
    folder.update(folder.metadata.replace(settings=dataclasses.replace(settings, model=model)))
    result = quantize.quantize_model(ModelFolder.open(model_copy))
    assert result.status == "skipped" and "kept fp32" in result.reason and "DynamicQuantizeLSTM" in result.reason
    assert not (model_copy / store.INT8_FILE).exists()
    assert metadata(model_copy).int8.status == "skipped"


def test_precision_int8_without_an_int8_model_is_a_clear_error(trained_model):
    result = invoke("predict", "--model", trained_model, "--precision", "int8", "hello")
    assert result.exit_code == 1 and "has no int8 model" in result.output


def test_int8_of_a_corrupt_onnx_file_is_a_clear_error(model_copy):
    (model_copy / store.ONNX_FILE).write_bytes(b"not an onnx model")
    result = invoke("export", "--model", model_copy, "--int8")
    assert result.exit_code == 1 and "is corrupt or not an ONNX model" in result.output
    assert isinstance(result.exception, SystemExit) and not (model_copy / store.INT8_FILE).exists()


def test_export_options_for_int8_only_are_refused_without_it(model_copy):
    result = invoke("export", "--model", model_copy, "--max-drop", "0.3")
    assert result.exit_code == 1 and "apply only with --int8" in result.output


def test_reexport_rewrites_onnx_and_drops_int8(model_copy):
    (model_copy / store.INT8_FILE).write_bytes(b"old")
    result = invoke("export", "--model", model_copy)
    assert result.exit_code == 0, result.output
    assert "parity" in result.stdout and not (model_copy / store.INT8_FILE).exists()
    assert Predictor(model_copy, device="cpu").predict(["a fine film"])[0].label


def test_train_int8_option(train_csv, tmp_path):
    result = invoke("train", train_csv, *TINY, "--out", tmp_path / "q", "--int8")
    assert result.exit_code == 0, result.output
    status = metadata(tmp_path / "q").int8.status
    assert status in ("kept", "refused")
    assert ("int8 model kept" if status == "kept" else "no int8 model") in result.stdout
    assert (tmp_path / "q" / store.INT8_FILE).is_file() == (status == "kept")
