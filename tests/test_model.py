import numpy as np
import pytest
import torch

from textrnn.config import ModelConfig
from textrnn.errors import ConfigError
from textrnn.model import Ensemble, TextClassifier, build_model
from textrnn.tasks import Task
from textrnn.training.devices import native_bf16

VOCAB = 50
CASES = [(cell, bi, pooling) for cell in ("rnn", "lstm", "gru") for bi in (False, True)
         for pooling in ("last", "mean", "max", "maxmean")]


def _model(cell="lstm", bidirectional=True, pooling="max", **kw) -> TextClassifier:
    torch.manual_seed(0)
    return TextClassifier(ModelConfig(cell=cell, bidirectional=bidirectional, pooling=pooling, embedding_dim=8,
                                      hidden_size=6, **kw), VOCAB, 3).eval()


@pytest.mark.parametrize("cell, bidirectional, pooling", CASES)
def test_padding_never_changes_a_result(cell, bidirectional, pooling):
    model = _model(cell, bidirectional, pooling)
    sentence = torch.tensor([[5, 9, 13, 2]])
    with torch.no_grad():
        alone = model(sentence)
        padded = model(torch.cat([sentence, torch.zeros(1, 7, dtype=torch.long)], dim=1))
        batch = torch.zeros(3, 11, dtype=torch.long)
        batch[0, :11] = torch.arange(3, 14)
        batch[1, :4] = sentence
        batch[2, :1] = 7
        in_batch = model(batch)[1:2]
    torch.testing.assert_close(alone, padded, atol=1e-6, rtol=0)
    torch.testing.assert_close(alone, in_batch, atol=1e-6, rtol=0)


@pytest.mark.parametrize("cell, activation", [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh")])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padded_run_equals_the_packed_run_with_gradients(cell, activation, bidirectional):
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    model = _model(cell, bidirectional, activation=activation, layers=2, dropout=0.0).train()
    lengths = torch.tensor([7, 3, 1, 5])
    x = torch.randn(4, 7, 8, generator=torch.Generator().manual_seed(1))
    mask = (torch.arange(7)[None] < lengths[:, None]).unsqueeze(-1)
    grads = []
    for run in ("padded", "packed"):
        model.zero_grad()
        if run == "padded":
            out = model._run_padded(x, lengths)
        else:
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out = pad_packed_sequence(model.rnn(packed)[0], batch_first=True)[0]
        (out * mask).pow(2).sum().backward()
        grads.append((out * mask, [p.grad.clone() for p in model.rnn.parameters()]))
    torch.testing.assert_close(grads[0][0], grads[1][0], atol=1e-5, rtol=0)
    for a, b in zip(grads[0][1], grads[1][1], strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


@pytest.mark.skipif(not native_bf16(), reason="this CPU has no native bfloat16 (oneDNN has no bf16 LSTM)")
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_stacked_cells_train_on_padded_batches_under_bf16_autocast(cell):
    model = _model(cell, layers=2).train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(torch.tensor([[5, 9, 13, 2], [7, 8, 0, 0]])).float()
    logits.sum().backward()
    assert torch.isfinite(logits).all() and model.rnn.weight_hh_l1.grad is not None


def test_ngram_bag_is_padding_invariant_and_counted():
    model = _model(ngram_buckets=64, ngram_dim=4)
    sentence = torch.tensor([[5, 9, 13]])
    with torch.no_grad():
        torch.testing.assert_close(model(sentence), model(torch.nn.functional.pad(sentence, (0, 5))),
                                   atol=1e-6, rtol=0)
    rows = {r["layer"]: r["params"] for r in model.summary()}
    assert rows["NgramBag(bigrams, 64 buckets)"] == (VOCAB + 64) * 4


def test_relu_simple_rnn_like_keras_and_summary_counts_match_torch():
    model = TextClassifier(ModelConfig(cell="rnn", activation="relu", bidirectional=False, embedding_dim=64,
                                       hidden_size=128, pooling="last"), 1000, 2)
    assert model.rnn.nonlinearity == "relu"
    rows = model.summary()
    assert [r["layer"] for r in rows][1] == "SimpleRNN(relu)"
    assert rows[0]["params"] == 1000 * 64
    assert rows[1]["params"] == 64 * 128 + 128 * 128 + 2 * 128  # torch keeps two bias vectors
    assert sum(r["params"] for r in rows) == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_last_pooling_equals_the_final_hidden_state(cell):
    model = _model(cell, True, "last", layers=2)
    ids = torch.tensor([[4, 8, 15, 16, 23], [42, 7, 0, 0, 0]])
    with torch.no_grad():
        _, last, _ = model.encode(ids)
        h_n = model.rnn(torch.nn.utils.rnn.pack_padded_sequence(
            model.embedding(ids), torch.tensor([5, 2]), batch_first=True, enforce_sorted=False))[1]
    h_n = h_n[0] if isinstance(h_n, tuple) else h_n
    torch.testing.assert_close(last, torch.cat([h_n[-2], h_n[-1]], dim=-1), atol=1e-6, rtol=0)


def test_empty_row_gets_a_finite_output():
    with torch.no_grad():
        logits = _model()(torch.zeros(2, 4, dtype=torch.long))
    assert np.isfinite(logits.numpy()).all()


@pytest.mark.parametrize("kwargs, message", [
    ({"cell": "transformer"}, "cell must be one of"),
    ({"cell": "lstm", "activation": "relu"}, "applies only to --cell rnn"),
    ({"dropout": 1.5}, "dropout must be in"),
    ({"layers": 0}, "layers must be between"),
])
def test_config_validation(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ModelConfig(**kwargs)


def test_ensemble_outputs_the_log_of_its_members_mean_probability_and_ignores_padding():
    torch.manual_seed(0)
    ensemble = build_model(ModelConfig(embedding_dim=8, hidden_size=6), VOCAB, Task("abc"), members=3).eval()
    assert isinstance(ensemble, Ensemble) and len(ensemble.members) == 3
    ids = torch.tensor([[5, 9, 13, 2], [7, 8, 0, 0]])
    with torch.no_grad():
        mean = torch.stack([m(ids).softmax(-1) for m in ensemble.members]).mean(0)
        out = ensemble(ids)
        torch.testing.assert_close(out.softmax(-1), mean)
        torch.testing.assert_close(out.exp().sum(-1), torch.ones(2))  # already log-probabilities
        torch.testing.assert_close(ensemble(ids[1:, :2]), out[1:], atol=1e-6, rtol=0)
    rows = ensemble.summary()
    assert rows[-2]["layer"] == "Members 2-3 (same layers, other seeds)"
    assert sum(r["params"] for r in rows) == sum(p.numel() for p in ensemble.parameters())
    assert isinstance(build_model(ModelConfig(embedding_dim=8, hidden_size=6), VOCAB, Task("abc")), TextClassifier)
