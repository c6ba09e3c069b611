"""Ctrl-C and SIGTERM stop `train`, `tune` and `pretrain` at every stage, with real processes and real
signals: each job below is started as `python -m textrnn ...`, and a signal is sent when a line of
the stage appears on its stderr. Every stopped job exits 130 and says in one line what it kept: the
classifier's best finished epoch where one exists (the fit; tune's best trial), otherwise nothing
(reading, the tokenizer, pretraining, a fold of cross-fitting, export, a second signal while
saving), and leaves no staging folder. The jobs run side by side (one module fixture) to keep the
suite quick."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ROWS, metadata, write_csv
from textrnn import interrupts
from textrnn.folder import saving, store

SMALL = ["--embedding-dim", "8", "--hidden-size", "8", "--batch-size", "16", "--folds", "1", "--no-linear"]
LONG = ["--epochs", "300", "--patience", "300"]  # a fit that only a signal ends


@dataclass
class Job:
    """A textrnn command, and the signals to send: (a text that a stderr line contains, the signal)."""

    args: list[str]
    signals: list[tuple[str, int]]
    out: str = "m"
    proc: subprocess.Popen | None = None
    stderr: list[str] = field(default_factory=list)
    sent: list[float] = field(default_factory=list)
    ended: float = 0.0

    def start(self, root: Path, data: dict[str, Path]) -> None:
        values = {k: str(v) for k, v in data.items()} | {"out": str(root / self.out)}
        cmd = [sys.executable, "-m", "textrnn", *[a.format(**values) for a in self.args]]
        env = {**os.environ, "TEXTRNN_MODELS": str(root / "models"), "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                     cwd=root)
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        waiting = list(self.signals)
        for line in self.proc.stderr:
            self.stderr.append(line)
            if waiting and waiting[0][0] in line:
                self.proc.send_signal(waiting.pop(0)[1])
                self.sent.append(time.perf_counter())
        self.proc.wait()
        self.ended = time.perf_counter()

    @property
    def text(self) -> str:
        return "".join(self.stderr)


def _jobs() -> dict[str, Job]:
    train = ["train", "{data}", *SMALL, "--out", "{out}"]
    return {
        "reading": Job(["train", "{big}", *SMALL, "--out", "{out}"], [("Reading data", signal.SIGINT)]),
        "pretraining (SIGTERM)": Job([*train, "--pretrain", "on", "--pretrain-epochs", "300"],
                                     [("epoch   1", signal.SIGTERM)]),  # after finished language-model epochs
        "fit": Job([*train, *LONG], [("epoch   1", signal.SIGTERM)]),
        "fold": Job(["train", "{data}", *SMALL[:-3], "--folds", "3", "--epochs", "3", "--no-linear",
                     "--out", "{out}"], [("Fold 2 of 3", signal.SIGINT)]),
        "export": Job([*train, "--epochs", "2"], [("Exporting to ONNX", signal.SIGINT)]),
        "second signal while saving": Job([*train, *LONG, "--force"],
                                          [("epoch   1", signal.SIGINT), ("Exporting to ONNX", signal.SIGINT)],
                                          out="earlier"),
        "tune": Job(["tune", "{data}", "--budget", "5m", "--epochs", "2", "--embedding-dim", "8", "--hidden-size", "8",
                     "--out", "{out}"], [("Trial 2:", signal.SIGINT)]),
        "pretrain command": Job(["pretrain", "{data}", "--out", "{out}", "--embedding-dim", "8", "--hidden-size", "8",
                                 "--epochs", "300"], [("epoch   1", signal.SIGTERM)]),
    }


@pytest.fixture(scope="module")
def stopped(tmp_path_factory, trained_model) -> dict[str, tuple[Job, Path]]:
    root = tmp_path_factory.mktemp("signals")
    data = {"data": write_csv(root / "data.csv", ROWS * 40),  # 960 texts
            "big": write_csv(root / "big.csv", [(f"{t} {i}", label) for i in range(3000) for t, label in ROWS])}
    jobs, folders = _jobs(), {}
    for name, job in jobs.items():
        folders[name] = root / name.replace(" ", "-").replace("(", "").replace(")", "")
        folders[name].mkdir()
        if job.out == "earlier":  # a model already at --out, that --force would replace
            shutil.copytree(trained_model, folders[name] / "earlier")
        job.start(folders[name], data)
    for job in jobs.values():
        try:
            job.proc.wait(timeout=400)
        except subprocess.TimeoutExpired:
            job.proc.kill()
    time.sleep(0.2)  # the readers' last lines
    return {name: (job, folders[name]) for name, job in jobs.items()}


def _no_staging(folder: Path) -> bool:
    return not [p for p in folder.rglob(".*") if saving.STAGING.match(p.name)]


NOTHING_SAVED = {"reading": "Reading data", "pretraining (SIGTERM)": "Pretraining",
                 "fold": "Fold 2 of 3", "export": "Exporting to ONNX", "second signal while saving": "Exporting"}


@pytest.mark.parametrize("name", list(NOTHING_SAVED))
def test_a_signal_before_the_fit_ends_the_job_with_nothing_saved(stopped, name):
    job, folder = stopped[name]
    assert job.sent, f"the stage line never came:\n{job.text}"
    assert job.proc.returncode == interrupts.EXIT_CODE, job.text
    by = "SIGTERM" if "SIGTERM" in name else "Ctrl-C"
    lines = [line for line in job.stderr if "nothing was saved" in line]
    assert len(lines) == 1 and lines[0].startswith(f"stopped by {by} during: {NOTHING_SAVED[name]}"), job.text
    assert "Traceback" not in job.text
    assert job.ended - job.sent[-1] < 30, "it did not stop within seconds"
    assert not (folder / "m").exists() and _no_staging(folder)


def test_a_second_signal_while_saving_keeps_the_earlier_model(stopped, trained_model):
    job, folder = stopped["second signal while saving"]
    assert len(job.sent) == 2, job.text
    earlier = folder / "earlier"
    assert sorted(p.name for p in earlier.iterdir()) == sorted(p.name for p in trained_model.iterdir())
    assert all((earlier / p.name).read_bytes() == p.read_bytes() for p in trained_model.iterdir())


def test_a_signal_during_the_fit_keeps_the_best_finished_epoch(stopped):
    job, folder = stopped["fit"]
    assert job.proc.returncode == interrupts.EXIT_CODE, job.text
    assert "interrupted: kept the best of" in job.text and "nothing was saved" not in job.text, job.text
    training = metadata(folder / "m").training
    assert training.stopped == "interrupted" and 1 <= len(training.history) < 300
    assert job.ended - job.sent[-1] < 30
    assert _no_staging(folder) and (folder / "models" / store.DEFAULT_POINTER).is_file()


def test_a_signal_during_tune_keeps_the_best_trial(stopped):
    job, folder = stopped["tune"]
    assert job.proc.returncode == interrupts.EXIT_CODE, job.text
    assert "interrupted: kept the best of 1 trials (trial 1)" in job.text, job.text
    assert metadata(folder / "m").tuning.stopped == "interrupted" and _no_staging(folder)


def test_a_signal_during_the_pretrain_command_keeps_its_best_epoch(stopped):
    job, folder = stopped["pretrain command"]
    assert job.proc.returncode == interrupts.EXIT_CODE, job.text
    assert "interrupted: kept the best of" in job.text, job.text
    from textrnn.folder.encoder import read_encoder

    assert read_encoder(folder / "m").stopped == "interrupted" and _no_staging(folder)


def test_a_signal_while_a_folder_is_moved_into_place_waits_for_the_move(tmp_path, trained_model, monkeypatch):
    """The rename that replaces a model (--force) is not cut in two: a real SIGINT sent to this
    process between setting the old model aside and moving the new one in waits for the end."""
    target = tmp_path / "m"
    shutil.copytree(trained_model, target)
    rename = saving._rename_noreplace

    def interrupted_rename(src: Path, dst: Path) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # delivered to this (main) thread at once, unless held
        rename(src, dst)

    monkeypatch.setattr(saving, "_rename_noreplace", interrupted_rename)
    with interrupts.watched() as state:
        with saving.staging(target, overwrite=True) as staged:
            (staged.path / store.METADATA_FILE).write_text("{}")
            (staged.path / "model.onnx").write_text("new")
    assert state.received == signal.SIGINT and state.while_saving
    assert (target / "model.onnx").read_text() == "new" and _no_staging(tmp_path)
    assert interrupts.kept_line() == "Ctrl-C came while the model was being saved: it was saved completely"
