"""Serving stage: the Starlette app, a thin layer of routes over the models and their batchers.

    GET  /v2/health/live, /v2/health/ready, /v2          liveness, readiness, server metadata
    GET  /v2/models/{name}, /v2/models/{name}/ready      model metadata and readiness
    POST /v2/models/{name}/infer                         Open Inference Protocol inference
    POST /predict                                        `predict --json` records
    GET  /metrics                                        Prometheus

Ready (200 on /v2/health/ready) only once every model is loaded and has answered a warm-up
inference through its batcher, and no longer once SIGTERM has come. An inference request that
comes during the warm-up (with several workers, another worker may have answered the readiness
probe) waits for it, up to WARM_WAIT seconds, instead of being refused (textrnn.serving.service).
Every refusal is one JSON line {"error": "..."} with its status (see textrnn.serving.protocol); an
unexpected failure is a 500 with a one-line message, its traceback only in the server's log.
Inference requests past `max_concurrency` in flight, or whose texts would queue past
`max_queue_texts` for their model, get 503 with Retry-After at once, so the queue never grows
without bound.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from textrnn.errors import TextrnnError
from textrnn.inference.predictor import Predictor
from textrnn.serving import protocol
from textrnn.serving.batcher import BatcherClosed
from textrnn.serving.metrics import CONTENT_TYPE
from textrnn.serving.protocol import RequestError
from textrnn.serving.service import RETRY_AFTER, Service, load_predictors
from textrnn.serving.settings import ServeSettings

__all__ = ["ServeSettings", "Service", "app_from_environment", "create_app", "load_predictors"]

log = logging.getLogger("textrnn.serve")


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
        except Exception as err:  # never a traceback to the client, never a dead server
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
