"""The load-and-fault test: a real `textrnn serve` on 127.0.0.1 under many concurrent clients
sending a mix of valid, malformed and oversized requests, some leaving mid-request. Every valid
request must get exactly its own answer, equal to offline `predict --json` on the same texts
(nothing lost, nothing swapped between requests under batching), the server must stay up and ready,
nothing may stay in flight, and its memory must stay flat. Bounded: ROUNDS x CLIENTS x PER_CLIENT
requests, a time limit, loopback only."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter

import pytest
from typer.testing import CliRunner

from tests.servers import AsyncClient, Server, metric, request
from textrnn.cli import app

pytest.importorskip("starlette")

CLIENTS, PER_CLIENT, ROUNDS = 24, 25, 3  # 1,800 requests
MAX_TEXTS, MAX_BODY = 16, 16_384
WORDS = ("film acting plot great dull moving silly warm cold lovely boring clever flat sharp joyless march "
         "paris cast story sequel delight chore wonderful terrible tedious brilliant lazy funny slow").split()


def make_pool(n: int = 400) -> list[str]:
    rng = random.Random(7)
    pool: set[str] = set()
    while len(pool) < n:
        pool.add(" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 30))))
    return sorted(pool)


def reference(model, pool, tmp_path) -> dict[str, dict]:
    """Offline `textrnn predict --file --json --top-k 2` on every text of the pool."""
    path = tmp_path / "pool.txt"
    path.write_text("\n".join(pool) + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["predict", "--model", str(model), "--file", str(path), "--json", "--top-k", "2"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    return {r["text"]: r for r in records}


def close_enough(served: dict, expected: dict, top_k: int) -> bool:
    if served["text"] != expected["text"] or served["label"] != expected["label"]:
        return False
    if abs(served["probability"] - expected["probability"]) > 2e-6:
        return False
    if top_k == 1:
        return "top" not in served
    return [t["label"] for t in served["top"]] == [t["label"] for t in expected["top"]]


async def client_run(port, name, pool, expected, rng, counts, mismatches):
    """PER_CLIENT requests of a random kind each, on one keep-alive connection (reopened when the
    server or this client closes it)."""
    client = AsyncClient(port)
    for i in range(PER_CLIENT):
        kind = rng.choices(["predict", "infer", "malformed", "oversized", "too_many", "leave_early",
                            "leave_unread"], [50, 20, 8, 5, 5, 6, 6])[0]
        texts = rng.sample(pool, rng.randint(1, 8))
        top_k = rng.choice([1, 2])
        counts["sent"] += 1
        if kind == "infer":
            rid = f"{name}-{i}"
            path = f"/v2/models/{name}/infer"
            body = json.dumps({"id": rid, "parameters": {"top_k": top_k}, "inputs": [
                {"name": "text", "shape": [len(texts)], "datatype": "BYTES", "data": texts}]}).encode()
        else:
            path, body = "/predict", json.dumps({"texts": texts, "top_k": top_k}).encode()
        if kind == "malformed":
            body = body[:-3] + b",]"
        elif kind == "oversized":
            body = json.dumps({"texts": ["x" * 1000] * 17}).encode()
        elif kind == "too_many":
            body = json.dumps({"texts": rng.sample(pool, MAX_TEXTS + 1)}).encode()
        if kind.startswith("leave"):  # the client goes away mid-request: no answer to check
            await client.send("POST", path, body, {"content-type": "application/json"},
                              partial=kind == "leave_early")
            client.close()
            counts["left"] += 1
            continue
        status, headers, content = await client.call("POST", path, body, {"content-type": "application/json"})
        counts[status] += 1
        want = {"predict": 200, "infer": 200, "malformed": 400, "oversized": 413, "too_many": 422}[kind]
        if status != want:
            mismatches.append((kind, status, content[:200]))
            continue
        if status != 200:
            if not json.loads(content)["error"]:
                mismatches.append((kind, "no error message"))
            if status == 413:
                client.close()  # its body was not read: start afresh
            continue
        answer = json.loads(content)
        if kind == "predict":
            records = answer["predictions"]
            ok = len(records) == len(texts) and all(
                close_enough(r, expected[t], top_k) for r, t in zip(records, texts, strict=False))
        else:
            outputs = {o["name"]: o for o in answer["outputs"]}
            labels = outputs["label"]["data"]
            probs = outputs["probabilities"]["data"]
            width = outputs["probabilities"]["shape"][1]
            ok = answer.get("id") == rid and len(labels) == len(texts) and all(
                labels[j] == expected[t]["label"] and abs(max(probs[j * width: (j + 1) * width])
                                                          - expected[t]["probability"]) <= 2e-6
                for j, t in enumerate(texts))
        if ok:
            counts["answered_correctly"] += 1
        else:
            mismatches.append((kind, texts, answer))
    client.close()


def test_load_and_faults(trained_model, tmp_path):
    name = trained_model.name
    pool = make_pool()
    expected = reference(trained_model, pool, tmp_path)
    srv = Server("--model", str(trained_model), "--max-texts", str(MAX_TEXTS), "--max-body-bytes", str(MAX_BODY),
                 "--max-concurrency", "64")
    counts: Counter = Counter()
    mismatches: list = []
    rss = []

    async def one_round(seed: int) -> None:
        await asyncio.gather(*(client_run(srv.port, name, pool, expected, random.Random(seed * 1000 + k),
                                          counts, mismatches) for k in range(CLIENTS)))

    try:
        for r in range(ROUNDS):
            asyncio.run(asyncio.wait_for(one_round(r), 60))
            rss.append(srv.rss_kib())
        metrics = request(srv.port, "GET", "/metrics")[2].decode()
        ready = request(srv.port, "GET", "/v2/health/ready")[0]
    finally:
        code = srv.stop()
    valid = counts[200] + sum(1 for m in mismatches if m[0] in ("predict", "infer"))
    print(f"\nload-and-fault: {counts['sent']} requests sent by {CLIENTS} concurrent clients in {ROUNDS} rounds; "
          f"answered: {counts[200]} x 200 ({counts['answered_correctly']} equal to offline predict), "
          f"{counts[400]} x 400 (malformed), {counts[413]} x 413 (oversized), {counts[422]} x 422 (too many texts), "
          f"{counts[503]} x 503; {counts['left']} clients left mid-request; mismatches: {len(mismatches)}; "
          f"server RSS after each round: {', '.join(f'{x / 1024:.1f}' for x in rss)} MiB")
    assert not mismatches, mismatches[:3]
    assert counts["answered_correctly"] == counts[200] == valid > 0
    assert counts["sent"] == CLIENTS * PER_CLIENT * ROUNDS
    assert counts["sent"] == sum(counts[s] for s in (200, 400, 413, 422)) + counts["left"]
    assert ready == 200 and code == 0
    assert metric(metrics, "textrnn_inflight_requests") == 0
    assert metric(metrics, "textrnn_requests_total", endpoint="/predict", status="500") == 0
    assert rss[-1] - rss[0] < 8 * 1024, rss  # flat: the later rounds allocate nothing that stays
    assert "Traceback" not in srv.log()
