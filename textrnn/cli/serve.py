"""`textrnn serve`: put models behind HTTP (Open Inference Protocol, /predict, /metrics); see
textrnn.serving. No torch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from textrnn.cli.core import err, handle_errors
from textrnn.cli.options import DeviceOption, ModelOption, PrecisionOption, ThreadsOption
from textrnn.config import Device, InferPrecision
from textrnn.errors import MissingDependencyError

LIMITS = "Limits"


@handle_errors
def serve_cmd(
    model: ModelOption = None,
    models: Annotated[Optional[Path], typer.Option("--models", metavar="DIR", help="Serve every model folder in DIR, each by its folder name.")] = None,
    name: Annotated[Optional[str], typer.Option(metavar="NAME", help="The name to serve --model under (default: its folder name).")] = None,
    host: Annotated[str, typer.Option(metavar="HOST", help="Address to listen on; 0.0.0.0 for every interface.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", min=0, max=65535, help="Port (0: any free port, printed at start).")] = 8000,
    workers: Annotated[Optional[int], typer.Option(metavar="N", min=1, help="Server processes, each with its own copy of the models and a share of the cores (--threads: physical cores / N). Default: the physical cores (1 with CUDA): one event loop limits many small requests (benchmarks/results-serve.md: 1-text requests at concurrency 64, 2 workers 6,875 texts/s against 4,789 with one).", show_default=False)] = None,
    device: DeviceOption = Device.auto,
    precision: PrecisionOption = InferPrecision.auto,
    threads: ThreadsOption = None,
    max_batch_texts: Annotated[int, typer.Option(metavar="N", min=1, help="Most texts inferred as one group (whole requests).")] = 512,
    max_delay_ms: Annotated[float, typer.Option(metavar="MS", min=0, max=1000, help="Wait up to MS after the first queued request for a fuller group (default 0: never wait).")] = 0.0,
    max_concurrency: Annotated[int, typer.Option(metavar="N", min=1, rich_help_panel=LIMITS, help="Inference requests in flight per worker; more get 503 with Retry-After.")] = 256,
    max_queue_texts: Annotated[int, typer.Option(metavar="N", min=1, rich_help_panel=LIMITS, help="Texts waiting for inference per model and worker; a request that would queue past N gets 503 with Retry-After at once (bounds the wait under overload to about N / throughput).")] = 1024,
    max_body_bytes: Annotated[int, typer.Option(metavar="BYTES", min=1, rich_help_panel=LIMITS, help="Largest request body (413 past it).")] = 1 << 20,
    max_texts: Annotated[int, typer.Option(metavar="N", min=1, rich_help_panel=LIMITS, help="Most texts per request (422 past it).")] = 256,
    max_text_chars: Annotated[int, typer.Option(metavar="N", min=1, rich_help_panel=LIMITS, help="Most characters per text (422 past it).")] = 100_000,
    timeout_graceful_shutdown: Annotated[int, typer.Option(metavar="S", min=0, help="On SIGTERM, seconds to finish the requests in flight.")] = 30,
    access_log: Annotated[bool, typer.Option("--access-log", help="Log every request to stderr.")] = False,
) -> None:
    """Serve models over HTTP: Open Inference Protocol (KServe V2), /predict, /metrics.

    Requests that arrive together are inferred together. Ready (GET /v2/health/ready) once every
    model has answered a warm-up inference.

    \b
    Examples:
      textrnn serve                                  (the default model, http://127.0.0.1:8000)
      textrnn serve --model models/sst2 --port 9000
      textrnn serve --models models/ --host 0.0.0.0 --workers 2
      curl -s localhost:8000/predict -d '{"texts": ["great film"], "top_k": 2}'
    """
    try:
        import textrnn.serving.app  # noqa: F401 - Starlette, uvicorn, prometheus-client: here, not mid-start
        from textrnn.serving.protocol import Limits
        from textrnn.serving.server import ServerOptions, find_models, run_server
        from textrnn.serving.settings import ServeSettings
    except ImportError as error:
        raise MissingDependencyError(f"textrnn serve needs {error.name}: pip install 'textrnn[serve]'") from error

    served, default = find_models(model, models, name)
    settings = ServeSettings(served, default, device.value, threads, precision.value, None, max_batch_texts,
                             max_delay_ms, max_concurrency, Limits(max_body_bytes, max_texts, max_text_chars),
                             max_queue_texts=max_queue_texts)
    if workers is None:
        from textrnn.inference.sessions import default_threads

        workers = 1 if device == Device.cuda else default_threads()
    options = ServerOptions(host, port, workers, timeout_graceful_shutdown, access_log=access_log,
                            log_level="info" if access_log else "warning")
    run_server(settings, options, notice=lambda line: err.print(line, markup=False, highlight=False, soft_wrap=True))
