"""Training under torchrun: two gloo processes on this machine against one process."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROWS, write_csv

ROOT = Path(__file__).resolve().parents[1]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
# fp32 and one thread a process, as torchrun's processes run, so that one process computes the same way
# --folds 1: torchrun trains one network on a validation split (no cross-fitting); the one-process runs compared
# with it must do the same
SMALL = ["--embedding-dim", "16", "--hidden-size", "16", "--batch-size", "8", "--precision", "fp32", "--folds", "1"]

STEP_WORKER = '''
import os, sys
import numpy as np, torch
torch.set_num_threads(1)
from textrnn.config import ModelConfig, TrainConfig
from textrnn.model import TextClassifier
from textrnn.tasks import Task
from textrnn.training.epochs import FitHooks, Step, WeightAverage, train_epoch
from textrnn.training.loop import Classifying

rng = np.random.default_rng(0)
ids = [rng.integers(2, 40, size=n) for n in (5, 5, 5, 7, 3, 9, 5, 2, 6, 5, 4, 8)]
y = rng.integers(0, 3, size=len(ids))
# an uneven split with padding (11 rows: 6 and 5), then a batch smaller than the processes (1 row)
batches = [np.arange(11), np.array([11])]
task = Task(["a", "b", "c"])
torch.manual_seed(0)
model = TextClassifier(ModelConfig(embedding_dim=8, hidden_size=8, dropout=0.0, embedding_dropout=0.0), 40, 3)
if "RANK" in os.environ:
    import torch.distributed as dist
    from textrnn.training.distributed import DataParallel, place
    dist.init_process_group("gloo")
    hooks = DataParallel(place(), torch.device("cpu"))
else:
    hooks = FitHooks()
out = {}
with hooks.fitting(model) as stepped:
    objective = Classifying(task, ids, y, [], y[:0], TrainConfig(word_dropout=0.0, lr=1e-2), torch.device("cpu"),
                            torch.float32, patience=1)
    step = Step(stepped, objective, WeightAverage(model, 0.9))
    for k, batch in enumerate(batches):  # one optimizer step each
        loss, _, _ = train_epoch(step, hooks.shard([batch]), 1, None, hooks)
        out[f"loss{k}"] = np.array(loss)
        for name, p in model.named_parameters():
            out[f"param{k}.{name}"] = p.detach().numpy().copy()
            out[f"grad{k}.{name}"] = p.grad.numpy().copy()
        for i, a in enumerate(step.average.average):
            out[f"ema{k}.{i}"] = a.numpy().copy()
if hooks.is_writer:
    np.savez(sys.argv[1], **out)
if "RANK" in os.environ:
    dist.barrier()  # leave together: a process exiting while the other still talks can abort it (SIGABRT)
    dist.destroy_process_group()
'''


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def test_one_step_on_two_processes_equals_one_process(tmp_path):
    script = tmp_path / "step.py"
    script.write_text(STEP_WORKER)
    subprocess.run([sys.executable, str(script), str(tmp_path / "one.npz")], env=_env(), check=True, timeout=120)
    run = subprocess.run([*TORCHRUN, str(script), str(tmp_path / "two.npz")], env=_env(), capture_output=True,
                         text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    one, two = np.load(tmp_path / "one.npz"), np.load(tmp_path / "two.npz")
    assert sorted(one.files) == sorted(two.files)
    diff = {kind: max(float(np.abs(one[k] - two[k]).max()) for k in one.files if k.startswith(kind))
            for kind in ("grad", "param", "ema", "loss")}
    print("max |one process - two processes|:", diff)
    assert all(d <= 1e-6 for d in diff.values()), diff
    assert max(float(np.abs(one[k]).max()) for k in one.files if k.startswith("grad0")) > 1e-3  # it did learn


def _train(args: list[str], env: dict[str, str], torchrun: bool = False) -> subprocess.CompletedProcess:
    command = [*TORCHRUN, "-m", "textrnn"] if torchrun else [sys.executable, "-m", "textrnn"]
    return subprocess.run([*command, "train", *args], env=env, capture_output=True, text=True, timeout=300)


def _layout(folder: Path) -> tuple[list[str], list[str]]:
    meta = json.loads((folder / "metadata.json").read_text())

    def keys(value, prefix=""):  # every key path of metadata.json, without list items' values
        if prefix == "linear.":  # the linear mix, where validation gives it a share (the two runs may differ)
            return []
        if isinstance(value, dict):
            return [k for name, v in value.items() for k in [prefix + name, *keys(v, prefix + name + ".")]]
        if isinstance(value, list) and value and isinstance(value[0], dict):
            return keys(value[0], prefix + "[].")
        return []

    return sorted(p.name for p in folder.iterdir()), sorted(set(keys(meta)))


def test_torchrun_writes_the_same_model_folder_as_one_process(tmp_path, models_root):
    data = write_csv(tmp_path / "train.csv", ROWS * 10)
    test = write_csv(tmp_path / "test.csv", ROWS)
    env = {**_env(), "TEXTRNN_MODELS": str(models_root)}
    args = [str(data), "--test", str(test), *SMALL, "--epochs", "30"]
    one = _train([*args, "--out", str(tmp_path / "one")], env)
    assert one.returncode == 0, one.stderr[-3000:]
    # the convenience launcher (torchrun --standalone in-process) for the two-process run
    two = subprocess.run([sys.executable, "-m", "textrnn", "train", *args, "--out", str(tmp_path / "two"),
                          "--nproc", "2"], env=env, capture_output=True, text=True, timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stderr.count("Exporting to ONNX") == 1 and two.stdout.count("Saved") == 1  # rank 0 alone
    assert _layout(tmp_path / "one") == _layout(tmp_path / "two")
    assert (models_root / "DEFAULT").read_text().strip().endswith("two")
    scores = [json.loads((tmp_path / name / "metadata.json").read_text())["results"]["test"]["metrics"]["accuracy"]
              for name in ("one", "two")]
    assert min(scores) >= 0.75 and abs(scores[0] - scores[1]) <= 0.15, scores  # within noise on 24 test texts


def test_members_across_processes_equal_the_members_of_one_process(tmp_path, models_root):
    data = write_csv(tmp_path / "train.csv", ROWS * 3)
    env = {**_env(), "TEXTRNN_MODELS": str(models_root)}
    args = [str(data), *SMALL, "--epochs", "3", "--members", "2", "--no-linear"]  # the members alone, bit for bit
    one = _train([*args, "--out", str(tmp_path / "one")], env)
    two = _train([*args, "--out", str(tmp_path / "two")], env, torchrun=True)
    assert one.returncode == 0 and two.returncode == 0, one.stderr[-2000:] + two.stderr[-2000:]
    from textrnn.folder.weights import load_weights

    a, b = ({k: v.numpy() for k, v in load_weights(folder / "model.safetensors", folder / "model.onnx").items()}
            for folder in (tmp_path / "one", tmp_path / "two"))  # with what model.onnx holds
    assert a.keys() == b.keys() and any("members.1." in k for k in a), (sorted(a), sorted(b))
    # member i from the same seed, on process i: equal up to float summation order
    differ = {k: float(np.abs(a[k].astype(np.float64) - b[k]).max()) for k in a
              if not np.allclose(a[k], b[k], rtol=1e-5, atol=1e-6)}
    assert not differ, (differ, one.stderr[-1500:], two.stderr[-1500:])
    members = json.loads((tmp_path / "two" / "metadata.json").read_text())["training"]["members"]
    assert [m["seed"] for m in members] == [0, 1]


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([*TORCHRUN, "-m", "textrnn", "train", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _wait_for_epochs(proc: subprocess.Popen, lines: list[str]) -> None:
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("epoch   1 ") or time.monotonic() > deadline:
            return


def _ranks(torchrun_pid: int) -> dict[int, int]:
    """{rank: pid} of torchrun's worker processes."""
    out = {}
    children = Path(f"/proc/{torchrun_pid}/task/{torchrun_pid}/children").read_text().split()
    for pid in map(int, children):
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        rank = next((int(e[5:]) for e in env if e.startswith(b"RANK=")), None)
        if rank is not None:
            out[rank] = pid
    return out


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
def test_ctrl_c_under_torchrun_stops_every_process_and_keeps_the_best_epoch(tmp_path, models_root):
    data = write_csv(tmp_path / "train.csv", ROWS * 3)
    proc = _start([str(data), *SMALL, "--epochs", "100000", "--out", str(tmp_path / "m")],
                  {**_env(), "TEXTRNN_MODELS": str(models_root)})
    lines: list[str] = []
    _wait_for_epochs(proc, lines)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends torchrun, which passes it to every process
    rest, _ = proc.communicate(timeout=120)
    output = "".join(lines) + rest
    assert "interrupted: kept the best of" in output, output[-3000:]
    meta = json.loads((tmp_path / "m" / "metadata.json").read_text())
    assert meta["training"]["stopped"] == "interrupted" and len(meta["training"]["history"]) >= 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
