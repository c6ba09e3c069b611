"""`textrnn serve`: put models behind HTTP (Open Inference Protocol, /predict, /metrics); see
textrnn.serving. No torch. Its options are declared once, as the fields of ServerOptions, ServeSettings
and Limits (textrnn.serving.settings)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from textrnn.cli.core import err, handle_errors
from textrnn.cli.options import ModelOption, settings_of, with_settings
from textrnn.errors import MissingDependencyError
from textrnn.serving.settings import Limits, ServerOptions, ServeSettings


@handle_errors
@with_settings((ServerOptions, ("host", "port", "workers")), (ServeSettings, ("device", "precision")), ServeSettings,
               Limits, ServerOptions)
def serve_cmd(
    model: ModelOption = None,
    models: Annotated[Optional[Path], typer.Option("--models", metavar="DIR", help="Serve every model folder in DIR, each by its folder name.")] = None,
    name: Annotated[Optional[str], typer.Option(metavar="NAME", help="The name to serve --model under (default: its folder name).")] = None,
    **settings: Any,
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
        from textrnn.serving.server import find_models, run_server
    except ImportError as error:
        raise MissingDependencyError(f"textrnn serve needs {error.name}: pip install 'textrnn[serve]'") from error

    served, default = find_models(model, models, name)
    serve = ServeSettings(models=served, default=default, limits=Limits(**settings_of(Limits, settings)),
                          **settings_of(ServeSettings, settings))
    options = ServerOptions(**settings_of(ServerOptions, settings),
                            log_level="info" if settings["access_log"] else "warning")
    run_server(serve, options, notice=lambda line: err.print(line, markup=False, highlight=False, soft_wrap=True))
