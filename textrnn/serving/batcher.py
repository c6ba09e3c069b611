"""Serving stage: the batcher. Requests that arrive together are inferred together.

One Batcher per model, on the server's event loop. A request's texts join a queue; whenever fewer
than `groups` groups are running, the batcher takes everything queued (up to `max_batch_texts`
texts, whole requests only) as one group, without waiting (Triton's default), or, with
`max_delay` > 0, waiting at most that long after the oldest request for a fuller group. A group
runs as `predict --file` runs a chunk: tokenized, sorted by length, cut into batches that run side
by side on the Predictor's one-thread ONNX Runtime sessions. The group's rows are decoded into
predictions there too, at once for all requests asking the same top_k (vectorised, and off the event
loop). Each request then gets its own rows and predictions back, in its own order. Requests whose
client has gone (their future cancelled) are dropped before they cost any inference.

The queue is bounded: a request whose texts would take the texts waiting (not yet running) past
`max_queue_texts` is refused at once (QueueFull), unless nothing waits (so one request of any size
always gets in). Under overload the wait stays at most about max_queue_texts / throughput.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from textrnn.errors import TextrnnError


class BatcherClosed(TextrnnError):
    """The batcher is shutting down and takes no new requests."""


class QueueFull(TextrnnError):
    """The queue holds max_queue_texts texts already: the request is refused, not queued."""


@dataclass
class _Pending:
    texts: list[str]
    top_k: int | None
    future: asyncio.Future
    queued: float  # time.perf_counter() when it joined the queue


@dataclass(frozen=True)
class Group:
    """What one inference run held, for metrics: texts, requests, each request's queue seconds,
    and the seconds the run took."""

    texts: int
    requests: int
    queue_seconds: tuple[float, ...]
    seconds: float


Decode = Callable[[Sequence[str], np.ndarray, int], list[Any]]


class Batcher:
    """Runs `infer(texts) -> (len(texts), classes) probabilities` on groups of queued requests, and
    `decode(texts, probabilities, top_k) -> predictions` (row by row: a task's decode) on their rows."""

    def __init__(self, infer: Callable[[list[str]], np.ndarray], decode: Decode | None = None, groups: int = 2,
                 max_batch_texts: int = 512, max_delay: float = 0.0,
                 on_group: Callable[[Group], None] | None = None, max_queue_texts: int | None = None) -> None:
        self._infer = infer
        self._decode = decode
        self.groups = max(1, groups)
        self.max_batch_texts = max(1, max_batch_texts)
        self.max_delay = max(0.0, max_delay)
        self.max_queue_texts = None if max_queue_texts is None else max(1, max_queue_texts)
        self._on_group = on_group
        self._queue: deque[_Pending] = deque()
        self._queued_texts = 0
        self._free = self.groups
        self._wakeup: asyncio.Event | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._task: asyncio.Task | None = None
        self._running: set[asyncio.Future] = set()
        self._closing = False

    @property
    def queued_texts(self) -> int:
        """Texts waiting, not yet running (what the queue bound counts)."""
        return self._queued_texts

    def start(self) -> None:
        """Start the batching task on the running event loop."""
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(self.groups, thread_name_prefix="textrnn-batch")
        self._task = asyncio.get_running_loop().create_task(self._run(), name="textrnn-batcher")

    def submit(self, texts: list[str], top_k: int | None = None) -> asyncio.Future:
        """A future of (probabilities of `texts` (len(texts), classes), their predictions with top_k
        labels or None without `decode`), in their order; cancel it if the answer is no longer wanted.
        QueueFull when `texts` would take the queue past max_queue_texts."""
        if self._closing or self._wakeup is None:
            raise BatcherClosed("the server is shutting down")
        bound = self.max_queue_texts
        if bound is not None and self._queue and self._queued_texts + len(texts) > bound:
            raise QueueFull(f"{self._queued_texts:,} texts are queued and the limit is {bound:,}; retry shortly")
        future = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(texts, top_k, future, time.perf_counter()))
        self._queued_texts += len(texts)
        self._wakeup.set()
        return future

    async def infer(self, texts: list[str], top_k: int | None = None) -> tuple[np.ndarray, list[Any] | None]:
        return await self.submit(texts, top_k)

    async def close(self) -> None:
        """Stop taking requests, answer every queued and running one, then stop."""
        self._closing = True
        if self._wakeup is not None:
            self._wakeup.set()
        if self._task is not None:
            await self._task
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    async def _run(self) -> None:
        assert self._wakeup is not None
        while True:
            while not self._queue or not self._free:
                if self._closing and not self._queue:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
            if self.max_delay and self._queued_texts < self.max_batch_texts and not self._closing:
                await self._wait_for_more()
            group = self._take()
            if group:
                self._start(group)

    async def _wait_for_more(self) -> None:
        """Wait until max_batch_texts texts are queued, or max_delay after the oldest request."""
        assert self._wakeup is not None
        deadline = self._queue[0].queued + self.max_delay
        while self._queued_texts < self.max_batch_texts and not self._closing:
            left = deadline - time.perf_counter()
            if left <= 0:
                return
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), left)
            except asyncio.TimeoutError:
                return

    def _take(self) -> list[_Pending]:
        """Whole requests from the front of the queue, up to max_batch_texts texts (at least one
        request), skipping those nobody waits for any more."""
        group: list[_Pending] = []
        n = 0
        while self._queue:
            pending = self._queue[0]
            if pending.future.done():  # cancelled: the client went away
                self._queue.popleft()
                self._queued_texts -= len(pending.texts)
                continue
            if group and n + len(pending.texts) > self.max_batch_texts:
                break
            self._queue.popleft()
            self._queued_texts -= len(pending.texts)
            group.append(pending)
            n += len(pending.texts)
        return group

    def _start(self, group: list[_Pending]) -> None:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        self._free -= 1
        future = loop.run_in_executor(self._executor, self._work, [p.texts for p in group], [p.top_k for p in group])
        self._running.add(future)
        future.add_done_callback(lambda f: self._finish(f, group, started))

    def _finish(self, future: asyncio.Future, group: list[_Pending], started: float) -> None:
        self._running.discard(future)
        self._free += 1
        assert self._wakeup is not None
        self._wakeup.set()
        error = future.exception() if not future.cancelled() else BatcherClosed("inference was cancelled")
        if error is not None:
            for pending in group:
                if not pending.future.done():
                    pending.future.set_exception(error)
            return
        for pending, result in zip(group, future.result(), strict=True):
            if not pending.future.done():
                pending.future.set_result(result)
        if self._on_group is not None:
            self._on_group(Group(sum(len(p.texts) for p in group), len(group),
                                 tuple(started - p.queued for p in group), time.perf_counter() - started))

    def _work(self, texts: list[list[str]], top_ks: list[int | None]) -> list[tuple[np.ndarray, list[Any] | None]]:
        """In a worker thread: infer a group, split its rows by request, decode them."""
        flat = texts[0] if len(texts) == 1 else [t for ts in texts for t in ts]
        probs = self._infer(flat)
        bounds = np.cumsum([0, *(len(ts) for ts in texts)])
        rows = [probs[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        decoded: list[list[Any] | None] = [None] * len(texts)
        if self._decode is not None:
            for k in set(top_ks):  # one decode per top_k asked (usually one: all ask 1)
                which = [i for i, kk in enumerate(top_ks) if kk == k]
                sub = probs if len(which) == len(texts) else np.concatenate([rows[i] for i in which])
                predictions = self._decode([t for i in which for t in texts[i]], sub, k)
                at = 0
                for i in which:
                    decoded[i] = predictions[at: at + len(texts[i])]
                    at += len(texts[i])
        return list(zip(rows, decoded, strict=True))