def test_a_dead_process_ends_the_others_and_nothing_is_written(tmp_path, models_root):
    data = write_csv(tmp_path / "train.csv", ROWS * 3)
    proc = _start([str(data), *SMALL, "--epochs", "100000", "--out", str(tmp_path / "m")],
                  {**_env(), "TEXTRNN_MODELS": str(models_root)})
    lines: list[str] = []
    _wait_for_epochs(proc, lines)
    os.kill(_ranks(proc.pid)[1], signal.SIGKILL)
    rest, _ = proc.communicate(timeout=120)
    output = "".join(lines) + rest
    assert proc.returncode != 0
    # Process 0 either finds the dead one first and says so, or torchrun's agent, which ends the other
    # processes when one dies, reaches it first with SIGTERM (exit 130, interrupted): a race of timing.
    lost = "error: process 0 of 2 lost contact with another process" in output
    stopped_by_torchrun = re.search(r"rank\s*:\s*0 .*\n\s*exitcode\s*:\s*130", output) is not None
    assert lost or stopped_by_torchrun, output[-3000:]
    assert not (tmp_path / "m").exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_shards_split_each_batch_and_weigh_the_loss():
    from textrnn.training.distributed import DataParallel, Place

    batches = [np.arange(11), np.array([11]), np.arange(12, 16)]
    parts = [list(DataParallel(Place(rank, 3, rank), None).shard(batches)) for rank in range(3)]
    for k, batch in enumerate(batches):
        rows = np.concatenate([parts[r][k][0] for r in range(3) if parts[r][k][1] > 0])
        assert rows.tolist() == batch.tolist()  # every row once, in order, by one process
        # DDP divides the summed gradients by 3: the weights make it the whole batch's mean
        assert sum(parts[r][k][1] for r in range(3)) / 3 == pytest.approx(1.0)
    assert parts[1][1][1] == parts[2][1][1] == 0.0  # 1 row, 3 processes: two compute a placeholder row


