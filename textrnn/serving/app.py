"""Serving stage: the Starlette app, a thin layer of routes over the models and their batchers.

    GET  /v2/health/live, /v2/health/ready, /v2          liveness, readiness, server metadata
    GET  /v2/models/{name}, /v2/models/{name}/ready      model metadata and readiness
    POST /v2/models/{name}/infer                         Open Inference Protocol inference
    POST /predict                                        `predict --json` records
    GET  /metrics                                        Prometheus

Ready (200 on /v2/health/ready) only once every model is loaded and has answered a warm-up
inference through its batcher, and no longer once SIGTERM has come. An inference request that
comes during the warm-up (with several workers, another worker may have answered the readiness
probe) waits for it, up to WARM_WAIT seconds, instead of being refused. Every refusal is one JSON line
{"error": "..."} with its status (see textrnn.serving.protocol); an unexpected failure is a 500
with a one-line message, its traceback only in the server's log. Inference requests past
`max_concurrency` get 503 with Retry-After at once, so the queue never grows without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from textrnn.errors import TextrnnError
from textrnn.inference.predictor import Predictor
from textrnn.serving import protocol
from textrnn.serving.batcher import Batcher, BatcherClosed
from textrnn.serving.metrics import CONTENT_TYPE, Metrics
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
                               on_group=lambda group: metrics.group(name, group))
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
        except Exception as err:  # noqa: BLE001 - reported, and the server stops (see server.py)
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
            body = protocol.decompress(body, encoding, limit)
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
        except BatcherClosed as err:
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


def _json(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(protocol.dumps(value), status, headers, media_type="application/json")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(protocol.error_body(message), status, headers, media_type="application/json")


Handler = Callable[[Service, Request], Awaitable[Response]]


def _route(path: str, handler: Handler, service: Service, methods: list[str], inference: bool = False) -> Route:
    """A route whose handler's refusals become JSON errors, counted in the metrics; inference
    routes also count against max_concurrency."""
    metrics = service.metrics
    seconds, inflight = metrics.request_seconds.labels(path), metrics.inflight
    counters: dict[int, Any] = {}  # status -> its requests counter (labels() costs a lock and a lookup)
    limit = service.settings.max_concurrency

    async def endpoint(request: Request) -> Response:
        start = time.perf_counter()
        counted = False
        try:
            if inference:
                if service.inflight >= limit:
                    raise RequestError(503, f"{limit} requests are in flight, the limit; retry shortly", RETRY_AFTER)
                service.inflight += 1
                inflight.inc()
                counted = True
            response = await handler(service, request)
        except RequestError as err:
            response = _error(err.status, str(err), err.headers)
        except ClientDisconnect:
            response = Response(status_code=499)  # nobody reads it: counted as client closed (nginx's 499)
        except BatcherClosed as err:
            response = _error(503, str(err), RETRY_AFTER)
        except TextrnnError as err:  # the model failed on a batch (see Predictor._run)
            log.error("%s %s: %s", request.method, path, err)
            response = _error(500, f"inference failed: {err}")
        except Exception as err:  # noqa: BLE001 - never a traceback to the client, never a dead server
            log.exception("%s %s failed", request.method, path)
            response = _error(500, f"internal error ({type(err).__name__})")
        finally:
            if counted:
                service.inflight -= 1
                inflight.dec()
        status = response.status_code
        counter = counters.get(status)
        if counter is None:
            counter = counters[status] = metrics.requests.labels(path, str(status))
        counter.inc()
        seconds.observe(time.perf_counter() - start)
        return response

    return Route(path, endpoint, methods=methods)


# ---------------------------------------------------------------- handlers


async def live(service: Service, request: Request) -> Response:
    return _json({"live": True})


async def ready(service: Service, request: Request) -> Response:
    ok = service.ready
    return _json({"ready": ok}, 200 if ok else 503, None if ok else RETRY_AFTER)


async def server_metadata(service: Service, request: Request) -> Response:
    return _json(protocol.server_metadata())


async def model_metadata(service: Service, request: Request) -> Response:
    return _json(service.model(request.path_params["name"]).metadata())


async def model_ready(service: Service, request: Request) -> Response:
    model = service.model(request.path_params["name"])
    ok = model.ready and not service.draining
    return _json({"name": model.name, "ready": ok}, 200 if ok else 503, None if ok else RETRY_AFTER)


async def versioned(service: Service, request: Request) -> Response:
    model = service.model(request.path_params["name"])
    raise RequestError(404, f"model {model.name!r} has no version {request.path_params['version']!r}: textrnn "
                            f"serves one version of each model; leave /versions/... out of the path")


async def infer(service: Service, request: Request) -> Response:
    model = service.model(request.path_params["name"])
    body = await service.read_body(request)
    parsed = protocol.parse_infer(body, request.headers.get(protocol.HEADER_LENGTH), service.limits)
    probs, predictions = await service.infer(model, parsed.texts, parsed.top_k, request)
    explain = any(name == protocol.EXPLANATION for name, _ in parsed.outputs)
    explained = await service.explain(model, parsed.texts, parsed.top_k) if explain else ()
    content, headers = protocol.infer_response(model.name, parsed, predictions, probs, explained)
    return Response(content, 200, headers)


async def predict(service: Service, request: Request) -> Response:
    body = await service.read_body(request)
    parsed = protocol.parse_predict(body, service.limits)
    model = service.model(parsed.model)
    predictions = (await service.explain(model, parsed.texts, parsed.top_k) if parsed.explain
                   else (await service.infer(model, parsed.texts, parsed.top_k, request))[1])
    multi = model.predictor.task.kind == "multi_label"
    return Response(protocol.predict_response(model.name, predictions, parsed.top_k, multi, parsed.explain), 200,
                    media_type="application/json")


async def metrics(service: Service, request: Request) -> Response:
    return Response(service.metrics.exposition(), 200, media_type=CONTENT_TYPE)


def create_app(settings: ServeSettings, predictors: dict[str, Predictor] | None = None) -> Starlette:
    """The app serving `settings.models` (loaded at start-up unless `predictors` are given)."""
    service = Service(settings, predictors)
    get, post = ["GET"], ["POST"]
    routes = [  # the inference routes first: routes are matched in order
        _route("/v2/models/{name}/infer", infer, service, post, inference=True),
        _route("/predict", predict, service, post, inference=True),
        _route("/v2/health/live", live, service, get),
        _route("/v2/health/ready", ready, service, get),
        _route("/v2", server_metadata, service, get),
        _route("/v2/", server_metadata, service, get),
        _route("/v2/models/{name}", model_metadata, service, get),
        _route("/v2/models/{name}/ready", model_ready, service, get),
        _route("/v2/models/{name}/versions/{version}", versioned, service, get),
        _route("/v2/models/{name}/versions/{version}/ready", versioned, service, get),
        _route("/v2/models/{name}/versions/{version}/infer", versioned, service, post),
        _route("/metrics", metrics, service, get),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await service.start()
        restore = _watch_signals(service)
        try:
            yield
        finally:
            restore()
            await service.stop()

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = "no such endpoint" if exc.status_code == 404 else exc.detail
        service.metrics.requests.labels("other", str(exc.status_code)).inc()
        return _error(exc.status_code, f"{message}: {request.method} {request.url.path}", exc.headers)

    async def server_error(request: Request, exc: Exception) -> Response:
        return _error(500, f"internal error ({type(exc).__name__})")

    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={HTTPException: http_error, Exception: server_error})
    app.state.service = service
    return app


def _watch_signals(service: Service) -> Callable[[], None]:
    """Readiness turns false on SIGTERM/SIGINT before uvicorn's handler runs; a no-op off the main
    thread (the in-process test client)."""
    previous: dict[int, Any] = {}
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            handler = signal.getsignal(signum)
            signal.signal(signum, lambda s, f, h=handler: service.on_signal(s, f, h))
            previous[signum] = handler
        except (ValueError, TypeError):  # not the main thread
            pass

    def restore() -> None:
        for signum, handler in previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(signum, handler)

    return restore


def app_from_environment() -> Starlette:
    """The app a worker process builds (uvicorn's factory, `serve --workers N`)."""
    import os

    return create_app(ServeSettings.from_json(os.environ["TEXTRNN_SERVE_SETTINGS"]))
