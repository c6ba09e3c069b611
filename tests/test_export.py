import numpy as np
import onnxruntime as ort
import pytest
import torch

from textrnn.config import ModelConfig
from textrnn.errors import ExportMismatchError
from textrnn.export.onnx import check_parity, export_onnx
from textrnn.model import TextClassifier, build_model
from textrnn.tasks import Task

VOCAB = 40


@pytest.mark.parametrize("cell, activation", [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh")])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("pooling, ngram_buckets", [("last", 0), ("maxmean", 32)])
def test_onnx_matches_torch_for_every_cell_and_direction(tmp_path, cell, activation, bidirectional, pooling,
                                                         ngram_buckets):
    torch.manual_seed(1)
    layers = 1 if pooling == "last" else 2
    config = ModelConfig(cell=cell, activation=activation, bidirectional=bidirectional, layers=layers,
                         embedding_dim=8, hidden_size=6, pooling=pooling, ngram_buckets=ngram_buckets, ngram_dim=4)
    model = TextClassifier(config, VOCAB, 3).eval()
    path = export_onnx(model, tmp_path / "m.onnx")
    # check_parity covers batch 1..64 and lengths 1..max_length+9; it raises on a mismatch
    assert check_parity(model, path, VOCAB, max_length=30) < 1e-4
    # and the graph really has dynamic axes: a size never seen at export
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ids = np.random.default_rng(0).integers(1, VOCAB, size=(17, 101))
    with torch.no_grad():
        expected = model(torch.from_numpy(ids)).numpy()
    np.testing.assert_allclose(session.run(None, {"input_ids": ids})[0], expected, atol=1e-4)


def test_a_wrong_export_is_caught(tmp_path):
    torch.manual_seed(0)
    model = TextClassifier(ModelConfig(embedding_dim=8, hidden_size=6), VOCAB, 2).eval()
    path = export_onnx(model, tmp_path / "m.onnx")
    with torch.no_grad():
        model.classifier.bias += 1.0  # the exported file no longer matches these weights
    with pytest.raises(ExportMismatchError, match="differs from PyTorch"):
        check_parity(model, path, VOCAB, max_length=10)


def test_an_ensemble_exports_as_one_graph_that_matches_torch(tmp_path):
    torch.manual_seed(2)
    model = build_model(ModelConfig(embedding_dim=8, hidden_size=6, layers=2), VOCAB, Task('abc'), members=3).eval()
    path = export_onnx(model, tmp_path / "m.onnx")
    assert check_parity(model, path, VOCAB, max_length=30) < 1e-4
    import onnx

    ops = [node.op_type for node in onnx.load(str(path)).graph.node]
    assert ops.count("LSTM") == 3 * 2  # three members, two layers each
