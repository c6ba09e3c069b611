"""The model folder: typed records, written in one place and read back equal; format 1 folders (from
textrnn before the reshape, kept as a fixture) still load, predict and report; bad metadata is one
line naming the field."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from textrnn.cli import app
from textrnn.config import Cell, ModelConfig, Settings
from textrnn.errors import ModelFolderError
from textrnn.folder import ModelFolder, store
from textrnn.folder.records import FORMAT_VERSION, Metadata
from textrnn.schema import SchemaError, from_json, to_json

V1 = Path(__file__).parent / "fixtures" / "v1-model"  # trained by textrnn 3246407 (format 1), with --int8
runner = CliRunner()


@pytest.fixture
def v1(tmp_path):
    target = tmp_path / "v1-model"
    shutil.copytree(V1, target)
    return target


def test_metadata_round_trips(trained_model):
    meta = ModelFolder.open(trained_model).metadata
    assert meta.format_version == FORMAT_VERSION == 2
    again = Metadata.from_dict(json.loads(json.dumps(meta.to_dict())))
    assert again.to_dict() == meta.to_dict()
    assert again.settings == meta.settings and isinstance(again.settings.model.cell, Cell)


def test_a_format_1_folder_loads_with_typed_records(v1):
    folder = ModelFolder.open(v1)
    meta = folder.metadata
    assert meta.labels == ("neg", "neutral", "pos") and meta.task.kind == "single_label"
    assert meta.settings.model.embedding_dim == 8 and meta.settings.model.cell == Cell.lstm
    assert meta.training.metric == "accuracy" and len(meta.training.history) == 3
    assert meta.training.history[0].val_score == pytest.approx(json.loads((v1 / "metadata.json").read_text())
                                                              ["history"][0]["val_accuracy"])
    assert meta.results["val"].analysis.ece >= 0 and meta.results["test"].metrics.n == 24
    assert meta.int8.status == "kept" and meta.int8.fp32_score is not None
    assert meta.test_torch_score == meta.results["test"].metrics.accuracy


def test_a_format_1_folder_predicts_reports_and_exports(v1):
    for args in (["predict", "--model", v1, "--json", "a wonderful film"], ["report", "--model", v1],
                 ["report", "--model", v1, "--json"], ["evaluate", Path(__file__).parent / "fixtures" / "eval.csv",
                                                       "--model", v1], ["inspect", "--model", v1, "a fine film"],
                 ["models"]):
        result = runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "100"})
        assert result.exit_code == 0, (args, result.output)
    assert json.loads(runner.invoke(app, ["predict", "--model", str(v1), "--json", "x"]).stdout)["label"]
    report = runner.invoke(app, ["report", "--model", str(v1)], env={"COLUMNS": "100"}).stdout
    assert "Bidirectional(LSTM)" in report and "Calibration" in report and "val_accuracy" in report
    # a folder rewritten by this textrnn (re-export) is format 2 from then on
    assert runner.invoke(app, ["export", "--model", str(v1)]).exit_code == 0
    assert json.loads((v1 / store.METADATA_FILE).read_text())["format_version"] == 2
    assert ModelFolder.open(v1).metadata.int8 is None  # the int8 file derived from the old ONNX is gone


@pytest.mark.parametrize("change, message", [
    (lambda m: m["training"]["history"][1].update(loss="x"), "training.history[1].loss: must be a number"),
    (lambda m: m["settings"]["model"].update(cell="transformer"), "settings.model.cell: must be one of rnn, lstm"),
    (lambda m: m["settings"]["model"].update(layers=0), "settings.model: layers must be between 1 and 8"),
    (lambda m: m["task"].update(kind="regression"), "task.kind 'regression' is not one this textrnn knows"),
    (lambda m: m.pop("network"), "network: is missing"),
    (lambda m: m["data"].update(train=[]), "data.train: must be an object"),
    (lambda m: m["results"]["val"]["metrics"].update(per_class=None), "results.val.metrics.per_class: must be a list"),
])
def test_bad_metadata_names_the_field(trained_model, tmp_path, change, message):
    target = tmp_path / "m"
    shutil.copytree(trained_model, target)
    meta = json.loads((target / store.METADATA_FILE).read_text())
    change(meta)
    (target / store.METADATA_FILE).write_text(json.dumps(meta))
    with pytest.raises(ModelFolderError, match="metadata.json: " + message.replace("[", r"\[").replace("]", r"\]")):
        ModelFolder.open(target).metadata  # noqa: B018 - the typed records are built (and checked) here
    result = runner.invoke(app, ["report", "--model", str(target)])
    assert result.exit_code == 1 and message in result.output


def test_the_folder_is_opened_once_per_command(trained_model, monkeypatch):
    import textrnn.folder

    reads = []
    real = textrnn.folder.read_metadata
    monkeypatch.setattr("textrnn.folder.read_metadata", lambda path: reads.append(path) or real(path))
    for args in (["predict", "--model", str(trained_model), "x"], ["report", "--model", str(trained_model)]):
        reads.clear()
        assert runner.invoke(app, args).exit_code == 0
        assert len(reads) == 1, args


def test_schema_converts_nested_records_and_says_where_it_fails():
    assert from_json(ModelConfig, {"cell": "gru", "layers": 2}) == ModelConfig(cell=Cell.gru, layers=2)
    assert to_json(Settings())["model"]["cell"] == "lstm"
    with pytest.raises(SchemaError, match=r"^model\.hidden_size: must be a whole number \(got 1.5\)"):
        from_json(Settings, {"model": {"hidden_size": 1.5}})
    with pytest.raises(SchemaError, match="must be true or false"):
        from_json(ModelConfig, {"bidirectional": "yes"})
