"""The same seed and data give the same model on the CPU, pretraining included: the default's
automatic language-model pretraining stops on a budget of training tokens, never on the clock
(a time cap only when --pretrain-minutes asks for one)."""

from __future__ import annotations

import numpy as np
from typer.testing import CliRunner

from tests.conftest import ROWS, TINY, metadata, write_csv
from textrnn.cli import app
from textrnn.config import InitConfig, ModelConfig, PretrainConfig, Settings
from textrnn.folder import store

runner = CliRunner()


def test_the_default_has_a_token_budget_and_no_time_cap():
    init = Settings().init
    assert init.pretrain_minutes is None and init.pretrain_tokens == InitConfig().pretrain_tokens > 0


def test_pretraining_stops_at_the_batch_that_reaches_the_token_budget():
    from textrnn.training.pretrain import fit_language_model

    rng = np.random.default_rng(0)
    ids = [rng.integers(2, 40, size=int(rng.integers(4, 12))) for _ in range(200)]
    config = PretrainConfig(epochs=5, tokens=700, batch_size=16, seed=0)
    result = fit_language_model(ids, 40, ModelConfig(embedding_dim=8, hidden_size=8), config)
    assert result.stopped == "budget" and len(result.history) == 1 < config.epochs
    assert 700 <= result.seen < 700 + 16 * 12  # one batch past the budget at most


def test_two_runs_of_the_same_train_give_identical_weights(tmp_path):
    data = write_csv(tmp_path / "train.csv", ROWS * 3)
    outs = []
    for run in ("a", "b"):
        out = tmp_path / run
        result = runner.invoke(app, ["train", str(data), *TINY, "--pretrain", "on", "--pretrain-epochs", "3",
                                     "--pretrain-tokens", "400", "--out", str(out)])
        assert result.exit_code == 0, result.output
        outs.append(out)
    a, b = outs
    # every weight, as the folder gives them back (model.safetensors' header order is not fixed: its metadata is a map)
    import torch

    from textrnn.folder import ModelFolder

    wa, wb = (ModelFolder.open(m).torch_model().state_dict() for m in (a, b))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert (a / store.ONNX_FILE).read_bytes() == (b / store.ONNX_FILE).read_bytes()
    assert metadata(a).pretrained.perplexity == metadata(b).pretrained.perplexity
    scores = [[(e.loss, e.score, e.val_loss, e.val_score) for e in metadata(m).training.history] for m in (a, b)]
    assert scores[0] == scores[1]
