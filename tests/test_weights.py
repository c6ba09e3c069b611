"""Each weight stored once, the linear model's table compact: its parity with the fp32 table, and folders
written before (fp32 table, every tensor in model.safetensors) still load and predict the same."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from safetensors import safe_open

from textrnn.folder import ModelFolder
from textrnn.folder.store import ONNX_FILE, WEIGHTS_FILE
from textrnn.folder.weights import FROM_ONNX, IN_ONNX, load_weights
from textrnn.inference.predictor import Predictor
from textrnn.model.table import sparse
from textrnn.model.tfidf import TfidfLayer, TfidfState
from textrnn.tokenizer import pad

FIXTURES = Path(__file__).parent / "fixtures"
V2 = FIXTURES / "v2-mixed-model"  # trained by textrnn 9bbc07c: fp32 table, every tensor in model.safetensors


def stored_once(folder: Path) -> tuple[set[str], set[str]]:
    """(names in model.safetensors, names it says model.onnx holds); fails if a tensor is in both files."""
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in onnx.load(str(folder / ONNX_FILE)).graph.initializer}
    with safe_open(str(folder / WEIGHTS_FILE), framework="np") as f:
        own = set(f.keys())
        derived = json.loads(f.metadata()[FROM_ONNX])
        named = set(json.loads(f.metadata()[IN_ONNX]))
        shared = named | set(derived)
        assert {where[0] for where in derived.values()} <= set(inits)
        for name in own:  # not under its name, nor under another (a copy the exporter renamed)
            value = f.get_tensor(name)
            assert name not in inits
            assert not any(v.shape == value.shape and np.array_equal(v, value) for v in inits.values()), name
    assert named <= set(inits) and not own & shared
    return own, shared


def test_the_sparse_table_keeps_each_rows_largest_weights():
    rng = np.random.default_rng(0)
    weight = rng.normal(scale=1e-3, size=(200, 50)).astype(np.float32)  # near zero, as one-vs-rest weights are
    weight[7, [3, 9]] = [2.5, -1.5]  # a telling n-gram
    table = sparse(weight, top_k=4)
    assert table.cols.dtype == np.int16 and table.vals.dtype == np.float16 and table.cols.shape == (201, 4)
    assert not table.vals[0].any()  # row 0: not a feature
    assert {3, 9} <= set(table.cols[8].tolist()) and (np.diff(table.cols[1:], axis=1) > 0).all()
    dense = table.dense()
    assert dense[8, 3] == np.float16(2.5) and dense[8, 9] == np.float16(-1.5)
    assert np.abs(dense[1:] - weight).max() <= table.max_error and table.max_error < 5e-3
    again = sparse(dense[1:], top_k=4)  # what training validates is what the folder stores
    np.testing.assert_array_equal(again.dense(), dense)
    few = sparse(weight[:, :3])  # fewer classes than TOP_K: every weight kept
    assert few.cols.shape == (201, 3) and np.abs(few.dense()[1:] - weight[:, :3]).max() <= 1e-6


def test_the_sparse_table_scores_as_the_fp32_one_within_its_bound():
    rng = np.random.default_rng(1)
    vocab, buckets, features, classes = 50, 1_021, 300, 60
    rows = np.zeros(vocab + buckets, dtype=np.int32)
    rows[rng.choice(vocab + buckets, features, replace=False)] = np.arange(1, features + 1)
    idf = np.concatenate([[0.0], rng.uniform(1, 5, features)]).astype(np.float32)
    weight = rng.normal(scale=0.01, size=(features, classes)).astype(np.float32)  # mostly near zero...
    hot = rng.random((features, classes)) < 0.05
    weight[hot] = rng.normal(scale=2.0, size=hot.sum())  # ...a few telling weights per row
    bias = rng.normal(size=classes).astype(np.float32)
    keep = np.ones(vocab, dtype=bool)
    state = TfidfState(keep, buckets, rows, idf, weight, bias)
    fp32, small = TfidfLayer.fitted(vocab, state, compact=False), TfidfLayer.fitted(vocab, state)
    ids = torch.from_numpy(pad([rng.integers(1, vocab, size=rng.integers(1, 30)) for _ in range(64)]))
    with torch.no_grad():
        got, want = small(ids), fp32(ids)
    diff = (got - want).abs().max().item()
    bound = sparse(weight).max_error * np.sqrt(2 * ids.shape[1])  # a unit vector's entries sum to at most sqrt(n)
    assert 0 < diff <= bound, (diff, bound)
    # the stated tolerance: logits within 1% of the table's largest weight, probabilities within 0.01
    assert diff <= 0.01 * np.abs(weight).max(), diff
    assert (got.sigmoid() - want.sigmoid()).abs().max().item() <= 0.01


def test_an_earlier_folder_with_an_fp32_table_loads_and_predicts_the_same(tmp_path):
    folder_path = tmp_path / "v2"
    shutil.copytree(V2, folder_path)
    expected = json.loads((FIXTURES / "v2-mixed-model-expected.json").read_text())
    folder = ModelFolder.open(folder_path)
    got = Predictor(folder, device="cpu").predict_proba(expected["texts"])
    np.testing.assert_allclose(got, expected["probabilities"], atol=1e-5)  # as that textrnn predicted
    model = folder.torch_model()
    assert not model.linear.compact and model.linear.weight.shape == (folder.metadata.linear.features + 1, 3)
    ids = pad([np.asarray(folder.tokenizer.encode(t).ids) for t in expected["texts"]])
    with torch.no_grad():
        torch_probs = folder.task.probabilities(model(torch.from_numpy(ids)).numpy())
    np.testing.assert_allclose(torch_probs, expected["probabilities"], atol=1e-5)
    with safe_open(str(folder_path / WEIGHTS_FILE), framework="pt") as f:
        assert f.metadata() is None or IN_ONNX not in f.metadata()  # every tensor in the file, as written then
    assert set(load_weights(folder_path / WEIGHTS_FILE, folder_path / ONNX_FILE)) == set(model.state_dict())


def test_a_safetensors_that_names_tensors_model_onnx_lacks_is_a_clear_error(tmp_path):
    from safetensors.torch import save_file

    from textrnn.errors import ModelFolderError

    folder_path = tmp_path / "v2"
    shutil.copytree(V2, folder_path)
    save_file({"x": torch.zeros(1)}, str(folder_path / WEIGHTS_FILE), metadata={IN_ONNX: '["no.such.tensor"]'})
    with pytest.raises(ModelFolderError, match="no.such.tensor"):
        ModelFolder.open(folder_path).torch_model()
