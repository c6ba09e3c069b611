"""Pretrained word vectors: every file format people have (written here), real-world faults tolerated,
vocabulary and coverage, the embedding filled and frozen as asked, and bad files as one error line."""

from __future__ import annotations

import gzip
import json
import struct

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tests.conftest import ROWS, TINY, metadata, write_csv
from textrnn.cli import app
from textrnn.data.vectors import read_vectors
from textrnn.errors import DataError
from textrnn.folder import ModelFolder

runner = CliRunner()
RNG = np.random.default_rng(0)
WORDS = ["wonderful", "film", "dull", "boring", "plot", "acting", "great", "terrible", "the", "a"]
VECS = {w: RNG.normal(size=4).astype(np.float32) for w in WORDS}


def text_lines(vectors: dict[str, np.ndarray]) -> list[str]:
    return [w + " " + " ".join(f"{x:.6f}" for x in v) for w, v in vectors.items()]


def write_vec(path, vectors=VECS, header=True, extra=()):
    lines = ([f"{len(vectors)} 4"] if header else []) + text_lines(vectors) + list(extra)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_bin(path, vectors=VECS):
    with open(path, "wb") as f:
        f.write(f"{len(vectors)} 4\n".encode())
        for w, v in vectors.items():
            f.write(w.encode() + b" " + struct.pack("<4f", *v) + b"\n")
    return path


@pytest.mark.parametrize("kind", ["vec", "glove", "gz", "bin"])
def test_every_format_reads_the_same_vectors(tmp_path, kind):
    if kind == "vec":
        path = write_vec(tmp_path / "v.vec")
    elif kind == "glove":
        path = write_vec(tmp_path / "v.txt", header=False)
    elif kind == "gz":
        raw = write_vec(tmp_path / "raw.vec")
        path = tmp_path / "v.vec.gz"
        path.write_bytes(gzip.compress(raw.read_bytes()))
    else:
        path = write_bin(tmp_path / "v.bin")
    got = read_vectors(path, {"film", "dull", "absent"})
    assert got.dim == 4 and set(got.vectors) == {"film", "dull"} and got.read == len(WORDS)
    np.testing.assert_allclose(got.vectors["film"], VECS["film"], atol=1e-5)
    assert ("binary" in got.format) == (kind == "bin") and ("GloVe" in got.format) == (kind == "glove")


def test_real_world_faults_are_tolerated_and_counted(tmp_path):
    path = tmp_path / "messy.vec"
    lines = [b"10 4"] + [line.encode() for line in text_lines(VECS)]
    lines[3] = lines[3].replace(b" ", b"\t  ", 2)  # odd whitespace still reads
    lines += [b"bad\xff\xfe 1 2 3 4", b"short 1 2", b"film 9 9 9 9", b"FILM 8 8 8 8", b"Plot 7 7 7 7",
              b"Unseen 1 1 1 1"]
    path.write_bytes(b"\n".join(lines) + b"\n")
    got = read_vectors(path, {"film", "plot", "unseen"})
    np.testing.assert_allclose(got.vectors["film"], VECS["film"], atol=1e-5)  # the first one wins
    assert got.vectors["unseen"].tolist() == [1, 1, 1, 1]  # only an uppercase vector: lowercase match
    assert got.bad_lines == 2 and got.duplicates == 1 and got.lowercase_matches == 1


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (bytes(range(256)) * 40, "has no word vectors"),
    (b"a 1 2 3\nb 1 2\nc 1\nd 1 2 3 4 5 6\ne x y z\n", "not a consistent vectors file"),
])
def test_files_that_are_not_vectors(tmp_path, content, message):
    path = tmp_path / "bad.vec"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        read_vectors(path, {"a"})


@pytest.fixture
def data(tmp_path):
    return write_csv(tmp_path / "train.csv", ROWS * 3)


def train(*args):
    return runner.invoke(app, ["train", *[str(a) for a in args]])


def test_training_with_vectors_records_them_and_predicts(data, tmp_path):
    vec = write_vec(tmp_path / "v.vec", {**VECS, "neutral": VECS["a"]})
    result = train(data, *TINY, "--embeddings", vec, "--out", tmp_path / "m")
    assert result.exit_code == 0, result.output
    assert "the vectors have 4 dimensions: --embedding-dim 4 (was 16)" in result.output
    meta = metadata(tmp_path / "m")
    info = meta.pretrained
    assert info.kind == "word vectors" and info.dim == 4 and meta.settings.model.embedding_dim == 4
    assert info.covered_types == 10 and info.layers == ("embedding.weight",) and len(info.sha256) == 64
    assert 0 < info.covered_tokens < 1 and f"vectors for 10 of {info.vocab_types}" in result.output
    predicted = runner.invoke(app, ["predict", "--model", str(tmp_path / "m"), "--json", "a dull film"])
    assert predicted.exit_code == 0 and json.loads(predicted.stdout)["label"]


