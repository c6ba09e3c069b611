"""Serving stage: `textrnn serve` as one library call, on uvicorn.

The models are loaded and checked before the port is bound, so a model that cannot serve is one
error line, not a server that never gets ready. The socket is bound here (port 0: the system picks
one, and the start-up line says which). With one worker the app runs in this process; with several,
uvicorn starts that many processes on the same socket, each loading the models itself, and their
metrics meet in a temporary $PROMETHEUS_MULTIPROC_DIR removed at exit.

SIGTERM or Ctrl-C: readiness turns false, the socket stops accepting, requests in flight are
answered (for at most `timeout_graceful_shutdown` seconds), the batchers stop, exit code 0.
"""

from __future__ import annotations

import copy
import inspect
import os
import shutil
import signal
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from textrnn.errors import ConfigError, ModelFolderError
from textrnn.folder import ModelFolder, store
from textrnn.inference.sessions import default_threads
from textrnn.serving.settings import ServerOptions, ServeSettings

__all__ = ["ServerOptions", "find_models", "run_server"]


def find_models(model: str | Path | None, models_dir: str | Path | None,
                name: str | None = None) -> tuple[tuple[tuple[str, str], ...], str | None]:
    """The models to serve as (name, folder), and the default one: `model` (named after its folder,
    or `name`), every model folder in `models_dir` (by folder name; the default is the one its
    DEFAULT file points to, if any), or else the default model."""
    if model is not None and models_dir is not None:
        raise ConfigError("give --model or --models, not both")
    if models_dir is not None:
        root = Path(models_dir)
        if not root.is_dir():
            raise ModelFolderError(f"models folder {root} does not exist")
        folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
                         and (p / store.METADATA_FILE).is_file())
        if not folders:
            raise ModelFolderError(f"{root} holds no model folder (folders with a {store.METADATA_FILE})")
        if name is not None:
            raise ConfigError("--name names the one model of --model; with --models, models are named after "
                              "their folders")
        default = None
        pointer = root / store.DEFAULT_POINTER
        if pointer.is_file():
            target = Path(pointer.read_text(encoding="utf-8", errors="replace").strip())
            target = target if target.is_absolute() else root / target
            default = next((p.name for p in folders if p.resolve() == target.resolve()), None)
        return tuple((p.name, str(p)) for p in folders), default
    folder = ModelFolder.open(model)
    served = name or folder.name
    return ((served, str(folder.path)),), served


def run_server(settings: ServeSettings, options: ServerOptions,
               notice: Callable[[str], None] | None = None) -> None:
    """Serve until SIGTERM or Ctrl-C. Loads every model first (TextrnnError if one cannot serve)."""
    import uvicorn

    from textrnn.serving.app import create_app, load_predictors

    settings.check()
    if options.workers is None:  # the default: one per physical core (one with CUDA)
        options = replace(options, workers=1 if settings.device == "cuda" else default_threads())
    if options.workers < 1:
        raise ConfigError(f"workers must be at least 1 (got {options.workers})")
    if options.workers > 1 and settings.threads is None and settings.device != "cuda":
        # the cores shared out between the workers, not each worker's threads on every core
        settings = replace(settings, threads=max(1, default_threads() // options.workers))
    predictors = load_predictors(settings)  # every model checked before the port is taken
    app = create_app(settings, predictors) if options.workers == 1 else None
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    log_config["handlers"]["access"]["stream"] = "ext://sys.stderr"  # uvicorn's default is stdout; --help says stderr
    config = uvicorn.Config(
        app or "textrnn.serving.app:app_from_environment", log_config=log_config,
        factory=options.workers > 1, host=options.host, port=options.port, workers=options.workers,
        log_level=options.log_level, access_log=options.access_log, lifespan="on",
        proxy_headers=options.access_log,  # X-Forwarded-For only matters to the access log
        timeout_graceful_shutdown=options.timeout_graceful_shutdown, timeout_keep_alive=options.timeout_keep_alive,
        # a backstop for connections; inference requests past --max-concurrency get 503 from the app
        limit_concurrency=max(1024, 4 * settings.max_concurrency))
    try:
        sock = config.bind_socket()
    except SystemExit as err:  # uvicorn logs the reason and exits; say it as one line
        raise ConfigError(f"cannot listen on {options.host}:{options.port} (is the port taken?)") from err
    host, port = sock.getsockname()[:2]
    if notice:
        shown = f"[{host}]" if ":" in host else host
        for name, predictor in predictors.items():
            notice(f"model {name}: {predictor.precision} on {predictor.provider}, {predictor.workers} "
                   f"inference threads, labels {', '.join(predictor.labels[:8])}"
                   f"{', ...' if len(predictor.labels) > 8 else ''}")
        notice(f"serving on http://{shown}:{port} ({options.workers} worker{'s' * (options.workers > 1)}; "
               "ready after a warm-up; Ctrl-C or SIGTERM stops)")
    # uvicorn re-raises the signal that stopped it once it has finished: let that end quietly
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda s, f: None)
    if options.workers == 1:
        server = uvicorn.Server(config)
        server.run(sockets=[sock])
        if app is not None and app.state.service.failed is not None:
            raise ModelFolderError(f"the warm-up inference failed: {app.state.service.failed}")
        if not server.started:
            raise ConfigError("the server did not start (see the log above)")
        return
    from uvicorn.supervisors import Multiprocess

    del predictors  # each worker loads its own
    metrics_dir = tempfile.mkdtemp(prefix="textrnn-serve-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    os.environ["TEXTRNN_SERVE_SETTINGS"] = settings.to_json()
    try:
        if "target" in inspect.signature(Multiprocess).parameters:  # uvicorn < 0.36 takes the server's run
            Multiprocess(config, target=uvicorn.Server(config).run, sockets=[sock]).run()
        else:
            Multiprocess(config, sockets=[sock]).run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
