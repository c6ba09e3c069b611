"""Predictor: streaming in input order with flat chunks, CSV/JSON output, provider selection."""

import csv
import io
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from textrnn.cli import app
from textrnn.errors import DeviceError
from textrnn.folder import ModelFolder, store
from textrnn.inference import predictor as infer
from textrnn.inference import sessions

runner = CliRunner()
TEXTS = [("word " * n).strip() + f" {i}" for i, n in enumerate([9, 1, 5, 30, 2, 2, 17, 4, 1, 12])]


def test_predict_stream_reads_lazily_and_keeps_input_order(trained_model):
    predictor = infer.Predictor(trained_model, device="cpu")
    pulled = []

    def source():
        for text in TEXTS:
            pulled.append(text)
            yield text

    sizes = []
    streamed = []
    for chunk in predictor.predict_stream(source(), chunk_size=3, batch_size=2):
        # the next chunk is read (and its batches started) before a chunk is yielded: never more
        assert len(pulled) - len(streamed) <= 2 * 3
        sizes.append(len(chunk))
        streamed.extend(chunk)
    assert sizes == [3, 3, 3, 1]
    assert [p.text for p in streamed] == TEXTS
    whole = predictor.predict_proba(TEXTS)
    best = [predictor.labels[i] for i in whole.argmax(1)]
    assert [p.label for p in streamed] == best
    np.testing.assert_allclose([p.probability for p in streamed], whole.max(1), rtol=1e-5)


def test_predict_file_csv_and_json_in_input_order(trained_model, tmp_path):
    data = tmp_path / "in.txt"
    data.write_text("\n".join(TEXTS[:5]) + "\n\n" + "\n".join(TEXTS[5:]) + "\n", encoding="utf-8")
    args = ["predict", "--model", str(trained_model), "--file", str(data), "--chunk-size", "3", "--batch-size", "2"]
    result = runner.invoke(app, [*args, "--csv", "--top-k", "2"])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["text", "label", "probability", "label_2", "probability_2"]  # one header only
    assert [r[0] for r in rows[1:]] == TEXTS
    assert all(float(r[2]) >= float(r[4]) for r in rows[1:])
    result = runner.invoke(app, [*args, "--json"])
    assert [json.loads(line)["text"] for line in result.stdout.splitlines()] == TEXTS
    result = runner.invoke(app, [*args])  # table, one header across chunks
    assert result.exit_code == 0 and result.stdout.count("probability") == 1


@pytest.mark.parametrize("args, message", [
    (["--json", "--csv", "x"], "one of --json and --csv"),
    (["--file", "{tmp}/blank.txt"], "no non-blank lines"),
    (["--file", "{tmp}/missing.txt"], "does not exist"),
])
def test_predict_bad_input(trained_model, tmp_path, args, message):
    (tmp_path / "blank.txt").write_text("\n  \n")
    result = runner.invoke(app, ["predict", "--model", str(trained_model), *[a.format(tmp=tmp_path) for a in args]])
    assert result.exit_code == 1 and message in result.output


class FakeSession:
    def __init__(self, providers):
        self.providers = providers

    def get_providers(self):
        return self.providers


@pytest.fixture
def fake_cuda(monkeypatch):
    """onnxruntime-gpu with a driver present; `loads` says whether the CUDA provider really loads."""
    state = {"loads": True, "calls": []}
    monkeypatch.setattr(sessions.ort, "get_available_providers", lambda: [sessions.CUDA, sessions.CPU])
    monkeypatch.setattr(sessions, "_cuda_driver_present", lambda: True)

    def session(path, providers, threads):
        state["calls"].append(providers)
        ok = sessions.CUDA in providers and state["loads"]
        return FakeSession([sessions.CUDA, sessions.CPU] if ok else [sessions.CPU])

    monkeypatch.setattr(sessions, "_session", session)
    return state


def test_cuda_is_used_when_it_loads(fake_cuda):
    assert sessions.open_session("m.onnx", "cuda").get_providers()[0] == sessions.CUDA
    assert sessions.open_session("m.onnx", "auto").get_providers()[0] == sessions.CUDA
    assert sessions.open_session("m.onnx", "cpu").get_providers() == [sessions.CPU]
    assert fake_cuda["calls"][-1] == [sessions.CPU]


def test_cuda_asked_never_falls_back_silently(fake_cuda):
    fake_cuda["loads"] = False
    with pytest.raises(DeviceError, match="could not load"):
        sessions.open_session("m.onnx", "cuda")
    assert sessions.open_session("m.onnx", "auto").get_providers() == [sessions.CPU]  # auto may fall back


def test_no_cuda_provider_or_driver(monkeypatch):
    monkeypatch.setattr(sessions.ort, "get_available_providers", lambda: [sessions.CPU])
    with pytest.raises(DeviceError, match="no CUDA provider"):
        sessions.open_session("m.onnx", "cuda")
    monkeypatch.setattr(sessions.ort, "get_available_providers", lambda: [sessions.CUDA, sessions.CPU])
    monkeypatch.setattr(sessions, "_cuda_driver_present", lambda: False)
    with pytest.raises(DeviceError, match="no NVIDIA driver"):
        sessions.open_session("m.onnx", "cuda")


def test_cuda_runs_the_fp32_model_even_when_int8_exists(trained_model, tmp_path):
    import shutil

    shutil.copytree(trained_model, tmp_path / "m")
    folder = ModelFolder.open(tmp_path / "m")
    (folder.path / store.INT8_FILE).write_bytes(b"")
    assert folder.onnx_file("auto", "cpu") == (folder.path / store.INT8_FILE, "int8")
    assert folder.onnx_file("auto", "cuda") == (folder.path / store.ONNX_FILE, "fp32")
    assert folder.onnx_file("fp32", "cpu") == (folder.path / store.ONNX_FILE, "fp32")
    with pytest.raises(DeviceError, match="CPU only"):
        folder.onnx_file("int8", "cuda")


def test_threads_are_reported(trained_model):
    assert infer.Predictor(trained_model, device="cpu", threads=1).threads == 1
    assert infer.Predictor(trained_model, device="cpu").threads == sessions.default_threads() >= 1


def test_parallel_batches_give_the_same_probabilities_as_one_thread(trained_model):
    texts = TEXTS * 7  # many batches of mixed lengths
    one = infer.Predictor(trained_model, device="cpu", threads=1)
    two = infer.Predictor(trained_model, device="cpu", threads=2)
    assert (one.workers, two.workers, two.threads) == (1, 2, 2)
    np.testing.assert_array_equal(one.predict_proba(texts, batch_size=3), two.predict_proba(texts, batch_size=3))
    streamed = [p.probability for chunk in two.predict_stream(texts, batch_size=3, chunk_size=8) for p in chunk]
    np.testing.assert_allclose(streamed, one.predict_proba(texts).max(1), rtol=1e-6)
