"""Serving stage: what `textrnn serve` serves and how (ServeSettings), checked once and handed to
worker processes as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from textrnn.errors import ConfigError
from textrnn.serving.protocol import Limits


@dataclass(frozen=True)
class ServeSettings:
    """What to serve and how: models as (name, folder), the default for /predict, inference and
    batching settings, and the limits. JSON-able: worker processes read it from the environment."""

    models: tuple[tuple[str, str], ...]
    default: str | None = None
    device: str = "auto"
    threads: int | None = None
    precision: str = "auto"
    groups: int | None = None  # inference groups at once per model (default: the Predictor's workers)
    max_batch_texts: int = 512
    max_delay_ms: float = 0.0
    max_concurrency: int = 256
    limits: Limits = field(default_factory=Limits)
    max_queue_texts: int = 1024  # texts waiting per model (not yet running) before 503s; see batcher.py

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
