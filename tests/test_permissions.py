"""Every file of a model folder (and of a pretrained encoder folder) gets the permissions the user's
umask gives new files, as `cp` does: a serving account in the owner's group reads model.onnx and
the weights alike (safetensors writes through a 0600 temporary file of its own)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import TINY
from textrnn.cli import app

runner = CliRunner()


def _modes(folder: Path) -> dict[str, str]:
    return {p.name: oct(p.stat().st_mode & 0o777) for p in [folder, *folder.iterdir()]}


@pytest.fixture
def umask():
    old = os.umask(0o022)
    os.umask(old)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def test_every_model_file_follows_the_umask(umask, tmp_path, train_csv):
    mask = 0o027  # not the usual 022, so that a file made 0600 or 0644 shows
    umask(mask)
    out = tmp_path / "m"
    result = runner.invoke(app, ["train", str(train_csv), *TINY, "--out", str(out)])
    assert result.exit_code == 0, result.output
    files, folder = oct(0o666 & ~mask), oct(0o777 & ~mask)
    modes = _modes(out)
    assert {"model.safetensors", "model.onnx", "tokenizer.json", "metadata.json"} <= set(modes), modes
    assert modes == {out.name: folder} | {name: files for name in modes if name != out.name}


def test_files_rewritten_in_place_follow_the_umask(umask, tmp_path, trained_model):
    """`textrnn export` (model.onnx again, then an int8 model) writes into an existing folder."""
    umask(0o027)
    folder = tmp_path / "m"
    shutil.copytree(trained_model, folder)
    for args in (["export", "--model", str(folder)], ["export", "--model", str(folder), "--int8"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    modes = _modes(folder)  # the copied files keep the copy's modes; those written here follow the umask
    written = {name: mode for name, mode in modes.items() if name in ("model.onnx", "model.int8.onnx", "metadata.json")}
    assert set(written.values()) == {oct(0o640)} and "model.onnx" in written, modes


def test_an_encoder_folder_follows_the_umask(umask, tmp_path, train_csv):
    umask(0o027)
    out = tmp_path / "lm"
    result = runner.invoke(app, ["pretrain", str(train_csv), "--out", str(out), "--embedding-dim", "8",
                                 "--hidden-size", "8", "--epochs", "1"])
    assert result.exit_code == 0, result.output
    modes = _modes(out)
    assert modes.pop("lm") == oct(0o750) and set(modes.values()) == {oct(0o640)}, modes
