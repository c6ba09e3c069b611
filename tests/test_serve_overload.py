"""Overload on a real `textrnn serve` process (127.0.0.1): past --max-queue-texts a request gets 503
with Retry-After at once instead of waiting; every request that is answered gets its own answer
(distinct texts, compared with each text's answer alone); and the server answers normally after.
A small queue bound and a long --max-delay-ms (the batcher holds the first request that long for a
fuller group) make the queue's state known when each request arrives."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

pytest.importorskip("starlette")

from tests.conftest import NEGATIVE, POSITIVE
from tests.servers import AsyncClient, Server, post_json, request
from textrnn.inference.predictor import Predictor
from textrnn.inference.records import prediction_record


def _predict(texts: list[str]) -> bytes:
    return json.dumps({"texts": texts, "top_k": 3}).encode()


def _same(got: list[dict], alone: list[dict]) -> bool:
    """Same texts, labels and top labels; probabilities within 1e-5 (batched with other texts, a
    text's probabilities can differ in the 6th decimal)."""
    def flat(records):
        return [(r["text"], r["label"], *(t["label"] for t in r["top"])) for r in records]

    def probs(records):
        return [t["probability"] for r in records for t in r["top"]]

    return flat(got) == flat(alone) and all(abs(a - b) <= 1e-5 for a, b in zip(probs(got), probs(alone), strict=True))


def test_a_request_past_the_queue_bound_gets_503_at_once_and_the_queued_ones_their_own_answers(trained_model):
    srv = Server("--model", str(trained_model), "--max-queue-texts", "4", "--max-delay-ms", "1000",
                 "--max-batch-texts", "64")
    sent = [["first text one", "first text two", "first text three"], ["second alone"],
            ["third one", "third two"], ["fourth alone"]]

    async def go():
        clients = [AsyncClient(srv.port) for _ in sent]
        started, answers = [], []
        for client, texts in zip(clients, sent, strict=True):
            started.append(time.perf_counter())
            await client.send("POST", "/predict", _predict(texts))
            await asyncio.sleep(0.03)

        async def answer(i):
            got = await clients[i].receive()
            return got, time.perf_counter() - started[i]

        answers = await asyncio.gather(*(answer(i) for i in range(len(sent))))
        for client in clients:
            client.close()
        return answers

    try:
        answers = asyncio.run(go())
        statuses = [a[0][0] for a in answers]
        # 3 texts queued, then 1 (4: at the bound), then 2 and 1 more would pass it
        assert statuses == [200, 200, 503, 503], statuses
        for (_, headers, body), _ in answers[2:]:
            assert headers["retry-after"] == "1"
            assert "queued" in json.loads(body)["error"]
        queued_wait = min(seconds for _, seconds in answers[:2])
        refused_wait = max(seconds for _, seconds in answers[2:])
        assert refused_wait < queued_wait  # refused while the first two still waited for their group
        predictor = Predictor(trained_model, device="cpu")  # the texts alone, as the server answers them
        for (_, _, body), texts in zip([a[0] for a in answers[:2]], sent[:2], strict=True):
            alone = [prediction_record(p, 3) for p in predictor.predict(texts, top_k=3)]
            assert _same(json.loads(body)["predictions"], alone)
        assert post_json(srv.port, "/predict", {"texts": sent[2]})[0] == 200  # the queue has room again
        _, _, metrics = request(srv.port, "GET", "/metrics")
        assert 'textrnn_requests_total{endpoint="/predict",status="503"} 2.0' in metrics.decode()
    finally:
        assert srv.stop() == 0


def test_overload_loses_and_swaps_no_request(trained_model):
    """Many distinct one-text requests at once against a queue of 8 texts: some are refused, and
    every answered one carries its own text's answer."""
    srv = Server("--model", str(trained_model), "--max-queue-texts", "8", "--max-delay-ms", "200")
    texts = [f"{POSITIVE[i % len(POSITIVE)]} {NEGATIVE[(i * 7) % len(NEGATIVE)]} {i}" for i in range(60)]

    async def go():
        clients = [AsyncClient(srv.port) for _ in texts]
        await asyncio.gather(*(c.connect() for c in clients))
        calls = (c.call("POST", "/predict", _predict([t])) for c, t in zip(clients, texts, strict=True))
        answers = await asyncio.gather(*calls)
        for client in clients:
            client.close()
        return answers

    try:
        answers = asyncio.run(go())
        statuses = [a[0] for a in answers]
        assert set(statuses) <= {200, 503} and statuses.count(503) > 0 and statuses.count(200) >= 8, statuses
        assert all(h["retry-after"] == "1" for s, h, _ in answers if s == 503)
        answered = []
        predictor = Predictor(trained_model, device="cpu")  # each text alone, as the server answers one
        for (status, _, body), text in zip(answers, texts, strict=True):
            if status == 200:
                alone = [prediction_record(p, 3) for p in predictor.predict([text], top_k=3)]
                assert _same(json.loads(body)["predictions"], alone), text
                answered.append(json.dumps(alone[0]["top"]))
        assert len(set(answered)) > len(answered) // 2  # the texts' answers differ: a swap would show
    finally:
        assert srv.stop() == 0


def test_the_queue_bound_is_checked(trained_model):
    srv_args = ["serve", "--model", str(trained_model), "--max-queue-texts", "0"]
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "textrnn", *srv_args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "max-queue-texts" in proc.stderr
