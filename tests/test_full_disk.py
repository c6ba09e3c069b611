"""A full disk while saving: one `error:` line (exit 1), nothing half-written, an earlier model at the
same place intact. The disk fills up for real in a child process: a file-size limit (RLIMIT_FSIZE,
what `ulimit -f` sets) makes every write past it fail with EFBIG, as a full disk fails with ENOSPC."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROWS, TINY, write_csv
from textrnn.folder import saving, store


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _run_limited(args: list[str], limit: int, cwd: Path) -> subprocess.CompletedProcess:
    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "textrnn", *args], capture_output=True, text=True, timeout=300,
                          preexec_fn=limited, env=env, cwd=cwd)


def _one_error(proc: subprocess.CompletedProcess) -> str:
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 1 and len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return errors[0]


def test_a_full_disk_while_training_keeps_the_earlier_model(tmp_path, trained_model, models_root):
    earlier = tmp_path / "m"
    shutil.copytree(trained_model, earlier)
    store.set_default(earlier)
    before, default = _files(earlier), (models_root / store.DEFAULT_POINTER).read_bytes()
    data = write_csv(tmp_path / "train.csv", ROWS * 3)
    limit = (trained_model / store.ONNX_FILE).stat().st_size - 1  # the tokenizer and weights fit; model.onnx not
    proc = _run_limited(["train", str(data), *TINY, "--out", str(earlier), "--force"], limit, tmp_path)
    error = _one_error(proc)
    assert f"cannot save {earlier}" in error and "File too large" in error and "nothing was saved" in error
    assert _files(earlier) == before and (models_root / store.DEFAULT_POINTER).read_bytes() == default
    assert not [p for p in tmp_path.iterdir() if saving.STAGING.match(p.name)]


def test_a_full_disk_while_writing_an_int8_model_leaves_the_folder_as_it_was(tmp_path, trained_model):
    folder = tmp_path / "m"
    shutil.copytree(trained_model, folder)
    before = _files(folder)
    proc = _run_limited(["export", "--model", str(folder), "--int8"], 1024, tmp_path)
    error = _one_error(proc)
    assert "cannot write the int8 model" in error and "is the disk full" in error, error
    assert _files(folder) == before  # no int8 file, no partial one, the same metadata
