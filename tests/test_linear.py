"""The TF-IDF model (`--linear`, the linear n-gram model): the graph computes the features training
learns from, the mix is chosen on validation and recorded, and a mixed model goes through export,
reload and predict like any other."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from typer.testing import CliRunner

from tests.conftest import ROWS, TINY, metadata, write_csv
from tests.test_weights import stored_once
from textrnn.cli import app
from textrnn.data.tokens import TokenArrays
from textrnn.model.tfidf import Mixed, TfidfLayer, TfidfState, compose, tfidf_keys
from textrnn.tasks import MultiLabelTask, Task
from textrnn.tokenizer import pad
from textrnn.training.tfidf import (
    SCALES,
    TfidfFeatures,
    bucket_count,
    choose_tfidf,
    content_tokens,
    ngram_occurrences,
    tfidf_matrix,
)

B = 1_021  # hash buckets

runner = CliRunner()


def mix_tfidf(network, task, train_ids, y_train, val_ids, y_val, vocab, refit=False):
    """(what was chosen, the network mixed with the TF-IDF model as training composes it, or alone)."""
    choice = choose_tfidf(network, task, train_ids, y_train, val_ids, y_val, vocab, refit=refit)
    return choice, network if choice is None else compose(network, task, vocab, choice.info, choice.state)


def _texts(rng: np.random.Generator, n: int, vocab: int) -> list[np.ndarray]:
    return [rng.integers(1, vocab, size=rng.integers(1, 12)) for _ in range(n)]


@pytest.mark.parametrize("sublinear", [False, True], ids=["count-tf (earlier folders)", "sublinear-tf"])
def test_the_graph_computes_the_features_training_learns_from(sublinear):
    rng = np.random.default_rng(0)
    vocab, classes = 40, 3
    keep = np.ones(vocab, dtype=bool)
    keep[[3, 7]] = False  # not content tokens (punctuation, say): no unigram, no bigram across them
    ids = _texts(rng, 200, vocab) + [np.array([5, 3, 6]), np.array([5, 6, 5, 6])]  # the last repeats n-grams
    texts, keys = ngram_occurrences(ids, vocab, B, keep)
    assert keys[texts == len(ids) - 2].tolist() == tfidf_keys(ids[-2], vocab, B, keep).tolist() == [5, 6]
    assert keys[texts == len(ids) - 1].tolist() == tfidf_keys(ids[-1], vocab, B, keep).tolist() == \
        [5, 6, 5, 6, vocab + 5 * vocab + 6, vocab + 6 * vocab + 5, vocab + 5 * vocab + 6]
    assert not np.isin(keys, [3, 7]).any()
    flat = TokenArrays(np.concatenate(ids).astype(np.uint16), np.concatenate([[0], np.cumsum([len(x) for x in ids])]))
    again = ngram_occurrences(flat, vocab, B, keep)
    assert all(np.array_equal(a, b) for a, b in zip(again, (texts, keys), strict=True))

    features_of = TfidfFeatures.counted(texts, keys, len(ids), classes, keep, vocab, B)
    rows, idf = features_of.key_rows, features_of.idf
    features = len(idf) - 1
    assert features == len(np.unique(keys)) and idf[0] == 0  # every n-gram of the training texts
    x = tfidf_matrix(texts, keys, len(ids), rows, idf, sublinear)
    grams = [tfidf_keys(t, vocab, B, keep) for t in ids]
    no_repeat = [i for i, g in enumerate(grams) if len(set(g)) == len(g)]
    norms = np.sqrt(np.asarray(x.multiply(x).sum(1)).ravel())
    assert np.allclose(norms[no_repeat][norms[no_repeat] > 0], 1.0)  # L2-normalised where no n-gram repeats
    last = x[len(ids) - 1].toarray().ravel()  # 5 6 5 6: unigrams 5 and 6 twice, bigram 5-6 twice, 6-5 once
    twice, once = rows[[5, 6, vocab + 5 * vocab + 6]] - 1, rows[vocab + 6 * vocab + 5] - 1
    tf = 1 + np.log(2) if sublinear else 2.0
    np.testing.assert_allclose(last[twice] / last[once], tf * idf[twice + 1] / idf[once + 1], rtol=1e-6)
    if sublinear:
        assert np.allclose(norms[norms > 0], 1.0)  # L2-normalised, repeats or not

    weight, bias = rng.normal(size=(features, classes)).astype(np.float32), rng.normal(size=classes).astype(np.float32)
    linear = TfidfLayer.fitted(vocab, TfidfState(keep, B, rows, idf, weight, bias, sublinear),
                               compact=False)  # the fp32 table
    with torch.no_grad():
        got = linear(torch.from_numpy(pad(ids))).numpy()
    np.testing.assert_allclose(got, np.asarray(x @ weight) + bias, rtol=1e-5, atol=1e-5)
    assert bucket_count(ids[:20], vocab, keep) == B < bucket_count(ids, vocab, keep)  # room for 4x the distinct bigrams


def _worded(rng: np.random.Generator, n: int, classes: int, vocab: int = 60) -> tuple[list[np.ndarray], np.ndarray]:
    """Texts whose class is told by one of its words (ids 2..2+classes); the rest is noise."""
    y = rng.integers(0, classes, size=n)
    ids = []
    for label in y:
        text = rng.integers(10, vocab, size=rng.integers(3, 10))
        text[rng.integers(len(text))] = 2 + label
        ids.append(text)
    return ids, y


@pytest.mark.parametrize("kind", ["single", "multi"])
def test_the_mix_is_chosen_on_validation_and_is_what_the_graph_outputs(kind):
    from textrnn.config import ModelConfig
    from textrnn.model import build_member

    rng = np.random.default_rng(1)
    vocab = 60
    ids, y = _worded(rng, 400, 3, vocab)
    if kind == "single":
        task = Task(["a", "b", "c"])
    else:
        task = MultiLabelTask(["a", "b", "c"])
        y = np.eye(3, dtype=np.float32)[y]
    torch.manual_seed(0)
    network = build_member(ModelConfig(embedding_dim=8, hidden_size=8), vocab, task).eval()  # untrained
    choice, mixed = mix_tfidf(network, task, ids[:300], y[:300], ids[300:], y[300:], vocab)
    assert isinstance(mixed, Mixed) and 0 < mixed.alpha <= 1
    info = choice.info
    assert info.alpha == mixed.alpha and info.linear_val_score > info.network_val_score
    assert info.mixed_val_score >= max(info.linear_val_score, info.network_val_score) - 1e-9
    assert info.mixed_val_score > 0.9  # the telling word is a feature

    batch = torch.from_numpy(pad(ids[300:]))
    with torch.no_grad():
        p_net, p_lin, p_mix = (task.probabilities(m(batch).numpy()) for m in (network, mixed.linear, mixed))
    assert mixed.pooling == "geometric" == choice.info.pooling  # the weighted geometric mean, renormalised
    assert mixed.scale == info.scale and info.scale in SCALES
    w_net, w_lin = mixed.scale * (1 - mixed.alpha), mixed.scale * mixed.alpha
    z = w_net * np.log(p_net) + w_lin * np.log(p_lin)
    if kind == "multi":
        z -= w_net * np.log1p(-p_net) + w_lin * np.log1p(-p_lin)
        expected = 1 / (1 + np.exp(-z))
    else:
        expected = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(p_mix, expected, atol=1e-5)
    np.testing.assert_allclose(task.pool_probabilities([p_net, p_lin], [w_net, w_lin]), expected, atol=1e-5)


def test_the_pool_scale_is_the_temperature_of_lowest_log_loss():
    """An under-confident TF-IDF model (right, but near uniform) is sharpened: the scale chosen with the
    share is above 1, and the mix's log loss at it is below the unscaled mix's at the same share."""
    from textrnn.training.tfidf import choose_share, mix

    rng = np.random.default_rng(0)
    task = Task(["a", "b", "c"])
    y = rng.integers(0, 3, 600)
    sure = np.eye(3)[y] * 0.5 + 0.5 / 3  # right, shrunk halfway to uniform
    network = np.full((600, 3), 1 / 3) + rng.normal(0, 0.02, (600, 3)).clip(-0.3, 0.3)
    network /= network.sum(axis=1, keepdims=True)
    alpha, scale, _, _ = choose_share(task, y, network, sure)
    assert choose_share(task, y, network, sure, scales=(1.0,))[1] == 1.0
    assert alpha > 0.5 and scale > 1.0
    assert task.log_loss(y, mix(task, network, sure, alpha, scale)) < task.log_loss(y, mix(task, network, sure, alpha))


def test_a_refit_learns_from_validation_too_and_keeps_the_held_out_probabilities():
    from textrnn.config import ModelConfig
    from textrnn.model import build_member

    rng = np.random.default_rng(3)
    vocab = 60
    ids, y = _worded(rng, 300, 3, vocab)
    for text, label in zip(ids[200:], y[200:], strict=True):
        text[0] = 6 + label  # validation also tells the classes by words training never has
    task = Task(["a", "b", "c"])
    torch.manual_seed(0)
    network = build_member(ModelConfig(embedding_dim=8, hidden_size=8), vocab, task).eval()
    plain_choice, plain = mix_tfidf(network, task, ids[:200], y[:200], ids[200:], y[200:], vocab)
    refit_choice, refit = mix_tfidf(network, task, ids[:200], y[:200], ids[200:], y[200:], vocab, refit=True)
    assert plain_choice.info.refit_texts == 0 and plain_choice.held_out_probs is None
    assert refit_choice.info.refit_texts == 300
    assert (refit_choice.info.c, refit.alpha, refit_choice.info.mixed_val_score) == \
        (plain_choice.info.c, plain.alpha, plain_choice.info.mixed_val_score)
    with torch.no_grad():
        p_plain = task.probabilities(plain(torch.from_numpy(pad(ids[200:]))).numpy())
        probes = torch.tensor([[6], [7], [8]])  # only validation's words
        told = [m.linear(probes).argmax(1).tolist() for m in (plain, refit)]
    np.testing.assert_allclose(refit_choice.held_out_probs, p_plain, atol=1e-5)  # the mix before the refit
    assert told[1] == [0, 1, 2] != told[0], told  # the refit has learnt validation's words


def test_no_share_for_the_linear_model_leaves_the_network_alone():
    from textrnn.config import ModelConfig
    from textrnn.model import build_member

    rng = np.random.default_rng(2)
    ids, _ = _worded(rng, 200, 2)
    y = rng.integers(0, 2, size=200)  # labels no n-gram tells: the linear model cannot beat the network's tie
    task = Task(["a", "b"])
    network = build_member(ModelConfig(embedding_dim=8, hidden_size=8), 60, task).eval()
    with torch.no_grad():  # a network that is right on every validation text
        network.classifier.weight.zero_()
    validation = [np.array([2])] * 20
    network.classifier.bias.data = torch.tensor([5.0, -5.0])
    assert mix_tfidf(network, task, ids, y, validation, np.zeros(20, dtype=np.int64), 60) == (None, network)


def test_a_mixed_model_folder_exports_reloads_and_predicts(tmp_path):
    data = write_csv(tmp_path / "train.csv", ROWS * 4)
    out = tmp_path / "m"
    result = runner.invoke(app, ["train", str(data), "--out", str(out), *TINY, "--epochs", "1", "--val-split", "0.25"])
    assert result.exit_code == 0, result.output
    meta = metadata(out)
    assert meta.linear is not None and meta.linear.alpha > 0, meta.linear  # one epoch of a tiny network: no match
    assert meta.linear.refit_texts == len(ROWS) * 4  # validation split off the data: refitted on all of it
    assert meta.export.parity_max_diff < 1e-4
    assert any(row.layer.startswith("NgramLinear") for row in meta.network.layers)

    from textrnn.folder import ModelFolder
    from textrnn.inference.predictor import Predictor

    folder = ModelFolder.open(out)
    model = folder.torch_model()
    assert isinstance(model, Mixed) and model.alpha == meta.linear.alpha
    texts = [t for t, _ in ROWS]
    ids = pad([np.asarray(folder.tokenizer.encode(t).ids) for t in texts])
    with torch.no_grad():
        expected = folder.task.probabilities(model(torch.from_numpy(ids)).numpy())
    np.testing.assert_allclose(Predictor(folder, device="cpu").predict_proba(texts), expected, atol=1e-5)
    own, shared = stored_once(out)  # each tensor in one file; the table compact, in model.onnx only
    assert {"linear.cols", "linear.vals", "network.embedding.weight", "network.rnn.weight_hh_l0_reverse"} <= shared
    assert not own and "linear.weight" not in shared  # model.onnx holds them all, the LSTM's reordered
    inits = {i.name: i.data_type for i in onnx.load(str(out / "model.onnx")).graph.initializer}
    assert inits["network.embedding.weight"] == onnx.TensorProto.FLOAT16  # the embedding stored as fp16
    assert inits["linear.vals"] == onnx.TensorProto.FLOAT16  # the table sparse, fp16
    assert runner.invoke(app, ["export", "--model", str(out)]).exit_code == 0  # re-export from the reloaded weights
    assert stored_once(out) == (own, shared)
    np.testing.assert_allclose(Predictor(ModelFolder.open(out), device="cpu").predict_proba(texts), expected, atol=1e-5)
    int8 = runner.invoke(app, ["export", "--model", str(out), "--int8", "--max-drop", "100"])
    assert int8.exit_code == 0 and (out / "model.int8.onnx").is_file(), int8.output
    p8 = Predictor(ModelFolder.open(out), device="cpu", precision="int8").predict_proba(texts)
    assert np.abs(p8 - expected).max() < 0.1
    from safetensors.torch import save_file

    from textrnn.folder.weights import load_weights

    every = load_weights(out / "model.safetensors", out / "model.onnx")
    old = {k: v for k, v in every.items() if k != "linear.keep"}
    save_file(old, str(out / "model.safetensors"))  # as a mixed model was saved before content tokens
    assert ModelFolder.open(out).torch_model().linear.keep.all()
    predicted = runner.invoke(app, ["predict", "--model", str(out), "a delight from start to finish"])
    assert predicted.exit_code == 0 and "pos" in predicted.output

    plain = runner.invoke(app, ["train", str(data), "--out", str(tmp_path / "n"), *TINY, "--no-linear"])
    assert plain.exit_code == 0 and metadata(tmp_path / "n").linear is None
    held = runner.invoke(app, ["train", str(data), "--val", str(data), "--out", str(tmp_path / "v"), *TINY,
                               "--epochs", "1"])
    assert held.exit_code == 0 and metadata(tmp_path / "v").linear.refit_texts == 0  # a validation file stays out


def test_content_tokens_are_words_as_tf_idf_counts_them():
    vocab = {"[PAD]": 0, "[UNK]": 1, "a": 2, "?": 3, "the": 4, "42": 5, "##ing": 6, "##s": 7, "...": 8, "1": 9}
    assert content_tokens(vocab, 10, word_level=True).tolist() == [0, 0, 0, 0, 1, 1, 1, 0, 0, 0]
    assert content_tokens(vocab, 10, word_level=False).tolist() == [0, 0, 1, 0, 1, 1, 1, 1, 0, 1]


def test_one_bigram_hash_keeps_what_each_table_computed():
    """bigram_keys is the TF-IDF model's hash (multiplier: the vocabulary size) and the network bag's
    (BAG_MULTIPLIER), as both computed it before, the same on ints, numpy and torch."""
    from textrnn.data.tokens import BAG_MULTIPLIER, bigram_keys

    left, right, vocab, buckets = np.array([5, 900, 17]), np.array([3, 4, 899]), 1000, 1021
    np.testing.assert_array_equal(bigram_keys(left, right, vocab, buckets), vocab + (left * vocab + right) % buckets)
    np.testing.assert_array_equal(bigram_keys(left, right, vocab, 100_000, BAG_MULTIPLIER),
                                  vocab + (left * 1000003 + right) % 100_000)
    as_torch = bigram_keys(torch.from_numpy(left), torch.from_numpy(right), vocab, buckets).numpy()
    np.testing.assert_array_equal(as_torch, bigram_keys(left, right, vocab, buckets))
    assert bigram_keys(900, 4, vocab, buckets) == int(bigram_keys(left, right, vocab, buckets)[1])
    # the bag with the vocabulary size as multiplier would put all of a right token's bigrams in 5 of
    # 100,000 buckets (20,000 words); the prime spreads them
    lefts = np.arange(1, 20_000)
    assert len(np.unique(bigram_keys(lefts, 7, 20_000, 100_000))) == 5
    assert len(np.unique(bigram_keys(lefts, 7, 20_000, 100_000, BAG_MULTIPLIER))) == len(lefts)
