"""Training stage [torch]: one `textrnn train` job spread over the processes torchrun starts.

    torchrun --nproc-per-node 2 -m textrnn train data.csv      # or: textrnn train data.csv --nproc 2

Every process reads and splits the data and trains the tokenizer itself, the same way (same files,
same seed); before training they compare fingerprints of their token ids and targets, and refuse to
go on if any differs. Then, by `--members`:

- one model: DistributedDataParallel. Every process forms the same length-bucketed batches in the
  same order; each step's batch is split by rows across the processes, and each backpropagates its
  rows' mean loss times its share of the batch (times the process count, which DDP divides by), so
  the averaged gradient is the whole batch's: the global batch is `--batch-size`, as in one process,
  and the step is the same (to float rounding; tests/test_distributed.py). Every process validates
  the same weights; rank 0's stop decision is the one all follow.
- an ensemble (`--members N`): member i is trained by process i mod P, on all the data, with no
  gradient exchange; rank 0 gathers the members.

The automatic language-model pretraining is not split: every process trains the same language
model whole (`FitHooks.alike`: `Together`), as one process would.

Only rank 0 (`is_writer`) shows progress and writes the model folder and the DEFAULT pointer.
Ctrl-C (torchrun passes SIGINT to every process) or SIGTERM, to any process, is noted, agreed by all
processes at the next check (every CHECK_EVERY steps and at each epoch's end; in the classifier's fit
and in the pretraining) and then handled as in one process: rank 0 keeps the best finished epoch,
or says that nothing was saved; the processes leave together and exit 130. A dead process makes
torchrun end the others. Backend: gloo for CPU tensors, NCCL for CUDA ones (with `--device cuda`,
each process on GPU LOCAL_RANK).
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from textrnn import interrupts
from textrnn.errors import TextrnnError, TrainingError
from textrnn.training.devices import resolve_device
from textrnn.training.epochs import FitHooks, FitResult

if TYPE_CHECKING:
    from textrnn.config import Settings

CHECK_EVERY = 16  # steps between checks for a Ctrl-C on any process (one tiny all-reduce)
# A process that trained its ensemble members waits for the others (which may train for hours);
# one model's processes move in step, so PyTorch's default (30 minutes) is kept for them.
MEMBERS_TIMEOUT = timedelta(days=7)
LEAVE_TIMEOUT = timedelta(seconds=30)  # processes that agreed to stop wait this long for each other to leave


@dataclass(frozen=True)
class Place:
    """Where this process is in the run (torchrun's RANK, WORLD_SIZE and LOCAL_RANK)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0


def place() -> Place:
    """This process's place, from the environment torchrun sets; one process alone without it."""
    try:
        return Place(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0)))
    except (KeyError, ValueError):
        return Place()


def is_launched() -> bool:
    """Whether this process is one of several that torchrun started."""
    return place().world > 1


def fingerprint(*arrays: Any) -> str:
    """SHA-256 of token ids (lists of arrays or compact storage) and target arrays, to compare processes."""
    digest = hashlib.sha256()
    for data in arrays:
        parts = getattr(data, "buffers", None)
        if parts is not None:  # compact token storage: its flat buffers
            chunks: Iterator[np.ndarray] = iter(parts())
        elif isinstance(data, np.ndarray):
            chunks = iter([data])
        else:
            chunks = (np.asarray(x, dtype=np.int64) for x in data)
        for chunk in chunks:
            chunk = np.ascontiguousarray(chunk)
            digest.update(f"{chunk.dtype.str}{chunk.shape}".encode())
            digest.update(chunk.tobytes())
        digest.update(b"|")
    return digest.hexdigest()


class _Processes(FitHooks):
    """What both ways of training across processes share: the writer, and the check that every
    process trains on the same data."""

    def __init__(self, where: Place) -> None:
        self.where = where

    @property
    def is_writer(self) -> bool:  # type: ignore[override]
        return self.where.rank == 0

    def check_inputs(self, *arrays: Any) -> None:
        prints: list[str | None] = [None] * self.where.world
        dist.all_gather_object(prints, fingerprint(*arrays))
        if len(set(prints)) > 1:
            other = next(r for r, p in enumerate(prints) if p != prints[0])
            raise TrainingError(f"process {other} of {self.where.world} read different training data, or built a "
                                "different tokenizer, than process 0: every process must see the same files")

    def alike(self) -> FitHooks:
        return Together(self.where)


