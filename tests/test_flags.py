"""Flags checked by their effect, not their exit code: each trains (or pretrains) a tiny model for
real and looks at what the flag must change (weights, probabilities, the pretraining's epochs,
held-out share, the server's log). The session's tiny model (conftest.trained_model: the defaults)
is the other side of the comparison where it can be."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from tests.conftest import NEGATIVE, POSITIVE, ROWS, TINY, write_csv
from textrnn.cli import app
from textrnn.folder import ModelFolder
from textrnn.inference.predictor import Predictor

runner = CliRunner()


def train(data: Path, out: Path, *args: str) -> str:
    result = runner.invoke(app, ["train", str(data), *TINY, "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    return result.output


def state(folder: Path) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy() for k, v in ModelFolder.open(folder).torch_model().state_dict().items()}


def embedding(weights: dict[str, np.ndarray]) -> np.ndarray:
    (key,) = [k for k in weights if k.endswith("embedding.weight") and "linear" not in k]
    return weights[key]


def test_no_lowercase_keeps_case_apart(trained_model, tmp_path):
    data = write_csv(tmp_path / "train.csv", ROWS * 3)
    train(data, tmp_path / "cased", "--no-lowercase")
    texts = ["I LOVED EVERY MINUTE", "i loved every minute"]
    lowered = Predictor(trained_model, device="cpu").predict_proba(texts)  # the default: --lowercase
    np.testing.assert_array_equal(lowered[0], lowered[1])
    cased = Predictor(tmp_path / "cased", device="cpu").predict_proba(texts)
    assert np.abs(cased[0] - cased[1]).max() > 1e-3  # the upper-case words are unknown to it
    assert json.loads((tmp_path / "cased" / "metadata.json").read_text())["settings"]["tokenizer"]["lowercase"] is False


def test_weight_decay_shrinks_the_weights(trained_model, tmp_path):
    data = write_csv(tmp_path / "train.csv", ROWS * 3)  # the session model's data, seed and sizes
    train(data, tmp_path / "decayed", "--weight-decay", "20")
    norm = {name: sum(float(np.square(v).sum()) for k, v in state(folder).items()
                      if "rnn" in k and "weight" in k)
            for name, folder in (("default", trained_model), ("decayed", tmp_path / "decayed"))}
    assert norm["decayed"] < 0.8 * norm["default"], norm


def test_class_weight_balanced_raises_the_rare_class(tmp_path):
    data = write_csv(tmp_path / "skewed.csv", [(t, "pos") for t in POSITIVE] * 6 + [(t, "neg") for t in NEGATIVE])
    for name, extra in (("none", ()), ("balanced", ("--class-weight", "balanced"))):
        train(data, tmp_path / name, "--no-linear", *extra)
    texts = POSITIVE + NEGATIVE
    p_neg = {}
    for name in ("none", "balanced"):
        predictor = Predictor(tmp_path / name, device="cpu")
        p_neg[name] = float(predictor.predict_proba(texts)[:, predictor.labels.index("neg")].mean())
    assert p_neg["balanced"] > p_neg["none"] + 0.02, p_neg


def test_pretrain_epochs_and_minutes_bound_the_pretraining(tmp_path):
    data = write_csv(tmp_path / "train.csv", ROWS * 3)
    out = train(data, tmp_path / "a", "--pretrain", "on", "--pretrain-epochs", "3")
    assert "held-out perplexity" in out and "after 3 epochs" in out
    ppl = [float(x) for x in re.findall(r"val_perplexity (\d+\.\d+)", out)]
    assert len(ppl) == 3
    meta = json.loads((tmp_path / "a" / "metadata.json").read_text())
    assert meta["pretrained"]["kind"] == "language model" and meta["pretrained"]["perplexity"] == round(min(ppl), 2)
    out = train(data, tmp_path / "b", "--pretrain", "on", "--pretrain-epochs", "50", "--pretrain-minutes", "0.00001")
    assert "after 1 epochs" in out and len(re.findall(r"val_perplexity", out)) == 1  # the time cap, not 50


def test_pretrain_lm_dropout_and_val_share(tmp_path):
    data = write_csv(tmp_path / "train.csv", ROWS * 3)

    def pretrain(name: str, *args: str) -> dict:
        result = runner.invoke(app, ["pretrain", str(data), "--embedding-dim", "16", "--hidden-size", "16",
                                     "--epochs", "2", "--out", str(tmp_path / name), *args])
        assert result.exit_code == 0, result.output
        return json.loads((tmp_path / name / "encoder.json").read_text())

    def curve(encoder: dict) -> list[float]:
        return [h["perplexity"] for h in encoder["history"]]

    base, again = pretrain("base"), pretrain("again")
    shared, no_dropout = pretrain("share", "--val-share", "0.4"), pretrain("nodrop", "--lm-dropout", "0")
    assert curve(base) == curve(again)  # the same seed: the same run
    # 72 texts: 5% held out (4) or 40% (29), so fewer training tokens an epoch
    assert shared["pretrain"]["val_share"] == 0.4 and shared["tokens"] < 0.75 * base["tokens"]
    assert no_dropout["pretrain"]["lm_dropout"] == 0 and no_dropout["tokens"] == base["tokens"]
    assert curve(no_dropout) != curve(base)  # the same texts and seed: only the dropout differs


def test_pretrained_lr_scales_the_pretrained_layers_updates(tmp_path):
    data = write_csv(tmp_path / "train.csv", ROWS * 3)
    result = runner.invoke(app, ["pretrain", str(data), "--embedding-dim", "16", "--hidden-size", "16", "--epochs",
                                 "1", "--out", str(tmp_path / "lm")])
    assert result.exit_code == 0, result.output
    from safetensors.numpy import load_file

    start = load_file(tmp_path / "lm" / "encoder.safetensors")["embedding.weight"]
    moved = {}
    for name, lr in (("slow", "1e-6"), ("same", "1")):
        train(data, tmp_path / name, "--init", str(tmp_path / "lm"), "--pretrained-lr", lr)
        meta = json.loads((tmp_path / name / "metadata.json").read_text())
        assert meta["pretrained"]["lr_scale"] == float(lr)
        moved[name] = float(np.abs(embedding(state(tmp_path / name)) - start).max())
    assert 10 * moved["slow"] < moved["same"], moved  # (the folder keeps some weights in fp16: ~1e-3)
