"""Fixtures: tiny labelled data written to tmp folders, and one tiny model trained per test run."""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from pathlib import Path

import pytest

POSITIVE = ["a wonderful and moving film", "great acting and a clever plot", "i loved every minute",
            "funny , warm and beautifully shot", "a delight from start to finish",
            "the best movie of the year", "brilliant and touching", "smart , sharp and joyful"]
NEGATIVE = ["a dull and boring mess", "terrible acting and a silly plot", "i hated every minute",
            "slow , cold and badly shot", "a chore from start to finish", "the worst movie of the year",
            "tedious and empty", "lazy , flat and joyless"]
NEUTRAL = ["the film runs two hours", "it was released in march", "the cast includes three actors",
           "shot in black and white", "the director made four films", "it opens in cinemas on friday",
           "the story is set in paris", "a sequel is planned"]
ROWS = [(t, "pos") for t in POSITIVE] + [(t, "neg") for t in NEGATIVE] + [(t, "neutral") for t in NEUTRAL]
TINY = ["--embedding-dim", "16", "--hidden-size", "16", "--epochs", "3", "--batch-size", "8", "--folds", "1"]


def pytest_configure(config: pytest.Config) -> None:
    """Before any fixture (the session-scoped trained model included) runs: models go to a folder of
    the test run's own, never the user's ./models or $TEXTRNN_MODELS."""
    os.environ["TEXTRNN_MODELS"] = tempfile.mkdtemp(prefix="textrnn-test-models-")
    config._textrnn_models = os.environ["TEXTRNN_MODELS"]


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(getattr(config, "_textrnn_models", ""), ignore_errors=True)


def metadata(model_dir: Path):  # Metadata
    """A model folder's typed metadata."""
    from textrnn.folder import ModelFolder

    return ModelFolder.open(model_dir).metadata


def write_csv(path: Path, rows: list[tuple[str, str]], header: tuple[str, str] = ("text", "label")) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(autouse=True)
def models_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty models folder."""
    root = tmp_path / "models"
    monkeypatch.setenv("TEXTRNN_MODELS", str(root))
    return root


@pytest.fixture
def train_csv(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "train.csv", ROWS * 3)


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny model trained once through the CLI, with a test file; copy it before changing it."""
    from typer.testing import CliRunner

    from textrnn.cli import app

    root = tmp_path_factory.mktemp("session")
    data = write_csv(root / "train.csv", ROWS * 3)
    test = write_csv(root / "test.csv", ROWS)
    out = root / "models" / "tiny"
    result = CliRunner().invoke(app, ["train", str(data), "--test", str(test), "--out", str(out), *TINY])
    assert result.exit_code == 0, result.output
    return out
