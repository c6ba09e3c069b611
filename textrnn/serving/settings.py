"""Serving stage: what `textrnn serve` serves and how (ServeSettings, with the Limits of a request),
checked once and handed to worker processes as JSON, and where it listens (ServerOptions). Each field
with help is a `serve` option (textrnn.options.setting; textrnn.cli.options builds them). A light
import: no web framework, no ONNX Runtime."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from textrnn.errors import ConfigError
from textrnn.options import DEVICE_HELP, PRECISION_HELP, THREADS_HELP, Device, InferPrecision, choices, setting

LIMITS = "Limits"  # the help section of the request limits


@dataclass(frozen=True)
class Limits:
    """What one request may hold: body bytes (413), texts and characters per text (422)."""

    max_body_bytes: int = setting(1 << 20, "Largest request body (413 past it).", metavar="BYTES", min=1,
                                  panel=LIMITS)
    max_texts: int = setting(256, "Most texts per request (422 past it).", metavar="N", min=1, panel=LIMITS)
    max_text_chars: int = setting(100_000, "Most characters per text (422 past it).", metavar="N", min=1,
                                  panel=LIMITS)


@dataclass(frozen=True)
class ServerOptions:
    """Where to listen and how: host, port, worker processes and uvicorn's settings."""

    host: str = setting("127.0.0.1", "Address to listen on; 0.0.0.0 for every interface.", metavar="HOST")
    port: int = setting(8000, "Port (0: any free port, printed at start).", metavar="PORT", min=0, max=65535)
    workers: int | None = setting(None, "Server processes, each with its own copy of the models and a share of the "
                                        "cores (--threads: physical cores / N). Default: the physical cores (1 with "
                                        "CUDA): one event loop limits many small requests (benchmarks/results-serve"
                                        ".md: 1-text requests at concurrency 64, 2 workers 6,875 texts/s against "
                                        "4,789 with one).", metavar="N", min=1, show_default=False)
    timeout_graceful_shutdown: int = setting(30, "On SIGTERM, seconds to finish the requests in flight.",
                                             metavar="S", min=0)
    timeout_keep_alive: int = 5
    log_level: str = "warning"
    access_log: bool = setting(False, "Log every request to stderr.", switch=True)


@dataclass(frozen=True)
class ServeSettings:
    """What to serve and how: models as (name, folder), the default for /predict, inference and
    batching settings, and the limits. JSON-able: worker processes read it from the environment."""

    models: tuple[tuple[str, str], ...]
    default: str | None = None
    device: Device = setting(Device.auto, DEVICE_HELP)
    threads: int | None = setting(None, THREADS_HELP, metavar="N", min=1)
    precision: InferPrecision = setting(InferPrecision.auto, PRECISION_HELP)
    groups: int | None = None  # inference groups at once per model (default: the Predictor's workers)
    max_batch_texts: int = setting(512, "Most texts inferred as one group (whole requests).", metavar="N", min=1)
    max_delay_ms: float = setting(0.0, "Wait up to MS after the first queued request for a fuller group (default "
                                       "0: never wait).", metavar="MS", min=0, max=1000)
    max_concurrency: int = setting(256, "Inference requests in flight per worker; more get 503 with Retry-After.",
                                   metavar="N", min=1, panel=LIMITS)
    # texts waiting per model (not yet running) before 503s; see batcher.py
    max_queue_texts: int = setting(1024, "Texts waiting for inference per model and worker; a request that would "
                                         "queue past N gets 503 with Retry-After at once (bounds the wait under "
                                         "overload to about N / throughput).", metavar="N", min=1, panel=LIMITS)
    limits: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:
        choices(self)

    def check(self) -> None:
        if not self.models:
            raise ConfigError("no model to serve")
        names = [name for name, _ in self.models]
        if len(set(names)) != len(names):
            raise ConfigError(f"two models have the same name: {', '.join(sorted(names))}")
        if self.default is not None and self.default not in names:
            raise ConfigError(f"the default model {self.default!r} is not among those served")
        for name, value in (("max-batch-texts", self.max_batch_texts), ("max-concurrency", self.max_concurrency),
                            ("max-queue-texts", self.max_queue_texts),
                            ("max-body-bytes", self.limits.max_body_bytes), ("max-texts", self.limits.max_texts),
                            ("max-text-chars", self.limits.max_text_chars), ("threads", self.threads),
                            ("groups", self.groups)):
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be at least 1 (got {value})")
        if not 0 <= self.max_delay_ms <= 1000:
            raise ConfigError(f"max-delay-ms must be between 0 and 1000 (got {self.max_delay_ms})")

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeSettings:
        data = json.loads(text)
        data["models"] = tuple(tuple(m) for m in data["models"])
        data["limits"] = Limits(**data["limits"])
        return cls(**data)
