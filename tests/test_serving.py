"""The serving stage in process: the batcher (grouping, order, cancellation, shutdown), readiness,
and the settings that travel to worker processes. HTTP is tested on a real server in test_serve.py."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

pytest.importorskip("starlette")

from textrnn.serving.batcher import Batcher, BatcherClosed, QueueFull
from textrnn.serving.protocol import Limits
from textrnn.serving.service import Service, load_predictors
from textrnn.serving.settings import ServeSettings


class FakeModel:
    """infer(texts): one row per text, [its number, group size]; slow enough for requests to pile up."""

    def __init__(self, seconds: float = 0.02, fail_on: str | None = None) -> None:
        self.seconds, self.fail_on = seconds, fail_on
        self.groups: list[list[str]] = []
        self.lock = threading.Lock()

    def __call__(self, texts: list[str]) -> np.ndarray:
        with self.lock:
            self.groups.append(list(texts))
        time.sleep(self.seconds)
        if self.fail_on in texts:
            raise RuntimeError("boom")
        return np.array([[float(t.split()[-1]), len(texts)] for t in texts], dtype=np.float32)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_every_request_gets_its_own_rows_in_order_and_requests_are_grouped():
    model = FakeModel()

    async def go():
        batcher = Batcher(model, groups=2, max_batch_texts=64)
        batcher.start()
        requests = [[f"r{i} t {i * 10 + j}" for j in range(1 + i % 4)] for i in range(60)]
        results = await asyncio.gather(*(batcher.infer(r) for r in requests))
        await batcher.close()
        return requests, results

    requests, results = run(go())
    for texts, (rows, decoded) in zip(requests, results, strict=True):
        assert rows[:, 0].tolist() == [float(t.split()[-1]) for t in texts] and decoded is None
    assert len(model.groups) < 20  # grouped: 60 requests in far fewer runs
    assert max(len(g) for g in model.groups) <= 64
    assert sorted(t for g in model.groups for t in g) == sorted(t for r in requests for t in r)


def test_predictions_are_decoded_per_group_by_top_k_and_equal_decoding_each_request():
    from textrnn.tasks import Task

    task = Task(["a", "b", "c"])
    calls = []

    def decode(texts, probs, k):
        calls.append((len(texts), k))
        return task.decode(texts, probs, k)

    rng = np.random.default_rng(0)
    table = {f"t {i}": rng.dirichlet(np.ones(3)).astype(np.float32) for i in range(40)}

    def infer(texts):
        time.sleep(0.02)
        return np.stack([table[t] for t in texts])

    async def go():
        batcher = Batcher(infer, decode, groups=1)
        batcher.start()
        requests = [([f"t {j}" for j in range(i, i + 1 + i % 3)], 1 + i % 2) for i in range(30)]
        results = await asyncio.gather(*(batcher.infer(texts, k) for texts, k in requests))
        await batcher.close()
        return requests, results

    requests, results = run(go())
    for (texts, k), (_, predictions) in zip(requests, results, strict=True):
        assert predictions == task.decode(texts, np.stack([table[t] for t in texts]), k)
    assert len(calls) < 30  # decoded a group at a time


def test_cancelled_requests_cost_no_inference():
    model = FakeModel(seconds=0.1)

    async def go():
        batcher = Batcher(model, groups=1)
        batcher.start()
        first = batcher.submit(["a 1"])
        await asyncio.sleep(0.02)  # the first group is running; these wait in the queue
        gone = batcher.submit(["gone 2"])
        kept = batcher.submit(["kept 3"])
        gone.cancel()
        rows, _ = await kept
        await first
        await batcher.close()
        return rows

    assert run(go())[:, 0].tolist() == [3.0]
    assert all("gone 2" not in g for g in model.groups)


def test_max_delay_waits_for_a_fuller_group_and_max_batch_texts_caps_it():
    model = FakeModel(seconds=0.0)

    async def go(delay):
        batcher = Batcher(model, groups=1, max_batch_texts=5, max_delay=delay)
        batcher.start()
        tasks = []
        for i in range(7):
            tasks.append(asyncio.ensure_future(batcher.infer([f"t {i}"])))
            await asyncio.sleep(0.005)
        await asyncio.gather(*tasks)
        await batcher.close()

    run(go(0.0))
    assert len(model.groups) >= 5  # no delay: each request as it comes (the model is free)
    model.groups.clear()
    run(go(0.5))
    assert [len(g) for g in model.groups] == [5, 2]  # waited until 5 texts, then the rest after the delay


def test_a_failed_run_fails_its_requests_only_and_close_answers_what_was_queued():
    model = FakeModel(seconds=0.05, fail_on="bad 1")

    async def go():
        batcher = Batcher(model, groups=1)
        batcher.start()
        bad = batcher.submit(["bad 1"])
        await asyncio.sleep(0.01)
        queued = [batcher.submit([f"q {i}"]) for i in range(3)]
        closing = asyncio.ensure_future(batcher.close())
        await asyncio.sleep(0)
        with pytest.raises(BatcherClosed):
            batcher.submit(["late 9"])
        with pytest.raises(RuntimeError, match="boom"):
            await bad
        rows = [await q for q in queued]
        await closing
        return rows

    assert [r[0][0, 0] for r in run(go())] == [0.0, 1.0, 2.0]


def test_ready_only_after_warm_up_and_not_while_draining(trained_model):
    settings = ServeSettings((("tiny", str(trained_model)),))

    async def go():
        service = Service(settings, load_predictors(settings))
        states = [service.ready]
        await service.start()
        states.append(service.ready)  # loaded, warm-up running in the background
        while not service.ready:
            await asyncio.sleep(0.01)
        states.append(service.ready)
        service.on_signal(15, None, None)
        states.append(service.ready)
        await service.stop()
        return states

    assert run(go()) == [False, False, True, False]


class Listener:
    """A request whose client stays (receive never says it left)."""

    async def receive(self):
        await asyncio.Event().wait()


def test_a_request_during_the_warm_up_waits_for_it_instead_of_a_503(trained_model, monkeypatch):
    # With several workers, the readiness probe may be answered by a worker that is warm while the
    # request goes to one still warming up: it must be answered, not refused.
    settings = ServeSettings((("tiny", str(trained_model)),))
    predictors = load_predictors(settings)
    predict_proba = predictors["tiny"].predict_proba

    def slow(texts, batch_size=None):
        time.sleep(0.5)
        return predict_proba(texts, batch_size)

    monkeypatch.setattr(predictors["tiny"], "predict_proba", slow)

    async def go():
        service = Service(settings, predictors)
        await service.start()
        model = service.models["tiny"]
        was_ready = model.ready
        probs, predictions = await service.infer(model, ["a fine film"], None, Listener())
        await service.stop()
        return was_ready, probs, predictions

    was_ready, probs, predictions = run(go())
    assert not was_ready and probs.shape == (1, len(predictors["tiny"].labels)) and len(predictions) == 1
    assert probs[0] == pytest.approx(predict_proba(["a fine film"])[0], abs=1e-6)


def test_settings_travel_to_workers_as_json():
    settings = ServeSettings(models=(("a", "/m/a"), ("b", "/m/b")), default="b", device="cpu", threads=2,
                             precision="fp32", groups=1, max_batch_texts=64, max_delay_ms=2.5, max_concurrency=10,
                             max_queue_texts=32, limits=Limits(1000, 5, 50))
    assert ServeSettings.from_json(settings.to_json()) == settings


@pytest.mark.parametrize("settings, phrase", [
    (ServeSettings(()), "no model to serve"),
    (ServeSettings((("a", "x"), ("a", "y"))), "two models have the same name"),
    (ServeSettings((("a", "x"),), default="b"), "default model 'b' is not among"),
    (ServeSettings((("a", "x"),), max_delay_ms=5000), "max-delay-ms must be between 0 and 1000"),
    (ServeSettings((("a", "x"),), limits=Limits(max_texts=0)), "max-texts must be at least 1"),
])
def test_bad_settings_are_refused(settings, phrase):
    with pytest.raises(Exception, match=phrase):
        settings.check()


def test_a_failed_warm_up_is_reported_and_never_ready(trained_model, monkeypatch):
    import signal

    settings = ServeSettings((("tiny", str(trained_model)),))
    predictors = load_predictors(settings)

    def broken(texts, batch_size=None):
        raise RuntimeError("no kernel for this")

    monkeypatch.setattr(predictors["tiny"], "predict_proba", broken)
    stops = []
    monkeypatch.setattr(signal, "getsignal", lambda signum: stops.append)
    monkeypatch.setattr(signal, "raise_signal", lambda signum: stops.append(signum))

    async def go():
        service = Service(settings, predictors)
        await service.start()
        while service.failed is None:
            await asyncio.sleep(0.01)
        await service.stop()
        return service

    service = run(go())
    assert "no kernel for this" in str(service.failed) and not service.ready and stops == [signal.SIGTERM]


def test_the_queue_bound_refuses_at_once_but_always_takes_a_request_when_nothing_waits():
    model = FakeModel(seconds=0.2)

    async def go():
        batcher = Batcher(model, groups=1, max_queue_texts=3)
        batcher.start()
        running = batcher.submit(["r 1"])  # taken at once: the queue is empty again
        await asyncio.sleep(0.05)
        big = batcher.submit(["b 1", "b 2", "b 3", "b 4", "b 5"])  # over the bound, but nothing waits
        with pytest.raises(QueueFull, match="5 texts are queued and the limit is 3"):
            batcher.submit(["x 1"])
        assert batcher.queued_texts == 5
        results = await asyncio.gather(running, big)
        after = await batcher.infer(["a 1", "a 2", "a 3"])  # room again once the queue is taken
        await batcher.close()
        return results, after

    (first, big), after = run(go())
    assert first[0][:, 0].tolist() == [1.0] and big[0][:, 0].tolist() == [1, 2, 3, 4, 5]
    assert after[0][:, 0].tolist() == [1, 2, 3]
