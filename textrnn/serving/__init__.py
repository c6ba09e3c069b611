"""Serving stage: `textrnn serve` puts models behind HTTP, torch-free like predict.

    protocol.py  request checking and response shapes: the Open Inference Protocol (KServe V2) REST
                 API, with its binary tensor extension, and the simple /predict; no web framework
    batcher.py   requests that arrive together are inferred together (asyncio, one per model)
    metrics.py   Prometheus metrics, correct with several worker processes
    app.py       the Starlette app: routes over the models, limits, readiness after a warm-up
    server.py    uvicorn: workers, graceful shutdown on SIGTERM
"""
