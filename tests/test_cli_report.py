"""report, models and inspect through the CLI on the session's tiny trained model."""

import json
import shutil

import pytest
from typer.testing import CliRunner

from textrnn.cli import app
from textrnn.folder import ModelFolder, store

runner = CliRunner()


def invoke(*args, **env):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "100", **env})


def test_report_has_the_new_sections(trained_model):
    result = invoke("report", "--model", trained_model)
    assert result.exit_code == 0, result.output
    for phrase in ("textrnn model card", "Layers", "Tokenizer", "Data", "Training", "log-loss",
                   "Calibration: ECE", "Most confused", "Confusion", "Validation set", "Test set"):
        assert phrase in result.stdout, phrase
    assert "\x1b[" not in result.stdout


@pytest.mark.parametrize("width", ["80", "160"])
def test_report_respects_the_width_without_colour(trained_model, width, monkeypatch):
    from textrnn.cli import core

    monkeypatch.setattr(core.out, "no_color", True)  # the console reads NO_COLOR once, at import
    result = invoke("report", "--model", trained_model, COLUMNS=width, NO_COLOR="1")
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.stdout.splitlines()) <= int(width)


def test_report_json_is_everything(trained_model):
    result = invoke("report", "--model", trained_model, "--json")
    data = json.loads(result.stdout)
    assert data["path"] == str(trained_model) and data["size_bytes"] > 1000
    assert {"ece", "reliability", "confused_pairs", "misclassified"} <= data["results"]["val"]["analysis"].keys()
    assert data["results"]["val"]["metrics"]["confusion"] and data["training"]["history"]
    assert data["format_version"] == 2 and data["task"] == {"kind": "single_label", "labels": ["neg", "neutral", "pos"],
                                                           "metric": "accuracy"}


def test_report_png_writes_real_pictures(trained_model, tmp_path):
    import matplotlib.image

    result = invoke("report", "--model", trained_model, "--png", tmp_path / "png")
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "png").iterdir())
    assert names == ["confusion-test.png", "confusion-val.png", "curves.png", "drivers.png", "reliability.png"]
    for path in (tmp_path / "png").iterdir():
        assert path.stat().st_size > 10_000
        image = matplotlib.image.imread(path)
        assert image.shape[0] > 200 and image.shape[1] > 200 and image.std() > 0.01  # not blank


def test_png_without_matplotlib_is_one_clear_line(trained_model, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = invoke("report", "--model", trained_model, "--png", tmp_path)
    assert result.exit_code == 1 and "pip install 'textrnn[plots]'" in result.output
    assert "model card" not in result.output  # checked before anything is printed


def test_compare_and_models(trained_model, models_root):
    for name in ("a", "b"):
        shutil.copytree(trained_model, models_root / name)
    store.set_default(models_root / "b")
    meta = json.loads((models_root / "b" / "metadata.json").read_text())  # b: another seed, another log-loss
    meta["settings"]["train"]["seed"] = 7
    meta["results"]["val"]["metrics"]["log_loss"] = 0.4321
    (models_root / "b" / "metadata.json").write_text(json.dumps(meta))
    ours = json.loads((models_root / "a" / "metadata.json").read_text())["results"]["val"]["metrics"]
    result = invoke("report", "--compare", models_root / "a", models_root / "b")
    assert result.exit_code == 0, result.output
    assert "Comparing 2 models" in result.stdout
    rows = {line.split("  ")[0].strip(): line.split()[-2:] for line in result.stdout.splitlines()
            if "  " in line.strip()}
    assert result.stdout.splitlines()[1].split() == ["a", "b"]  # one column per model, in order
    assert rows["train.seed"] == ["0", "7"]  # the settings that differ
    assert rows["val log-loss"] == [f"{ours['log_loss']:.4f}", "0.4321"]
    assert rows["val accuracy"] == [f"{100 * ours['accuracy']:.2f}%"] * 2
    assert invoke("report", "--compare").exit_code == 0  # all models in the models folder
    result = invoke("report", "--compare", models_root / "a", "--model", models_root / "b")
    assert result.exit_code == 0 and "Comparing 2 models" in result.stdout, result.output
    result = invoke("models")
    assert result.exit_code == 0, result.output
    marked = [line for line in result.stdout.splitlines() if line.strip().startswith("*") and "KB" in line]
    assert len(marked) == 1 and " b " in marked[0] and "biLSTM 1x16" in marked[0]
    listed = json.loads(invoke("models", "--json").stdout)
    assert [m["default"] for m in listed] == [False, True]


def test_models_when_there_are_none():
    result = invoke("models")
    assert result.exit_code == 0 and "No trained models" in result.stdout


def test_inspect_shows_tokens_and_probabilities(trained_model, tmp_path):
    result = invoke("inspect", "--model", trained_model, "a wonderful zzzunseen film", "--png", tmp_path)
    assert result.exit_code == 0, result.output
    for phrase in ("wonderful", "zzzunseen [UNK]", "reads as", "hidden state", "Prediction:"):
        assert phrase in result.stdout, phrase
    assert (tmp_path / "inspect.png").stat().st_size > 10_000
    data = json.loads(invoke("inspect", "--model", trained_model, "--json", "a dull film").stdout)
    assert [t["token"] for t in data["tokens"]] == ["a", "dull", "film"]
    assert all(abs(sum(t["probabilities"]) - 1) < 1e-4 for t in data["tokens"])
    assert len(data["tokens"][0]["state"]) == 2 * data["hidden_size"]


def test_inspect_final_prediction_matches_onnx(trained_model):
    from textrnn.evaluation.inspection import inspect_text
    from textrnn.inference.predictor import load_predictor

    insp = inspect_text(ModelFolder.open(trained_model), "great acting and a clever plot")
    onnx = load_predictor(trained_model, device="cpu").predict_proba(["great acting and a clever plot"])[0]
    assert abs(insp.probs[-1] - onnx).max() < 1e-4


@pytest.mark.parametrize("args, message", [
    (["report", "--model", "{tmp}/nowhere"], "does not exist"),
    (["report", "--compare", "{model}", "{tmp}/nowhere"], "does not exist"),
    (["report", "--compare", "{model}"], "at least two"),
    (["report", "--compare", "--model", "{model}"], "at least two"),  # not every model in the folder
    (["report", "{model}", "{model}"], "add --compare"),
    (["inspect", "hello"], "no trained model yet"),
    (["inspect", "--model", "{model}", "   "], "no text"),
])
def test_bad_input_is_one_clear_line(trained_model, tmp_path, args, message):
    result = invoke(*[a.format(tmp=tmp_path, model=trained_model) for a in args])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0]
    assert isinstance(result.exception, SystemExit)  # handled, not an uncaught exception


def test_png_into_an_unusable_folder_fails_before_printing(trained_model, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    for args in (["report", "--model", trained_model], ["inspect", "--model", trained_model, "a fine film"]):
        result = invoke(*args, "--png", afile)
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
        assert result.stdout == "" and "cannot create the PNG folder" in result.output


def test_png_write_error_is_one_clear_line(tmp_path, monkeypatch):
    import matplotlib.figure

    from textrnn.errors import TextrnnError
    from textrnn.views import pictures

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", refuse)
    with pytest.raises(TextrnnError, match="cannot write .*Permission denied"):
        pictures.save(pictures.pyplot().figure(), tmp_path / "x.png")
