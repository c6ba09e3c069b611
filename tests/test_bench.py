"""textrnn bench: runs every engine on a tiny model and prints a table; FLOPs follow the documented formula."""

import shutil

import pytest
from typer.testing import CliRunner

from tests.conftest import metadata
from textrnn.cli import app
from textrnn.config import ModelConfig
from textrnn.export import bench
from textrnn.export.quantize import quantize_model
from textrnn.folder import ModelFolder

runner = CliRunner()
BILSTM = {"cell": "lstm", "bidirectional": True, "layers": 1, "embedding_dim": 128, "hidden_size": 128,
          "pooling": "max", "ngram_buckets": 0, "ngram_dim": 64}


def _config(**values):
    return ModelConfig(**values)


def test_flops_of_the_bilstm_in_the_notes():
    assert bench.flops_per_token(_config(**BILSTM)) == 2 * 2 * 4 * 128 * (128 + 128)  # about 0.5 MFLOP a token
    assert bench.flops_per_text(_config(**BILSTM), 20, 2) == 20 * 524288 + 2 * 256 * 2


@pytest.mark.parametrize("change, per_token", [
    ({"cell": "gru", "bidirectional": False}, 2 * 3 * 128 * 256),
    ({"cell": "rnn", "layers": 2}, 2 * (2 * 1 * 128 * 256) + 2 * (2 * 1 * 128 * (256 + 128))),
])
def test_flops_per_cell_and_layer(change, per_token):
    assert bench.flops_per_token(_config(**{**BILSTM, **change})) == per_token


def test_ngram_bag_and_maxmean_count():
    cfg = {**BILSTM, "ngram_buckets": 1000, "pooling": "maxmean"}
    assert bench.flops_per_text(_config(**cfg), 10, 3) == 10 * 524288 + 19 * 64 + 2 * (512 + 64) * 3


def test_bench_command_prints_a_table_for_every_engine(trained_model, tmp_path):
    model = tmp_path / "m"
    shutil.copytree(trained_model, model)
    quantize_model(ModelFolder.open(model), max_drop=100)
    data = tmp_path / "texts.txt"
    data.write_text("a fine film\n\nthe worst movie\n", encoding="utf-8")
    result = runner.invoke(app, ["bench", "--model", str(model), "--data", str(data)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for phrase in ("ONNX fp32", "ONNX int8", "PyTorch eager", "p50", "b256", "MFLOP per text",
                   "provider: CPUExecutionProvider", "at a time, one thread each"):
        assert phrase in result.stdout, phrase


def test_bench_without_int8_says_why(trained_model):
    assert metadata(trained_model).int8 is None
    result = runner.invoke(app, ["bench", "--model", str(trained_model), "--no-torch"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "ONNX fp32" in result.stdout and "PyTorch" not in result.stdout
    assert "skipped ONNX int8: no int8 model" in result.stdout
