"""Serving stage: the service behind the routes: each model's Predictor and Batcher, warm-up,
readiness, draining, reading request bodies, and the two limits on waiting work (requests in flight,
`max_concurrency`, checked by the routes; texts queued per model, `max_queue_texts`, checked here):
past either, a 503 with Retry-After at once rather than a longer queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import zlib
from typing import Any

import numpy as np
from starlette.requests import ClientDisconnect, Request

from textrnn.inference.predictor import Predictor
from textrnn.serving import protocol
from textrnn.serving.batcher import Batcher, BatcherClosed, QueueFull
from textrnn.serving.metrics import Metrics
from textrnn.serving.protocol import RequestError
from textrnn.serving.settings import ServeSettings

log = logging.getLogger("textrnn.serve")

RETRY_AFTER = {"retry-after": "1"}
WARM_WAIT = 30.0  # seconds an inference request waits for its model's warm-up before a 503
WATCH_AFTER = 0.02  # seconds a request waits for its answer before its client's leaving is watched for
# Texts for the warm-up: one short, and enough of several lengths for batches side by side.
WARM_UP = ["warm up"] + [" ".join(["warm"] * n) for n in range(1, 41)]


class ServedModel:
    """One model: its Predictor, its Batcher, and whether it has warmed up."""

    def __init__(self, name: str, predictor: Predictor, settings: ServeSettings, metrics: Metrics) -> None:
        self.name = name
        self.predictor = predictor
        self.ready = False
        self.warm_up_over = asyncio.Event()  # set when the warm-up has ended, well or not
        self.batcher = Batcher(predictor.predict_proba, predictor.task.decode, settings.groups or predictor.workers,
                               settings.max_batch_texts, settings.max_delay_ms / 1000,
                               on_group=lambda group: metrics.group(name, group),
                               max_queue_texts=settings.max_queue_texts)
        task = predictor.task
        self.parameters = {"task": task.kind, "precision": predictor.precision, "provider": predictor.provider,
                           "threads": predictor.threads}
        metrics.model_info.labels(name, task.kind, str(len(predictor.labels)), predictor.precision,
                                  predictor.provider, str(predictor.threads)).set(1)

    def metadata(self) -> dict[str, Any]:
        return protocol.model_metadata(self.name, self.predictor.labels, self.parameters)


def load_predictors(settings: ServeSettings) -> dict[str, Predictor]:
    """Every model's Predictor (TextrnnError for a folder that cannot serve)."""
    return {name: Predictor(path, settings.device, settings.threads, settings.precision)
            for name, path in settings.models}