class Together(_Processes):
    """Every process does the same work whole (the same batches and steps, as the language model each
    pretrains for itself) and they stop together: Ctrl-C and SIGTERM are agreed between steps, every
    CHECK_EVERY steps and at each epoch's end, and rank 0's stop decision is the one all follow."""

    def __init__(self, where: Place) -> None:
        super().__init__(where)
        self.interrupted = 0  # the Ctrl-C (SIGINT) or SIGTERM seen here, not yet agreed; 0: none

    @contextmanager
    def fitting(self, model: nn.Module) -> Iterator[nn.Module]:
        with self._deferred_interrupts():
            yield model

    @contextmanager
    def _deferred_interrupts(self) -> Iterator[None]:
        """Ctrl-C and SIGTERM only set a flag while training: a process that stopped at once would
        leave the others waiting in a collective. The flag is agreed at the next check."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        signals = (signal.SIGINT, signal.SIGTERM)
        previous = {s: signal.getsignal(s) for s in signals}

        def note(signum: int, frame: Any) -> None:
            self.interrupted = self.interrupted or signum

        self.interrupted = 0
        for s in signals:
            signal.signal(s, note)
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        if self.interrupted:  # after the last check: stop as if it had come a moment earlier (not agreed)
            self._stop(self.interrupted, agreed=False)

    @staticmethod
    def _stop(signum: int, agreed: bool = True) -> NoReturn:
        """Stop this process for a signal (`agreed`: by all processes; it came to this one or to another)."""
        if interrupts.state.received is None:  # for the exit code (130) and the line that names the signal
            interrupts.state.received = signum
        interrupts.state.agreed = agreed
        raise KeyboardInterrupt

    def check_interrupts(self) -> None:
        """After a Ctrl-C or SIGTERM to any process, KeyboardInterrupt on every one (one tiny all-reduce)."""
        state = torch.tensor([self.interrupted], dtype=torch.int64)
        dist.all_reduce(state, op=dist.ReduceOp.MAX)
        if state.item():
            self._stop(int(state.item()))

    def any_process(self, flag: bool) -> bool:
        state = torch.tensor([int(flag)], dtype=torch.int64)
        dist.all_reduce(state, op=dist.ReduceOp.MAX)
        return bool(state.item())

    def shard(self, batches: list[np.ndarray]) -> _Shares:
        return _Shares(self, batches, split=False)

    def agree_stop(self, stop: bool) -> bool:
        """Rank 0's decision (all processes validated the same weights), and any process's Ctrl-C."""
        state = torch.tensor([int(stop and self.is_writer), self.interrupted], dtype=torch.int64)
        dist.all_reduce(state, op=dist.ReduceOp.MAX)
        if state[1].item():
            self._stop(int(state[1].item()))
        return bool(state[0].item())


class DataParallel(Together):
    """One model trained by all processes (DistributedDataParallel), each computing its rows of every batch."""

    def __init__(self, where: Place, device: torch.device) -> None:
        super().__init__(where)
        self.device = device

    @contextmanager
    def fitting(self, model: nn.Module) -> Iterator[nn.Module]:
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index if self.device.index is not None else torch.cuda.current_device()] \
            if self.device.type == "cuda" else None
        wrapped = DistributedDataParallel(model, device_ids=ids)  # broadcasts rank 0's initial weights
        with self._deferred_interrupts():
            yield wrapped

    def shard(self, batches: list[np.ndarray]) -> _Shares:
        return _Shares(self, batches)

    def average(self, values: tuple[float, ...], rows: int) -> tuple[float, ...]:
        totals = torch.tensor([*(v * rows for v in values), rows], dtype=torch.float64)
        dist.all_reduce(totals)
        n = max(totals[-1].item(), 1.0)
        return tuple(float(t) / n for t in totals[:-1].tolist())


class _Shares:
    """This process's rows of each batch (`split`; else the whole batch), with the weight of their loss;
    between steps, every CHECK_EVERY steps, a Ctrl-C on any process stops them all at the same step."""

    def __init__(self, hooks: Together, batches: list[np.ndarray], split: bool = True) -> None:
        self.hooks, self.batches, self.split = hooks, batches, split

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[tuple[np.ndarray, float]]:
        rank, world = self.hooks.where.rank, self.hooks.where.world
        for n, batch in enumerate(self.batches):
            if n % CHECK_EVERY == CHECK_EVERY - 1:
                self.hooks.check_interrupts()
            if not self.split:
                yield batch, 1.0
                continue
            rows = np.array_split(batch, world)[rank]
            if len(rows):
                # DDP averages the processes' gradients: scaled by world * share, the average is the batch mean's
                yield rows, world * len(rows) / len(batch)
            else:  # fewer rows than processes: compute one, counting for nothing, to join the all-reduce
                yield batch[:1], 0.0


class MemberParallel(_Processes):
    """An ensemble: member i trained by process i mod P (no gradient exchange); rank 0 gathers them."""

    def members(self, members: int) -> Sequence[int]:
        return range(self.where.rank, members, self.where.world)

    def gather_members(self, trained: list[tuple[int, nn.Module, FitResult]]) -> list[tuple[int, nn.Module, FitResult]]:
        everyone: list[Any] | None = [None] * self.where.world if self.is_writer else None
        dist.gather_object(trained, everyone, dst=0)
        if not self.is_writer:
            return []
        by_index = {i: (i, model, fit) for part in everyone or [] for i, model, fit in part}
        kept = []  # members 0, 1, ... up to the first missing one (Ctrl-C keeps the members finished so far)
        while len(kept) in by_index:
            kept.append(by_index[len(kept)])
        return kept


@contextmanager
def distributed_run(settings: Settings) -> Iterator[FitHooks]:
    """FitHooks for this process: one process alone, or its part of a torchrun job (the process group
    set up before and torn down after). Errors in processes other than rank 0 end them quietly (rank 0
    reports the same error); a lost connection to another process is a TrainingError."""
    where = place()
    if where.world <= 1:
        yield FitHooks()
        return
    device = resolve_device(settings.train.device)
    if device.type == "cuda":
        torch.cuda.set_device(where.local_rank)
        device = torch.device("cuda", where.local_rank)
    members = settings.model.members > 1
    dist.init_process_group("cpu:gloo,cuda:nccl" if device.type == "cuda" else "gloo",
                            **({"timeout": MEMBERS_TIMEOUT} if members else {}))
    hooks = MemberParallel(where) if members else DataParallel(where, device)
    try:
        yield hooks
        # leave together: a process that tore the group down while process 0 was still exporting (it holds
        # the connections) was sometimes aborted by gloo (SIGABRT, "terminate called without an active
        # exception"; 3 of 31 runs of the members test's torchrun job), and torchrun then ended process 0
        # mid-export; 0 of 42 with this barrier. Bounded by the group's timeout.
        dist.barrier()
    except TextrnnError:
        if hooks.is_writer:
            raise
        _quiet_exit(1)
    except KeyboardInterrupt:
        if interrupts.state.agreed:  # every process is here: they leave together (see _leave_together)
            _leave_together()
        interrupts.ending()  # its clean-up done; torchrun ends the others when one exits: not rank 0's last line
        if hooks.is_writer:
            raise
        _quiet_exit(130)
    except (RuntimeError, dist.DistError) as err:
        if not _is_lost_peer(err):
            raise
        detail = re.sub(r"^\[[^\]]*\]\s*", "", str(err).splitlines()[0])[:120]  # gloo's source location
        raise TrainingError(f"process {where.rank} of {where.world} lost contact with another process, which "
                            f"stopped or was killed ({detail}); nothing was saved") from None
    finally:
        dist.destroy_process_group()


def _is_lost_peer(err: BaseException) -> bool:
    text = str(err).lower()
    return isinstance(err, dist.DistError) or any(
        s in text for s in ("connection closed", "connection reset", "broken pipe", "gloo", "nccl", "timed out"))


def _leave_together() -> None:
    """A barrier before the process group is torn down: a process that leaves while another still holds
    its connections can make gloo abort that one (SIGABRT). Bounded: a process that is not coming (it
    stopped on its own) does not hold the others up."""
    try:
        dist.monitored_barrier(timeout=LEAVE_TIMEOUT)
    except Exception:  # leaving anyway
        pass


def _quiet_exit(code: int) -> NoReturn:
    """End a process other than rank 0 without repeating what rank 0 says."""
    raise SystemExit(code)


def launch(nproc: int, argv: Sequence[str]) -> int:
    """Run `torchrun --standalone --nproc-per-node N -m textrnn ARGV` (one machine) in this process, as
    its agent; the exit code: 0, 1 when a process failed (it said why), 130 after Ctrl-C (rank 0 has
    saved the best finished epoch, as in one process)."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    # torchrun sets 1 thread a process (with a warning) unless told; share the cores instead
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    args = get_args_parser().parse_args(["--standalone", f"--nproc-per-node={nproc}", "--module", "textrnn",
                                         *argv])
    try:
        run(args)
    except SignalException:
        return 130
    except ChildFailedError as failed:  # the process that failed printed its error line; torchrun's report adds nothing
        # a process ended by an agreed Ctrl-C or SIGTERM (130), and none by an error: interrupted, not failed (the
        # others may show torchrun's own SIGTERM or a teardown abort)
        codes = {f.exitcode for f in failed.failures.values()}
        return 130 if 130 in codes and 1 not in codes else 1
    return 0