def test_fingerprints_tell_different_data_apart():
    from textrnn.training.distributed import fingerprint

    ids = [np.array([2, 3, 4]), np.array([5])]
    y = np.array([0, 1])
    assert fingerprint(ids, y) == fingerprint([np.array([2, 3, 4]), np.array([5])], y.copy())
    assert fingerprint(ids, y) != fingerprint([np.array([2, 3]), np.array([4, 5])], y)
    assert fingerprint(ids, y) != fingerprint(ids, np.array([1, 0]))


def test_nproc_is_taken_off_the_command_each_process_runs():
    from textrnn.cli.train import _without_nproc

    assert _without_nproc(["train", "d.csv", "--nproc", "2", "--epochs", "3"]) == ["train", "d.csv", "--epochs", "3"]
    assert _without_nproc(["train", "--nproc=4", "d.csv"]) == ["train", "d.csv"]


CHECK_WORKER = '''
import sys
import numpy as np, torch, torch.distributed as dist
from textrnn.errors import TrainingError
from textrnn.training.distributed import DataParallel, place
dist.init_process_group("gloo")
where = place()
hooks = DataParallel(where, torch.device("cpu"))
hooks.check_inputs([np.array([2, 3])], np.array([0]))  # the same everywhere: passes
# a decision by each process's clock (the pretraining's --pretrain-minutes): any process's yes is every one's
assert hooks.any_process(where.rank == 1) and not hooks.any_process(False)
try:
    hooks.check_inputs([np.array([2, 3 + where.rank])], np.array([0]))  # process 1 tokenized differently
except TrainingError as err:
    open(sys.argv[1] + str(where.rank), "w").write(str(err))
dist.barrier()  # leave together: a process exiting while the other still talks can abort it (SIGABRT)
dist.destroy_process_group()
'''


