"""Every command's options come from the fields that declare them (textrnn.options.setting)."""

import pytest
import typer

from textrnn import entry
from textrnn.cli import app
from textrnn.errors import ConfigError
from textrnn.inference.request import PredictRequest
from textrnn.options import Device, InferPrecision
from textrnn.serving.settings import Limits, ServeSettings


def _params(command: str) -> dict:
    cmd = typer.main.get_command(app).commands[command]
    return {opt: p for p in cmd.params for opt in p.opts}


def test_the_fast_path_reads_the_options_typer_offers():
    values, formats, allowed = entry.fast_options()
    params = _params("predict")
    for flag, name in values.items():
        assert params[flag].name == name
    assert set(formats) == {"--json", "--csv"} <= set(params)
    for name, choices in allowed.items():  # the fast path's choices are typer's, less those it leaves to typer
        flag = next(f for f, n in values.items() if n == name)
        offered = params[flag].type_descriptor.annotation  # the Enum typer offers
        assert set(choices) <= {c.value for c in offered}
    assert allowed["device"] == ("auto", "cpu") and allowed["precision"] == ("auto", "fp32", "int8")


def test_options_keep_their_declared_defaults_and_bounds():
    predict, serve = _params("predict"), _params("serve")
    assert predict["--chunk-size"].default == 2048 and predict["--min-labels"].default == 1
    assert predict["-f"] is predict["--file"] and predict["--explain"].secondary_opts == []
    assert (serve["--port"].min, serve["--port"].max) == (0, 65535)
    assert serve["--max-texts"].default == Limits().max_texts and serve["--workers"].default is None


def test_choices_are_enums_and_strings_are_checked():
    request = PredictRequest(texts=("x",), device="cpu", precision="int8", format="csv")
    assert request.device is Device.cpu and request.precision is InferPrecision.int8 and request.format == "csv"
    with pytest.raises(ConfigError, match="device must be one of auto, cpu, cuda"):
        PredictRequest(texts=("x",), device="gpu")


def test_serve_settings_travel_as_json():
    settings = ServeSettings(models=(("a", "/m/a"),), device="cpu", precision="fp32", limits=Limits(max_texts=5))
    again = ServeSettings.from_json(settings.to_json())
    assert again == settings and again.device is Device.cpu and again.limits.max_texts == 5


def _declared(*classes: type) -> set[str]:
    from dataclasses import fields

    return {f.name for cls in classes for f in fields(cls) if f.metadata.get("help")}


def test_every_other_command_takes_its_options_from_its_request():
    from textrnn.checks.request import CheckOptions, CheckRequest
    from textrnn.evaluation.request import InspectRequest
    from textrnn.export.request import BenchRequest, ExportRequest
    from textrnn.inference.request import EvaluateRequest
    from textrnn.views.request import ReportRequest

    shown = {"as_json", "png"}  # how the answer is shown: the command's own options
    for command, classes in (("evaluate", (EvaluateRequest,)), ("bench", (BenchRequest,)),
                             ("inspect", (InspectRequest,)), ("report", (ReportRequest,)),
                             ("export", (ExportRequest,)), ("check", (CheckRequest, CheckOptions))):
        cmd = typer.main.get_command(app).commands[command]
        options = {p.name for p in cmd.params if p.param_type_name == "option"} - shown
        networks = {"cell", "embedding_dim", "hidden_size", "epochs", "batch_size", "pretrain"}  # check --deep's
        assert options - (networks if command == "check" else set()) == _declared(*classes), command
    assert _params("check")["--no-label-check"].name == "skip_labels"
    assert _params("export")["--max-drop"].min == 0.0 and _params("bench")["--device"].default == Device.cpu


def test_building_the_cli_loads_no_numpy():
    import subprocess
    import sys

    code = "import sys, textrnn.cli; print(sorted(m for m in ('numpy', 'onnxruntime', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