def test_rare_words_with_vectors_join_the_vocabulary(tmp_path):
    rows = [(t, lab) for t, lab in ROWS] + [("a zyzzyva appears", "pos")]  # seen once: below min frequency
    data = write_csv(tmp_path / "d.csv", rows * 1)
    vec = write_vec(tmp_path / "v.vec", {**VECS, "zyzzyva": VECS["film"]})
    twice = ["--min-frequency", "2"]  # below 1,000 texts the default keeps words seen once
    assert train(data, *TINY, *twice, "--embeddings", vec, "--out", tmp_path / "with").exit_code == 0
    assert train(data, *TINY, *twice, "--out", tmp_path / "without").exit_code == 0
    assert ModelFolder.open(tmp_path / "with").tokenizer.token_to_id("zyzzyva") is not None
    assert ModelFolder.open(tmp_path / "without").tokenizer.token_to_id("zyzzyva") is None


def test_the_embedding_starts_from_the_vectors_at_their_scale():
    from textrnn.config import ModelConfig
    from textrnn.model import build_member
    from textrnn.model.pretrained import vector_initializer
    from textrnn.tasks import Task

    big = {f"w{i}": np.random.default_rng(i).normal(3.0, 2.0, size=8).astype(np.float32) for i in range(400)}
    vocab = {"[PAD]": 0, "[UNK]": 1, **{f"w{i}": i + 2 for i in range(200)}, **{f"x{i}": 202 + i for i in range(300)}}
    model = build_member(ModelConfig(embedding_dim=8, hidden_size=4), len(vocab), Task("ab"))
    torch.manual_seed(0)
    assert vector_initializer(big, vocab, 8)(model) == ["embedding.weight"]
    weight = model.embedding.weight.detach().numpy()
    np.testing.assert_allclose(weight[2], big["w0"])
    assert abs(weight[202:].mean() - 3.0) < 0.2 and abs(weight[202:].std() - 2.0) < 0.2  # new words: same scale
    assert (weight[0] == 0).all() and np.allclose(weight[1], np.stack(list(big.values())).mean(0), atol=1e-5)


def test_frozen_embeddings_get_no_update_then_train_at_their_rate():
    from textrnn.config import ModelConfig, TrainConfig
    from textrnn.model import build_member
    from textrnn.tasks import Task
    from textrnn.training.loop import PretrainedLayers, fit

    rng = np.random.default_rng(0)
    ids = [rng.integers(2, 30, size=rng.integers(1, 9)) for _ in range(80)]
    y = np.array([int(x[0] > 15) for x in ids])
    seen = []

    class Watch:
        def on_epoch_start(self, epoch, epochs, batches):
            seen.append(model.embedding.weight.detach().clone())

        def on_batch_end(self, loss):
            pass

        def on_epoch_end(self, stats, is_best):
            pass

    torch.manual_seed(0)
    model = build_member(ModelConfig(embedding_dim=8, hidden_size=8), 30, Task("ab"))
    layers = PretrainedLayers(("embedding.weight",), freeze_epochs=2, lr_scale=0.1)
    fit(model, Task("ab"), ids, y, ids, y, TrainConfig(epochs=4, batch_size=16, ema=0, patience=4), Watch(),
        pretrained=layers)
    assert torch.equal(seen[0], seen[1]) and torch.equal(seen[1], seen[2])  # epochs 1 and 2: frozen
    assert not torch.equal(seen[2], seen[3])  # epoch 3: training
    assert all(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("make, args, message", [
    (lambda p: p.write_bytes(b""), [], "is empty"),
    (lambda p: p.write_bytes(bytes(range(256)) * 40), [], "has no word vectors"),
    (lambda p: write_vec(p, {"zzz": VECS["a"], "qqq": VECS["film"]}), [], "has no vector for any word"),
    (lambda p: write_vec(p), ["--tokenizer", "bpe"], "use --tokenizer word"),
    (lambda p: None, [], "does not exist"),
    (lambda p: write_vec(p), ["--init", "{tmp}"], "give one"),
])
def test_bad_vectors_are_one_clear_line(data, tmp_path, make, args, message):
    path = tmp_path / "v.vec"
    make(path)
    result = train(data, *TINY, "--embeddings", path, *[a.format(tmp=tmp_path) for a in args],
                   "--out", tmp_path / "m")
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0] and not (tmp_path / "m").exists()
