"""Serving stage: Prometheus metrics for GET /metrics (names as Triton's, so dashboards carry over).

    textrnn_requests_total{endpoint,status}      requests answered
    textrnn_request_seconds{endpoint}            latency histogram, from the request to the answer
    textrnn_queue_seconds{model}                 time a request waited for its inference group
    textrnn_batch_texts{model}                   texts per inference group (histogram)
    textrnn_inference_seconds{model}             seconds per inference group
    textrnn_inference_texts_total{model}         texts inferred
    textrnn_executions_total{model}              inference groups run (texts / executions = mean group)
    textrnn_inflight_requests                    inference requests being answered now
    textrnn_model_info{model,task,labels,precision,provider,threads}   1 per model served

With several worker processes (`serve --workers N`) every process writes its values to files in
$PROMETHEUS_MULTIPROC_DIR (set by `serve` before the workers start) and /metrics, whichever
worker answers it, adds them up (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["CONTENT_TYPE", "Metrics", "multiprocess"]

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)


def multiprocess() -> bool:
    """Whether values go to $PROMETHEUS_MULTIPROC_DIR (several workers)."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class Metrics:
    """The server's metrics, in a registry of their own (several apps may live in one process)."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.requests = Counter("textrnn_requests", "Requests answered, by endpoint and HTTP status.",
                                ["endpoint", "status"], registry=registry)
        self.request_seconds = Histogram("textrnn_request_seconds", "Seconds from request to answer.",
                                         ["endpoint"], buckets=LATENCY_BUCKETS, registry=registry)
        self.queue_seconds = Histogram("textrnn_queue_seconds", "Seconds a request waited for its inference group.",
                                       ["model"], buckets=LATENCY_BUCKETS, registry=registry)
        self.batch_texts = Histogram("textrnn_batch_texts", "Texts per inference group.", ["model"],
                                     buckets=BATCH_BUCKETS, registry=registry)
        self.inference_seconds = Histogram("textrnn_inference_seconds", "Seconds per inference group.", ["model"],
                                           buckets=LATENCY_BUCKETS, registry=registry)
        self.texts = Counter("textrnn_inference_texts", "Texts inferred.", ["model"], registry=registry)
        self.executions = Counter("textrnn_executions", "Inference groups run.", ["model"], registry=registry)
        self.inflight = Gauge("textrnn_inflight_requests", "Inference requests being answered now.",
                              registry=registry, multiprocess_mode="livesum")
        self.model_info = Gauge("textrnn_model_info", "The models served (value 1).",
                                ["model", "task", "labels", "precision", "provider", "threads"],
                                registry=registry, multiprocess_mode="max")
        if not multiprocess():
            from prometheus_client import ProcessCollector

            ProcessCollector(registry=registry)  # memory, CPU, open files (one process only)

    def group(self, model: str, group: Any) -> None:
        """Record one inference group (a batcher.Group)."""
        for seconds in group.queue_seconds:
            self.queue_seconds.labels(model).observe(seconds)
        self.batch_texts.labels(model).observe(group.texts)
        self.inference_seconds.labels(model).observe(group.seconds)
        self.texts.labels(model).inc(group.texts)
        self.executions.labels(model).inc()

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format: this process's, or all workers' added up."""
        if multiprocess():
            from prometheus_client import multiprocess as mp

            registry = CollectorRegistry()
            mp.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)

    @staticmethod
    def process_exit() -> None:
        """A worker leaving: its live gauges (in-flight requests) stop counting."""
        if multiprocess():
            from prometheus_client import multiprocess as mp

            mp.mark_process_dead(os.getpid())
