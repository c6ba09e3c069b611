"""Stopping a job with Ctrl-C or SIGTERM (no torch): what `train`, `tune` and `pretrain` do with them.

    watched()   for the length of a job: SIGINT and SIGTERM raise KeyboardInterrupt in the main thread
                (the clean-up every stage already does for Ctrl-C: staging folders removed, the
                classifier's best finished epoch kept) and are remembered, so that a job that kept
                what it had still ends with exit code 130
    held()      moments that must not be cut (a model folder moved into place, a folder it replaces
                set aside and removed): a signal that arrives inside waits for the block's end and is
                then remembered as having come while saving, not raised: the saving completes
    stage       the stage the job is in, for the line that says where it stopped
    ending()    the job is over but for its last line and its exit: further stop signals are ignored

Library callers that never enter watched() get Python's own Ctrl-C; held() works for them too.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)
NAMES = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}
EXIT_CODE = 130  # what shells report for a job ended by Ctrl-C (128 + SIGINT), for SIGTERM too


@dataclass
class State:
    received: int | None = None  # the first stop signal of the job
    while_saving: bool = False  # it came inside held(): what was being saved was saved completely
    stage: str | None = None  # the last stage the job announced
    agreed: bool = False  # the processes of a distributed job agreed to stop (textrnn.training.distributed)
    ending: bool = False  # ending(): the handlers are not put back


state = State()


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def reset() -> None:
    state.received, state.while_saving, state.stage, state.agreed, state.ending = None, False, None, False, False


def on_signal(signum: int, frame: Any) -> None:
    """Remember the signal and raise KeyboardInterrupt (the handler watched() installs)."""
    if state.received is None:
        state.received = signum
    raise KeyboardInterrupt


@contextmanager
def watched() -> Iterator[State]:
    """A job: SIGINT and SIGTERM stop it (KeyboardInterrupt) and are remembered in `state`."""
    reset()
    if not _main_thread():
        yield state
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    for s in SIGNALS:
        signal.signal(s, on_signal)
    try:
        yield state
    finally:
        for s, handler in previous.items():
            if not state.ending:
                signal.signal(s, handler)


def ending() -> None:
    """The job has stopped and cleaned up; only its last line and its exit remain: ignore further stop
    signals until the process ends (torchrun's agent sends SIGTERM to the other processes of a job when one
    exits, which must not cut rank 0's line or make its exit a kill)."""
    state.ending = True
    if _main_thread():
        for s in SIGNALS:
            signal.signal(s, signal.SIG_IGN)


@contextmanager
def held() -> Iterator[None]:
    """A signal that arrives inside the block waits for its end, and is then remembered, not raised."""
    with _waiting() as came:
        yield
    if came:
        state.received = state.received or came[0]
        state.while_saving = True


@contextmanager
def deferred() -> Iterator[None]:
    """A signal that arrives inside the block is handled at its end, as it would have been (for a line
    being written: rich writes a line again when a KeyboardInterrupt cuts it between write and flush)."""
    with _waiting() as came:
        yield
    if came:
        signal.raise_signal(came[0])  # now, to the handler that was there before


@contextmanager
def _waiting() -> Iterator[list[int]]:
    came: list[int] = []
    if not _main_thread():
        yield came
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    for s in SIGNALS:
        signal.signal(s, lambda signum, frame: came.append(signum))
    try:
        yield came
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def note_stage(name: str) -> None:
    if not name.startswith("Interrupted"):
        state.stage = name


def nothing_saved_line() -> str:
    """What a job that a signal ended before anything was saved says."""
    by = NAMES.get(state.received, "Ctrl-C") if state.received else "Ctrl-C"
    where = f" during: {state.stage}" if state.stage else ""
    return f"stopped by {by}{where}; nothing was saved"


def kept_line() -> str | None:
    """What a job that a signal stopped, but that saved what it had, adds (None: it had no signal, or the
    job's own lines say what it kept)."""
    if state.received is None or not state.while_saving:
        return None
    return f"{NAMES.get(state.received, 'a signal')} came while the model was being saved: it was saved completely"