def test_processes_refuse_to_train_on_different_data(tmp_path):
    script = tmp_path / "check.py"
    script.write_text(CHECK_WORKER)
    run = subprocess.run([*TORCHRUN, str(script), str(tmp_path / "err")], env=_env(), capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    for rank in (0, 1):  # every process stops, with the same message
        assert "process 1 of 2 read different training data" in (tmp_path / f"err{rank}").read_text()


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
@pytest.mark.parametrize("to, sig, name", [("process 1", signal.SIGTERM, "SIGTERM"),
                                            ("torchrun", signal.SIGINT, "Ctrl-C")])
def test_a_signal_during_pretraining_ends_every_process_with_nothing_saved(tmp_path, models_root, to, sig, name):
    """`train --nproc 2` during the automatic language-model pretraining: a SIGTERM to process 1 alone (a
    scheduler's, a `kill`), or Ctrl-C to torchrun (which passes it on), is agreed by both processes
    between steps; every process ends, the job exits 130 and says once that nothing was saved."""
    data = write_csv(tmp_path / "train.csv", ROWS * 40)
    proc = subprocess.Popen([sys.executable, "-m", "textrnn", "train", str(data), *SMALL, "--pretrain", "on",
                             "--pretrain-epochs", "300", "--pretrain-tokens", "100000000", "--out", str(tmp_path / "m"),
                             "--nproc", "2"],
                            env={**_env(), "TEXTRNN_MODELS": str(models_root), "COLUMNS": "200"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    _wait_for_epochs(proc, lines)  # the language model's first epoch: pretraining is under way
    assert any("Pretraining a language model" in line for line in lines), "".join(lines)[-3000:]
    ranks = _ranks(proc.pid)
    os.kill(ranks[1] if to == "process 1" else proc.pid, sig)
    sent = time.monotonic()
    rest, _ = proc.communicate(timeout=120)
    output = "".join(lines) + rest
    assert proc.returncode == 130, output[-3000:]
    said = [line for line in output.splitlines() if "nothing was saved" in line]
    assert len(said) == 1 and said[0].startswith(f"stopped by {name} during: Pretraining a language model"), output
    assert "Traceback" not in output and "epoch   2 " not in rest.split("Pretraining")[-1], output
    print(f"{to} {name}: ended {time.monotonic() - sent:.1f} s after the signal")
    assert time.monotonic() - sent < 30 and not any(Path(f"/proc/{pid}").exists() for pid in ranks.values())
    assert not (tmp_path / "m").exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
@pytest.mark.parametrize("launcher", ["torchrun", "--nproc"])
def test_sigterm_to_one_process_during_the_fit_keeps_the_best_epoch(tmp_path, models_root, launcher):
    """A SIGTERM to process 1 alone during the classifier's fit (a scheduler's, a `kill`) is agreed by both
    processes between steps, as Ctrl-C is; process 1 then leaves without an error, so that torchrun's agent
    does not stop process 0 (SIGTERM, exit -15) while it saves the best finished epoch; process 0 exits 130."""
    data = write_csv(tmp_path / "train.csv", ROWS * 3)
    args = [str(data), *SMALL, "--epochs", "100000", "--out", str(tmp_path / "m")]
    env = {**_env(), "TEXTRNN_MODELS": str(models_root), "COLUMNS": "200"}
    if launcher == "torchrun":
        proc = _start(args, env)
    else:
        proc = subprocess.Popen([sys.executable, "-m", "textrnn", "train", *args, "--nproc", "2"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    _wait_for_epochs(proc, lines)
    time.sleep(1.0)
    os.kill(_ranks(proc.pid)[1], signal.SIGTERM)
    rest, _ = proc.communicate(timeout=120)
    output = "".join(lines) + rest
    assert "interrupted: kept the best of" in output and "(SIGTERM)" not in output, output[-3000:]
    if launcher == "--nproc":  # textrnn's own launcher: exit 130, no torchrun report
        assert proc.returncode == 130 and "Traceback" not in output, output[-3000:]
    meta = json.loads((tmp_path / "m" / "metadata.json").read_text())
    assert meta["training"]["stopped"] == "interrupted" and len(meta["training"]["history"]) >= 1
    assert (tmp_path / "m" / "model.onnx").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left