class Service:
    """The models, their state and the limits: what the routes work on."""

    def __init__(self, settings: ServeSettings, predictors: dict[str, Predictor] | None = None) -> None:
        settings.check()
        self.settings = settings
        self.limits = settings.limits
        self.metrics = Metrics()
        self.models: dict[str, ServedModel] = {}
        self._predictors = predictors
        self.draining = False
        self.inflight = 0
        self._warm_up: asyncio.Task | None = None
        self.failed: BaseException | None = None

    @property
    def ready(self) -> bool:
        return (not self.draining and len(self.models) == len(self.settings.models)
                and all(m.ready for m in self.models.values()))

    # ------------------------------------------------------------ life

    async def start(self) -> None:
        """Load the models (unless given), start their batchers, and warm them up in the background."""
        predictors = self._predictors
        if predictors is None:
            predictors = await asyncio.get_running_loop().run_in_executor(None, load_predictors, self.settings)
        for name, _ in self.settings.models:
            model = ServedModel(name, predictors[name], self.settings, self.metrics)
            model.batcher.start()
            self.models[name] = model
        self._warm_up = asyncio.get_running_loop().create_task(self._warm(), name="textrnn-warm-up")

    async def _warm(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            for model in self.models.values():
                await loop.run_in_executor(None, model.predictor.predict_proba, WARM_UP)
                await model.batcher.infer(WARM_UP[:1])
                model.ready = True
                model.warm_up_over.set()
                log.info("model %s is ready", model.name)
        except Exception as err:  # reported, and the server stops (see server.py)
            self.failed = err
            log.error("warm-up failed: %s", err)
            for model in self.models.values():
                model.warm_up_over.set()
            if callable(signal.getsignal(signal.SIGTERM)):  # uvicorn's handler: a graceful stop
                signal.raise_signal(signal.SIGTERM)

    async def stop(self) -> None:
        """Answer everything queued, then stop the batchers."""
        self.draining = True
        if self._warm_up is not None and not self._warm_up.done():
            self._warm_up.cancel()
        for model in self.models.values():
            model.warm_up_over.set()  # requests still waiting for it get their 503
        for model in self.models.values():
            await model.batcher.close()
        self.metrics.process_exit()

    def on_signal(self, signum: int, frame: Any, previous: Any) -> None:
        """SIGTERM or SIGINT: not ready any more, then uvicorn's own handler (stop accepting,
        finish the requests in flight, exit)."""
        self.draining = True
        if callable(previous):
            previous(signum, frame)

    # ------------------------------------------------------------ requests

    def model(self, name: str | None) -> ServedModel:
        if name is None:
            name = self.settings.default
            if name is None:
                if len(self.settings.models) == 1:
                    name = self.settings.models[0][0]
                else:
                    raise RequestError(400, "several models are served: name one with \"model\" (one of "
                                            f"{', '.join(n for n, _ in self.settings.models)})")
        model = self.models.get(name)
        if model is None:
            if any(name == n for n, _ in self.settings.models):
                raise RequestError(503, f"model {name!r} is still loading", RETRY_AFTER)
            served = ", ".join(n for n, _ in self.settings.models)
            raise RequestError(404, f"no model named {name!r} (served: {served})")
        return model

    async def read_body(self, request: Request) -> bytes:
        """The body, at most max_body_bytes (413) after any gzip/deflate content encoding."""
        limit = self.limits.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise RequestError(413, f"the body is {int(declared):,} bytes; the limit is {limit:,}")
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("identity", "gzip", "deflate"):
            raise RequestError(415, f"unsupported Content-Encoding {encoding!r} (use gzip, deflate or none)")
        chunks, size = [], 0
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise RequestError(413, f"the body is over the limit of {limit:,} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if encoding != "identity":
            body = decompress(body, encoding, limit)
        return body

    async def explain(self, model: ServedModel, texts: list[str], top_k: int | None) -> list[Any]:
        """The explanations of `texts` (textrnn.inference.explain) off the event loop, once warmed up."""
        if not model.ready:
            raise RequestError(503, f"model {model.name!r} is warming up", RETRY_AFTER)
        return await asyncio.get_running_loop().run_in_executor(None, model.predictor.explain, texts, None, top_k)

    async def infer(self, model: ServedModel, texts: list[str], top_k: int | None,
                    request: Request) -> tuple[np.ndarray, list[Any]]:
        """The probabilities and predictions of `texts` through the model's batcher; given up if the
        client leaves."""
        if not model.ready:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(model.warm_up_over.wait(), WARM_WAIT)
            if not model.ready:
                raise RequestError(503, f"model {model.name!r} is warming up", RETRY_AFTER)
        try:
            future = model.batcher.submit(texts, top_k)
        except (BatcherClosed, QueueFull) as err:
            raise RequestError(503, str(err), RETRY_AFTER) from None
        # Most answers come within WATCH_AFTER: only a request still waiting then gets a task that
        # listens for its client leaving (and then drops its texts if they are still queued).
        watch: list[asyncio.Task] = []
        loop = asyncio.get_running_loop()
        timer = loop.call_later(WATCH_AFTER, lambda: watch.append(
            loop.create_task(_cancel_on_disconnect(request, future))))
        try:
            return await future
        except asyncio.CancelledError:
            if watch and watch[0].done():  # the client left: nobody gets an answer
                raise ClientDisconnect() from None
            raise
        finally:
            timer.cancel()
            if watch:
                watch[0].cancel()


async def _cancel_on_disconnect(request: Request, future: asyncio.Future) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            future.cancel()
            return


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """A gzip or deflate request body, decoded; at most `limit` bytes once decompressed (413)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as err:
        raise RequestError(400, f"the body is not valid {encoding} data ({err})") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise RequestError(413, f"the body is over the limit of {limit:,} bytes once decompressed")
    if not inflater.eof:
        raise RequestError(400, f"the body is truncated {encoding} data")
    return out
