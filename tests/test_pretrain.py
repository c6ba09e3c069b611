"""Language-model pretraining: perplexity falls, the encoder's weights land in the classifier's
embedding and both directions, `train --init` works end to end, bad encoders are one error line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tests.conftest import TINY, metadata, write_csv
from textrnn.cli import app
from textrnn.config import ModelConfig, PretrainConfig, TokenizerConfig
from textrnn.folder.encoder import read_encoder

runner = CliRunner()
SUBJECTS = ["the cat", "a dog", "my friend", "the teacher", "our neighbour", "a child"]
VERBS = ["likes", "sees", "follows", "meets", "calls", "helps"]
OBJECTS = ["the ball", "a bird", "the old man", "a red car", "the river", "my sister"]


def sentences(n: int, seed: int = 0) -> list[str]:
    """A small grammar: what follows what is learnable, so perplexity must fall."""
    rng = np.random.default_rng(seed)
    return [f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}" for _ in range(n)]


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm")
    corpus = root / "corpus.txt"
    corpus.write_text("\n".join(sentences(600)) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["pretrain", str(corpus), "--out", str(root / "lm"), "--embedding-dim", "16",
                                 "--hidden-size", "16", "--epochs", "4", "--batch-size", "16", "--min-frequency", "1"])
    assert result.exit_code == 0, result.output
    return root / "lm"


def test_pretraining_lowers_perplexity_and_records_the_run(encoder):
    meta = read_encoder(encoder)
    ppl = [h.val_perplexity for h in meta.history]
    assert len(ppl) == 4 and ppl[meta.best_epoch - 1] == min(ppl) and min(ppl) < 0.8 * ppl[0]
    assert min(ppl) < 0.6 * meta.vocab_size  # well below guessing among the whole vocabulary
    assert meta.model.hidden_size == 16 and meta.corpus[0].texts == 600 and meta.tokens > 0


def test_the_classifier_starts_from_the_encoder(encoder):
    from textrnn.model import build_member
    from textrnn.model.pretrained import encoder_initializer
    from textrnn.tasks import Task
    from textrnn.training.pretrain import load_encoder

    meta, tokenizer, state = load_encoder(encoder)
    model = build_member(ModelConfig(embedding_dim=16, hidden_size=16), tokenizer.get_vocab_size(), Task("ab"))
    filled = encoder_initializer(state)(model)
    assert "embedding.weight" in filled and "rnn.weight_hh_l0" in filled and "rnn.weight_hh_l0_reverse" in filled
    own = model.state_dict()
    for name in filled:
        assert torch.equal(own[name], state[name]), name
    assert not any(n.startswith("classifier") for n in filled)


def test_train_init_end_to_end(encoder, tmp_path):
    rows = [(s, "animal" if s.startswith(("the cat", "a dog")) else "person") for s in sentences(200, seed=1)]
    data = write_csv(tmp_path / "d.csv", rows)
    result = runner.invoke(app, ["train", str(data), *TINY, "--init", str(encoder), "--freeze-epochs", "1",
                                 "--out", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    meta = metadata(tmp_path / "m")
    assert meta.pretrained.kind == "language model" and meta.pretrained.freeze_epochs == 1
    assert meta.settings.init.encoder == str(encoder) and meta.tokenizer.vocab_size == read_encoder(encoder).vocab_size
    stored = json.loads((tmp_path / "m" / "metadata.json").read_text())["settings"]["init"]
    assert stored["encoder"] == str(encoder) and "init" not in stored  # settings.init.init before
    assert meta.export.parity_max_diff < 1e-4
    report = runner.invoke(app, ["report", "--model", str(tmp_path / "m")], env={"COLUMNS": "120"})
    assert "language model lm (held-out perplexity" in report.stdout and "frozen 1" in report.stdout
    predicted = runner.invoke(app, ["predict", "--model", str(tmp_path / "m"), "--json", "the cat sees a bird"])
    assert json.loads(predicted.stdout)["label"] in ("animal", "person")


def test_pretrain_from_a_csv_uses_its_text_column(tmp_path):
    from textrnn.training.pretrain import pretrain

    data = write_csv(tmp_path / "d.csv", [(s, "x") for s in sentences(100)])
    folder = pretrain([data], tmp_path / "lm", TokenizerConfig(min_frequency=1),
                      ModelConfig(embedding_dim=8, hidden_size=8, bidirectional=False), PretrainConfig(epochs=1))
    meta = read_encoder(folder)
    assert meta.corpus[0].texts == 100 and not meta.model.bidirectional


@pytest.mark.parametrize("make, message", [
    (lambda d, m: None, "does not exist"),
    (lambda d, m: d.mkdir(), "is not a pretrained encoder"),
    (lambda d, m: (d.mkdir(), (d / "metadata.json").write_text("{}")), "a model folder, not a pretrained encoder"),
    (lambda d, m: __import__("shutil").copytree(m, d) and (d / "tokenizer.json").write_text(
        (m.parent / "other-tokenizer.json").read_text()), "come from different runs"),
    (lambda d, m: __import__("shutil").copytree(m, d) and (d / "encoder.json").write_text("{"), "corrupt"),
])
def test_bad_encoders_are_one_clear_line(encoder, tmp_path, make, message):
    from textrnn.tokenizer import train_tokenizer

    train_tokenizer(["other words entirely"] * 3, TokenizerConfig(min_frequency=1)).save(
        str(encoder.parent / "other-tokenizer.json"))
    target = tmp_path / "enc"
    make(target, encoder)
    data = write_csv(tmp_path / "d.csv", [(s, str(i % 2)) for i, s in enumerate(sentences(40))])
    result = runner.invoke(app, ["train", str(data), *TINY, "--init", str(target), "--out", str(tmp_path / "m")])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0] and not (tmp_path / "m").exists()


def test_too_little_text_to_pretrain_is_one_clear_line(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("one\ntwo words\n", encoding="utf-8")
    result = runner.invoke(app, ["pretrain", str(corpus), "--out", str(tmp_path / "lm")])
    assert result.exit_code == 1 and "too little text to pretrain on" in result.output
    assert not (tmp_path / "lm").exists()


@pytest.mark.parametrize("texts, mode, expected", [(999, "auto", False), (1000, "auto", True), (49_999, "auto", True),
                                                   (50_000, "auto", False), (50_000, "on", True), (5000, "off", False)])
def test_auto_pretrains_medium_data_only(texts, mode, expected):
    from types import SimpleNamespace

    from textrnn.config import InitConfig, Settings
    from textrnn.training.start import pretrains

    splits = SimpleNamespace(train=range(texts))
    assert pretrains(Settings(init=InitConfig(pretrain=mode)), splits) is expected


def test_automatic_pretraining_trains_on_the_jobs_device(tmp_path, monkeypatch):
    """`train --device cpu` on a machine with CUDA pretrains on the CPU too (it once resolved "auto" itself)."""
    from textrnn.config import DataConfig, InitConfig, Settings, TrainConfig
    from textrnn.model.language_model import LanguageModel
    from textrnn.training.splits import read_splits
    from textrnn.training.start import prepare_start

    data = tmp_path / "train.csv"
    data.write_text("text,label\n" + "".join(f"{s},{i % 2}\n" for i, s in enumerate(sentences(60))), encoding="utf-8")
    settings = Settings(data=DataConfig(folds="1"), tokenizer=TokenizerConfig(min_frequency=1),
                        model=ModelConfig(embedding_dim=8, hidden_size=8), train=TrainConfig(device="cpu"),
                        init=InitConfig(pretrain="on", pretrain_epochs=1, pretrain_tokens=100))
    splits = read_splits(data, None, None, settings)
    placed = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # as on a machine with a GPU
    monkeypatch.setattr(LanguageModel, "to", lambda self, device: placed.append(torch.device(device)) or self)
    start = prepare_start(splits, settings)
    assert placed and all(d.type == "cpu" for d in placed), placed
    assert start.info is not None and start.info.kind == "language model"


def test_the_encoder_setting_is_read_under_its_old_name_too():
    from textrnn.config import InitConfig
    from textrnn.schema import from_json, to_json

    old = {"embeddings": None, "init": "models/lm", "pretrain": "auto", "freeze_epochs": 1}
    assert from_json(InitConfig, old) == InitConfig(encoder="models/lm", freeze_epochs=1)
    assert from_json(InitConfig, {**old, "encoder": "models/new"}).encoder == "models/new"
    assert to_json(InitConfig(encoder="models/lm"))["encoder"] == "models/lm"
