"""Report renderables on synthetic metadata: 2 to 50 classes, 1 to 100 epochs, 80 and 160 columns."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from textrnn.evaluation.analysis import analyze_predictions, reliability
from textrnn.evaluation.metrics import compute_metrics
from textrnn.folder import ModelFolder
from textrnn.folder.records import Metadata
from textrnn.views.compare import compare_data, differing_settings, render_compare
from textrnn.views.metrics import confusion_table
from textrnn.views.report import history_rows, render_report


@pytest.fixture(autouse=True)
def _here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the made-up model folders below are made here


def make_folder(n_classes: int, n_epochs: int, seed: int = 0, analysis: bool = True, **change) -> ModelFolder:
    """A model folder with metadata in format 1 (read through the v1 reader), made-up numbers."""
    meta = make_meta(n_classes, n_epochs, seed, analysis)
    for key, value in change.items():
        meta[key] = value
    path = Path(f"m{n_classes}x{n_epochs}-{seed}")
    path.mkdir(exist_ok=True)
    return ModelFolder(path, Metadata.from_dict(meta))


def make_meta(n_classes: int, n_epochs: int, seed: int = 0, analysis: bool = True) -> dict:
    """Metadata shaped like format 1 (before the reshape) was written, with made-up numbers."""
    rng = np.random.default_rng(seed)
    labels = [f"class_{i:02d}" for i in range(n_classes)] if n_classes > 2 else ["negative", "positive"]
    y = rng.integers(0, n_classes, 400)
    logits = rng.normal(size=(400, n_classes))
    logits[np.arange(400), y] += 2.0
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    counts = {lab: int((y == i).sum()) for i, lab in enumerate(labels)}
    history = [{"epoch": e, "loss": 1 / e, "accuracy": 1 - 0.5 / e, "val_loss": 1 / e + 0.01 * e,
                "val_accuracy": 0.8 - 0.3 / e, "seconds": 0.5} for e in range(1, n_epochs + 1)]
    meta = {
        "format_version": 1, "name": f"m{n_classes}x{n_epochs}", "created": "2025-01-02T03:04:05+00:00",
        "labels": labels, "params": 12345,
        "config": {"model": {"cell": "gru", "bidirectional": True, "layers": 1, "hidden_size": 32,
                             "embedding_dim": 16, "pooling": "max", "dropout": 0.5},
                   "train": {"epochs": n_epochs, "batch_size": 32, "lr": 0.002, "seed": seed},
                   "tokenizer": {"kind": "word", "vocab_size": 30000, "lowercase": True, "max_length": 256}},
        "data": {"train": {"rows": 4000, "label_counts": counts}, "val": {"rows": 400, "label_counts": counts}},
        "tokenizer": {"kind": "word", "vocab_size": 5000, "val_unknown_rate": 0.08, "val_truncated_share": 0.0},
        "summary": [{"layer": "Embedding", "output_shape": "(None, None, 16)", "params": 10000},
                    {"layer": "Dense(softmax)", "output_shape": f"(None, {n_classes})", "params": 2345}],
        "history": history, "best_epoch": max(1, n_epochs - 1), "stopped": "completed", "train_seconds": 3.0,
        "metrics": {"val": compute_metrics(y, probs, labels).to_dict(),
                    "test": compute_metrics(y, probs, labels).to_dict()},
    }
    if analysis:
        texts = [f"text number {i} " + "word " * 80 for i in range(400)]
        meta["analysis"] = {"val": analyze_predictions(texts, y, probs, labels).to_dict()}
    return meta


def render(renderable, width: int) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(renderable)
    return console.file.getvalue()


@pytest.mark.parametrize("n_classes, n_epochs", [(2, 1), (6, 10), (50, 100)])
@pytest.mark.parametrize("width", [80, 160])
def test_report_fits_the_width_and_has_every_section(n_classes, n_epochs, width):
    text = render(render_report(make_folder(n_classes, n_epochs), width=width, color=False), width)
    assert max(len(line) for line in text.splitlines()) <= width
    assert "\x1b[" not in text  # NO_COLOR: plotext's ANSI codes are stripped too
    for phrase in ("textrnn model card", "Layers", "Tokenizer", "8.0% of tokens", "Data", "Training",
                   "accuracy", "macro F1", "weighted F1", "log-loss", "calibration error (ECE)", "Calibration: ECE",
                   "Most confused", "Confident mistakes", "Confusion", "Validation set", "Test set"):
        assert phrase in text, phrase
    if n_epochs == 1:
        assert "One epoch" in text
    else:
        assert "| best epoch" in text  # the learning-curves title marks the best epoch
    if n_epochs == 100:
        assert "…" in text and " 99 *" in text  # folded history keeps the best epoch
    if n_classes == 50:
        assert "lowest-F1 of 50 classes" in text and "'other'" in text and "more" in text


def test_report_in_colour_has_ansi_codes():
    console = Console(file=io.StringIO(), width=100, color_system="truecolor", force_terminal=True)
    console.print(render_report(make_folder(3, 5), width=100, color=True))
    assert "\x1b[" in console.file.getvalue()


def test_report_of_an_old_model_leaves_new_sections_out():
    folder = make_folder(3, 4, analysis=False, tokenizer=None)
    text = render(render_report(folder, width=100, color=False), 100)
    assert "Confusion" in text and "Calibration" not in text and "Confident mistakes" not in text
    assert "Tokenizer" not in text


def test_confusion_folds_many_classes_into_other():
    m = make_folder(50, 3).metadata.results["val"].metrics
    text = render(confusion_table(m, width=80), 80)
    assert "other" in text and max(len(line) for line in text.splitlines()) <= 80


def test_history_rows_keep_first_best_last():
    rows = history_rows(100, 57)
    assert rows[:3] == [1, 2, 3] and rows[-1] == 100 and 57 in rows and None in rows
    assert history_rows(5, 2) == [1, 2, 3, 4, 5]


def test_reliability_and_ece():
    y = np.array([0, 0, 1, 1])
    probs = np.array([[0.95, 0.05], [0.95, 0.05], [0.4, 0.6], [0.6, 0.4]])
    r = reliability(y, probs)
    assert [b["count"] for b in r["reliability"]] == [2, 2]
    assert r["ece"] == pytest.approx(0.5 * 0.05 + 0.5 * 0.1)


def test_analysis_is_compact_and_dedupes_examples():
    y = np.array([0, 0, 1])
    probs = np.array([[0.1, 0.9], [0.1, 0.9], [0.2, 0.8]])
    a = analyze_predictions(["same " * 100, "same " * 100, "fine"], y, probs, ["a", "b"])
    assert len(a.misclassified) == 1 and len(a.misclassified[0].text) <= 200
    assert a.to_dict()["confused_pairs"] == [{"true": "a", "pred": "b", "count": 2, "share": 1.0}]


def test_compare_shows_only_differing_settings():
    a, b = make_folder(3, 5, seed=0), make_folder(3, 8, seed=1)
    assert set(differing_settings([a, b])) == {"train.epochs", "train.seed"}
    auto = make_meta(3, 8, seed=1)
    auto["config"]["train"]["epochs"] = None  # trained with the automatic plan
    b = make_folder(3, 8, seed=1, config=auto["config"])
    assert differing_settings([a, b])["train.epochs"] == [5, "auto"]
    data = compare_data([a, b])
    assert data["models"] == [a.name, b.name] and len(data["scores"]["val accuracy"]) == 2
    text = render(render_compare([a, b], width=80, color=False), 80)
    assert "train.seed" in text and "val accuracy" in text and "model.cell" not in text
