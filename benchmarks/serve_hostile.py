"""`textrnn serve` under hostile clients and overload, on 127.0.0.1, one server process, default limits.

    flock /tmp/textrnn-heavy.lock .venv/bin/python benchmarks/serve_hostile.py [--model DIR] [--markdown FILE]

Without --model it trains a small model (`train --folds 1 --epochs 2 --pretrain off`) on
<data-dir>/train.csv (sst2 by default); the texts sent are <data-dir>/test.csv's. One server, one
worker, its defaults (--max-concurrency 256, --max-queue-texts 1024, 1 MiB bodies). A "probe"
client sends one 1-text /predict request every 10 ms (open loop: the next is due whatever the last
did) through every phase, and its latencies give the p99 of each phase:
  1. alone: the probe only;
  2. slow clients: --slow connections each trickling one byte of a request's headers every second;
  3. fuzzing: --fuzz seeded malformed requests (mutated and truncated JSON for /predict and V2
     infer, V2 binary tensors whose lengths do not add up, wrong types and shapes, bad encodings),
     8 connections, reconnecting when the server closes one;
  4. gzip bombs: --bombs bodies of gzip (and deflate) that inflate to 512 MiB of zeros, 4 at a time;
  5. capacity: a closed loop of --size-text requests at concurrency 32 (fewer when the queue bound
     holds fewer texts) for --capacity-seconds;
  6. overload: an open loop at twice that capacity (in requests/s) for --overload-seconds, each
     request on a free connection of a pool (a new one when none is free); every answer is
     checked: a 200 must carry the answer its texts get alone (same texts in the same order, same
     labels, probabilities within 1e-5: batched with others a text can differ in the 6th decimal;
     the requests are drawn from a pool of distinct ones whose single answers were asked first),
     anything else must be a 503 with Retry-After; none may go unanswered;
  7. after: the probe's p99 in the first and the second second after the overload ends.
The server's 5xx answers and its RSS after each phase are reported. The client is this process
(asyncio), sharing the cores with the server: say the machine's load with the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import random
import struct
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from serve import Client, cpu_name, env, read_texts, start_server, stop_server  # noqa: E402

HOST = "127.0.0.1"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))]


def train_small(data_dir: Path, work: Path) -> Path:
    import subprocess

    out = work / "small"
    print(f"training a small model on {data_dir}/train.csv ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "textrnn", "train", str(data_dir / "train.csv"), "--out", str(out),
                    "--force", "--folds", "1", "--epochs", "2", "--pretrain", "off"], check=True,
                   env={**env(), "TEXTRNN_MODELS": str(work)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return out


async def send_raw(port: int, data: bytes, timeout: float = 10) -> int:
    """One request on a fresh connection: its status (0: closed without an answer)."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(data)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout)
        return int(line.split()[1]) if line.startswith(b"HTTP/") else 0
    except (ConnectionError, asyncio.TimeoutError):
        return 0
    finally:
        writer.close()


def http(path: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    head = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    return (f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: {len(body)}\r\n{head}\r\n").encode() + body


class PoolClient(Client):
    """A Client that knows when the server has closed it (uvicorn closes a keep-alive connection idle
    for 5 s): a pool skips those, and a request that meets the close as it is sent is retried once on
    a new connection, as an HTTP client's pool does (a write to a closed transport is lost silently)."""

    closed = False
    last_head = b""

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        joined = bytes(self.buffer) + data
        end = joined.find(b"\r\n\r\n")
        if end >= 0:
            self.last_head = joined[:end]
        super().data_received(data)

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.closed:
            raise ConnectionError("closed by the server")
        return await super().post(path, body)


class Pool:
    """Keep-alive connections for an open loop: a free one, else a new one."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.free: list[PoolClient] = []
        self.opened = 0
        self.retried = 0

    async def post(self, path: str, body: bytes, timeout: float = 30) -> tuple[int, bytes, bytes]:
        """(status, body, header block); ConnectionError or TimeoutError when no answer came."""
        for attempt in range(2):
            reused = False
            while self.free:
                client = self.free.pop()
                if not client.closed:
                    reused = True
                    break
            else:
                self.opened += 1
                client = await PoolClient.open(HOST, self.port)
            try:
                status, content = await asyncio.wait_for(client.post(path, body), timeout)
            except ConnectionError:
                client.close()
                if reused and attempt == 0:  # the server closed it as idle while we sent: once more
                    self.retried += 1
                    continue
                raise
            except asyncio.TimeoutError:
                client.close()
                raise
            self.free.append(client)
            return status, content, client.last_head
        raise ConnectionError("unreachable")

    def close(self) -> None:
        for client in self.free:
            client.close()


# ---------------------------------------------------------------- the probe


class Probe:
    """One 1-text /predict request every `every` seconds, open loop, each on a free connection of
    a small pool; latencies with their start times."""

    def __init__(self, port: int, text: str, every: float = 0.01) -> None:
        self.port, self.every = port, every
        self.body = json.dumps({"texts": [text]}).encode()
        self.samples: list[tuple[float, float, int]] = []  # (start, seconds, status)
        self.stopped = False

    async def run(self) -> None:
        pool = Pool(self.port)
        tasks = set()

        async def one() -> None:
            start = time.perf_counter()
            try:
                status = (await pool.post("/predict", self.body))[0]
            except (ConnectionError, asyncio.TimeoutError):
                status = 0
            self.samples.append((start, time.perf_counter() - start, status))

        due = time.perf_counter()
        while not self.stopped:
            task = asyncio.ensure_future(one())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            due += self.every
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
        await asyncio.gather(*tasks)
        pool.close()

    def window(self, start: float, end: float) -> dict[str, float]:
        got = [(s, st) for t, s, st in self.samples if start <= t < end]
        return {"requests": len(got), "p50_ms": 1000 * pct([s for s, _ in got], 0.5),
                "p99_ms": 1000 * pct([s for s, _ in got], 0.99), "not_200": sum(st != 200 for _, st in got)}


# ---------------------------------------------------------------- attacks


async def slow_clients(port: int, n: int, seconds: float) -> int:
    """n connections each writing one byte of a request's headers a second; how many were still
    open (not closed by the server) at the end."""
    head = b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Slow: " + b"a" * 200
    writers = []
    for _ in range(n):
        try:
            writers.append((await asyncio.open_connection(HOST, port))[1])
        except OSError:
            pass
    end = time.perf_counter() + seconds
    at = 0
    while time.perf_counter() < end:
        for w in writers:
            if not w.is_closing():
                w.write(head[at % len(head): at % len(head) + 1])
        at += 1
        await asyncio.sleep(1.0)
    open_ = sum(not w.is_closing() for w in writers)
    for w in writers:
        w.close()
    return open_


def fuzz_cases(seed: int, n: int, model: str, texts: list[str]) -> list[bytes]:
    """n seeded malformed requests over /predict (JSON), V2 infer (JSON) and V2 binary tensors."""
    rng = random.Random(seed)
    v2 = f"/v2/models/{model}/infer"
    junk_values = [None, True, -1, 0, 1e308, "x" * 300, [], {}, [[1]], [None], {"a": [1, 2]}, "\ud800", 2**70]

    def text() -> str:
        return rng.choice(texts)

    def good_predict() -> dict:
        return {"texts": [text() for _ in range(rng.randint(1, 4))], "top_k": rng.randint(1, 3)}

    def good_v2() -> dict:
        data = [text() for _ in range(rng.randint(1, 4))]
        return {"id": str(rng.random()), "inputs": [{"name": "text", "shape": [len(data)], "datatype": "BYTES",
                                                     "data": data}]}

    def corrupt_json(obj: dict) -> dict:
        obj = json.loads(json.dumps(obj))
        target = obj
        path = []
        while isinstance(target, (dict, list)) and target and rng.random() < 0.6:
            key = rng.choice(list(target)) if isinstance(target, dict) else rng.randrange(len(target))
            path.append((target, key))
            target = target[key]
        if path:
            parent, key = path[-1]
            parent[key] = rng.choice(junk_values)
        else:
            obj[rng.choice(["texts", "text", "inputs", "top_k", "outputs", "parameters", "model"])] = \
                rng.choice(junk_values)
        return obj

    def mutate_bytes(raw: bytes) -> bytes:
        raw = bytearray(raw)
        for _ in range(rng.randint(1, 8)):
            op = rng.random()
            if op < 0.4 and raw:
                raw[rng.randrange(len(raw))] = rng.randrange(256)
            elif op < 0.6 and raw:
                del raw[rng.randrange(len(raw)):]
            elif op < 0.8:
                at = rng.randrange(len(raw) + 1)
                raw[at:at] = rng.choice([b"{", b"[", b"]", b"\"", b"\\u", b"\x00", b"\xff\xfe", b"[" * 5000])
            else:
                raw += rng.randbytes(rng.randint(1, 64))
        return bytes(raw)

    def binary_case() -> tuple[bytes, dict[str, str]]:
        data = [text().encode() for _ in range(rng.randint(1, 4))]
        raw = b"".join(struct.pack("<I", len(d)) + d for d in data)
        size = len(raw)
        shape = [len(data)]
        choice = rng.randrange(8)
        if choice == 0:
            size += rng.randint(1, 50)
        elif choice == 1:
            size -= rng.randint(1, max(1, size))
        elif choice == 2:
            raw = struct.pack("<I", 2**31) + raw[4:]
        elif choice == 3:
            shape = [len(data) + rng.randint(1, 3)]
        elif choice == 4:
            raw = raw[: rng.randrange(len(raw))]
        elif choice == 5:
            raw = raw.replace(data[0], rng.randbytes(len(data[0])), 1)
        header = json.dumps({"inputs": [{"name": "text", "shape": shape, "datatype": "BYTES",
                                         "parameters": {"binary_data_size": size}}],
                             "parameters": {"binary_data_output": rng.random() < 0.5}}).encode()
        length = len(header)
        if choice == 6:
            length = rng.choice([-5, 0, len(header) + len(raw) + 10, len(header) - 3])
        elif choice == 7:
            header = mutate_bytes(header)
        return header + raw, {"Inference-Header-Content-Length": str(length)}

    cases = []
    for _ in range(n):
        kind = rng.randrange(6)
        headers = {"Content-Type": "application/json"}
        if kind == 0:
            path, body = "/predict", json.dumps(corrupt_json(good_predict())).encode()
        elif kind == 1:
            path, body = "/predict", mutate_bytes(json.dumps(good_predict()).encode())
        elif kind == 2:
            path, body = v2, json.dumps(corrupt_json(good_v2())).encode()
        elif kind == 3:
            path, body = v2, mutate_bytes(json.dumps(good_v2()).encode())
        elif kind == 4:
            path = v2
            body, extra = binary_case()
            headers.update(extra)
        else:
            path = rng.choice(["/predict", v2])
            body = json.dumps(good_predict() if path == "/predict" else good_v2()).encode()
            headers["Content-Encoding"] = rng.choice(["gzip", "deflate", "br", "gzip, gzip"])
            if rng.random() < 0.5:
                body = gzip.compress(body) if rng.random() < 0.5 else zlib.compress(body)
            body = mutate_bytes(body) if rng.random() < 0.5 else body
        cases.append(http(path, body, headers))
    return cases


async def run_fuzz(port: int, cases: list[bytes], concurrency: int = 8) -> dict[int, int]:
    """Send every case (keep-alive, reconnecting when the server closes); status -> count (0: the
    server closed the connection without answering)."""
    counts: dict[int, int] = {}
    it = iter(cases)

    async def worker() -> None:
        reader = writer = None
        for data in it:
            for attempt in range(2):
                if writer is None:
                    reader, writer = await asyncio.open_connection(HOST, port)
                try:
                    writer.write(data)
                    await writer.drain()
                    line = await asyncio.wait_for(reader.readline(), 30)
                    if not line:
                        raise ConnectionError
                    status = int(line.split()[1])
                    length, close = 0, False
                    while (h := await reader.readline()) not in (b"\r\n", b""):
                        k, _, v = h.decode("latin-1").partition(":")
                        if k.strip().lower() == "content-length":
                            length = int(v)
                        if k.strip().lower() == "connection" and "close" in v.lower():
                            close = True
                    await reader.readexactly(length)
                    counts[status] = counts.get(status, 0) + 1
                    if close:
                        writer.close()
                        reader = writer = None
                    break
                except (ConnectionError, asyncio.IncompleteReadError, asyncio.TimeoutError):
                    writer.close()
                    reader = writer = None
                    if attempt == 1:
                        counts[0] = counts.get(0, 0) + 1
        if writer is not None:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return counts


def bombs(n: int) -> list[bytes]:
    """gzip and deflate bodies that inflate to 512 MiB of zeros (about 0.5 MB each: under the 1 MiB
    body limit, so the server has to inflate them to find out)."""
    chunk = bytes(1 << 20)
    bodies = []
    for wbits, encoding in ((31, "gzip"), (15, "deflate")):
        z = zlib.compressobj(9, zlib.DEFLATED, wbits)
        bodies.append((b"".join(z.compress(chunk) for _ in range(512)) + z.flush(), encoding))
    return [http("/predict", body, {"Content-Encoding": encoding, "Content-Type": "application/json"})
            for body, encoding in (bodies[i % 2] for i in range(n))]


async def run_bombs(port: int, cases: list[bytes]) -> dict[int, int]:
    counts: dict[int, int] = {}
    sem = asyncio.Semaphore(4)

    async def one(data: bytes) -> None:
        async with sem:
            status = await send_raw(port, data, 60)
            counts[status] = counts.get(status, 0) + 1

    await asyncio.gather(*(one(d) for d in cases))
    return counts


# ---------------------------------------------------------------- capacity and overload


def body_of(texts: list[str]) -> bytes:
    return json.dumps({"texts": texts}).encode()


async def capacity(port: int, pool: list[list[str]], seconds: float, concurrency: int = 32) -> float:
    """Requests/s of a closed loop at `concurrency`."""
    done = 0
    end = time.perf_counter() + seconds

    async def worker(k: int) -> None:
        nonlocal done
        client = await Client.open(HOST, port)
        i = k
        while time.perf_counter() < end:
            status, _ = await client.post("/predict", body_of(pool[i % len(pool)]))
            if status == 200:
                done += 1
            i += concurrency
        client.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    return done / (time.perf_counter() - start)


def same_answer(got: list[dict], alone: list[dict], tolerance: float = 1e-5) -> bool:
    """The same texts in the same order with the same labels, and probabilities within `tolerance`
    (a text batched with others can differ in the 6th decimal: padding and thread order)."""
    return len(got) == len(alone) and all(
        a["text"] == b["text"] and a["label"] == b["label"] and abs(a["probability"] - b["probability"]) <= tolerance
        for a, b in zip(got, alone, strict=True))


async def overload(port: int, pool_texts: list[list[str]], answers: list[bytes], rate: float, seconds: float,
                   ) -> dict[str, float]:
    """An open loop at `rate` requests/s, each request on a free keep-alive connection (a new one
    when none is free). Every answer is checked."""
    pool = Pool(port)
    ok, refused, wrong, lost, bad_refusal, other, unconnected = [], [], 0, 0, 0, 0, 0
    tasks = set()

    async def one(i: int) -> None:
        nonlocal wrong, lost, bad_refusal, other, unconnected
        k = i % len(pool_texts)
        start = time.perf_counter()
        try:
            status, content, head = await pool.post("/predict", body_of(pool_texts[k]))
        except OSError as err:
            if isinstance(err, ConnectionRefusedError):
                unconnected += 1
            else:
                lost += 1
            return
        except asyncio.TimeoutError:
            lost += 1
            return
        took = time.perf_counter() - start
        if status == 200:
            ok.append(took)
            if not same_answer(json.loads(content)["predictions"], json.loads(answers[k])["predictions"]):
                wrong += 1
        elif status == 503:
            refused.append(took)
            if b"retry-after: 1" not in head.lower():
                bad_refusal += 1
        else:
            other += 1

    start = time.perf_counter()
    due, i = start, 0
    while due < start + seconds:
        task = asyncio.ensure_future(one(i))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        i += 1
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
    sent_in = time.perf_counter() - start
    await asyncio.gather(*tasks)
    pool.close()
    return {"sent": i, "rate": i / sent_in, "ok": len(ok), "refused": len(refused), "wrong": wrong, "lost": lost,
            "bad_refusal": bad_refusal, "other": other, "connections": pool.opened, "unconnected": unconnected,
            "retried": pool.retried, "ok_p50": 1000 * pct(ok, 0.5), "ok_p99": 1000 * pct(ok, 0.99),
            "refused_p50": 1000 * pct(refused, 0.5), "refused_p99": 1000 * pct(refused, 0.99)}


async def single_answers(port: int, pool: list[list[str]]) -> list[bytes]:
    client = await Client.open(HOST, port)
    out = []
    for texts in pool:
        status, content = await client.post("/predict", body_of(texts))
        assert status == 200, content
        out.append(content)
    client.close()
    return out


async def server_5xx(port: int) -> int:
    import urllib.request

    text = await asyncio.get_running_loop().run_in_executor(
        None, lambda: urllib.request.urlopen(f"http://{HOST}:{port}/metrics", timeout=10).read().decode())
    total = 0
    for line in text.splitlines():
        if line.startswith("textrnn_requests_total{") and 'status="5' in line and 'status="503"' not in line:
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


# ---------------------------------------------------------------- main


async def bench(args: argparse.Namespace, port: int, pid: int, model: str, texts: list[str]) -> list[dict]:
    rows: list[dict] = []
    probe = Probe(port, texts[0])
    probe_task = asyncio.ensure_future(probe.run())

    def phase(name: str, start: float, end: float, **extra) -> None:
        w = probe.window(start, end)
        rows.append({"phase": name, **w, "rss": rss_mib(pid), **extra})
        print(f"{name}: probe p50 {w['p50_ms']:.2f} ms p99 {w['p99_ms']:.2f} ms ({w['requests']} requests, "
              f"{w['not_200']} not 200), RSS {rss_mib(pid):.0f} MiB {extra}", file=sys.stderr)

    rss0 = rss_mib(pid)
    t = time.perf_counter()
    await asyncio.sleep(args.alone_seconds)
    phase("alone", t, time.perf_counter())

    t = time.perf_counter()
    still_open = await slow_clients(port, args.slow, args.slow_seconds)
    phase(f"{args.slow} slow clients", t, time.perf_counter(), note=f"{still_open} still open at the end")

    cases = fuzz_cases(args.seed, args.fuzz, model, texts)
    t = time.perf_counter()
    counts = await run_fuzz(port, cases)
    took = time.perf_counter() - t
    phase(f"fuzzing ({args.fuzz:,} requests)", t, time.perf_counter(),
          note=f"{took:.0f} s; statuses " + ", ".join(f"{k}: {v:,}" for k, v in sorted(counts.items())))

    cases = bombs(args.bombs)  # built before the clock: compressing 512 MiB takes this process seconds
    t = time.perf_counter()
    counts = await run_bombs(port, cases)
    phase(f"gzip/deflate bombs ({args.bombs} x 512 MiB inflated)", t, time.perf_counter(),
          note="statuses " + ", ".join(f"{k}: {v:,}" for k, v in sorted(counts.items())))

    probe.stopped = True
    await probe_task
    rng = random.Random(args.seed)
    pool = [[texts[rng.randrange(len(texts))] + f" ({i})" for _ in range(args.size)] for i in range(args.pool)]
    answers = await single_answers(port, pool)
    # a closed loop that keeps at most the queue bound's texts waiting: no 503s in the capacity itself
    clients = max(1, min(32, (args.max_queue_texts or 1024) // args.size))
    cap = await capacity(port, pool, args.capacity_seconds, clients)
    print(f"capacity: {cap:.0f} requests/s of {args.size} texts", file=sys.stderr)

    probe = Probe(port, texts[0])
    probe_task = asyncio.ensure_future(probe.run())
    t = time.perf_counter()
    await asyncio.sleep(2)
    phase("before overload", t, time.perf_counter())
    t = time.perf_counter()
    result = await overload(port, pool, answers, 2 * cap, args.overload_seconds)
    end = time.perf_counter()
    phase(f"overload at 2x capacity ({2 * cap:.0f} requests/s of {args.size} texts, {args.overload_seconds:.0f} s)",
          t, end, overload=result, capacity=cap)
    await asyncio.sleep(2.2)
    phase("0-1 s after the overload", end, end + 1)
    phase("1-2 s after the overload", end + 1, end + 2)
    probe.stopped = True
    await probe_task
    rows.append({"phase": "summary", "rss_start": rss0, "rss_end": rss_mib(pid), "5xx": await server_5xx(port)})
    return rows


def markdown(rows: list[dict], args: argparse.Namespace, load: str) -> str:
    summary = rows[-1]
    lines = [f"## `serve --max-queue-texts {args.max_queue_texts or 1024}` under hostile clients and overload", "",
             "`flock /tmp/textrnn-heavy.lock .venv/bin/python benchmarks/serve_hostile.py "
             f"{' '.join(sys.argv[1:])}`", "",
             f"Machine: {cpu_name()}, {os.cpu_count()} cores, shared: {load}. One `serve` worker, "
             f"--max-concurrency 256, --max-queue-texts {args.max_queue_texts or 1024}. The probe: one 1-text "
             "/predict request every 10 ms through every phase (open loop).", "",
             "| phase | probe p50 ms | probe p99 ms | probe requests | probe not 200 | server RSS MiB | note |",
             "|---|---|---|---|---|---|---|"]
    for r in rows[:-1]:
        note = r.get("note", "")
        if "overload" in r:
            o = r["overload"]
            note = (f"sent {o['sent']:,} ({o['rate']:.0f}/s): 200 {o['ok']:,} (p50 {o['ok_p50']:.1f} ms, p99 "
                    f"{o['ok_p99']:.1f} ms), 503 {o['refused']:,} (p50 {o['refused_p50']:.1f} ms, p99 "
                    f"{o['refused_p99']:.1f} ms); wrong answers {o['wrong']}, unanswered {o['lost']}, 503 without "
                    f"Retry-After {o['bad_refusal']}, other statuses {o['other']}; {o['connections']} connections "
                    f"opened, {o['unconnected']} refused, {o['retried']} requests sent again on a new connection "
                    "(the server had closed the idle one as they were sent)")
        lines.append(f"| {r['phase']} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['requests']:,} | {r['not_200']} "
                     f"| {r['rss']:.0f} | {note} |")
    lines += ["", f"Server 5xx answers other than 503 (its /metrics), all phases: {summary['5xx']}. "
              f"Server RSS: {summary['rss_start']:.0f} MiB at the start, {summary['rss_end']:.0f} MiB at the end.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get(
        "TEXTRNN_DATASETS", ROOT.parent / "shared" / "datasets")) / "sst2")
    parser.add_argument("--model", type=Path, help="model folder (default: train a small one)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--alone-seconds", type=float, default=5)
    parser.add_argument("--slow", type=int, default=300, help="slow connections")
    parser.add_argument("--slow-seconds", type=float, default=10)
    parser.add_argument("--fuzz", type=int, default=10_000, help="malformed requests")
    parser.add_argument("--bombs", type=int, default=20)
    parser.add_argument("--size", type=int, default=16, help="texts per request for capacity and overload")
    parser.add_argument("--pool", type=int, default=500, help="distinct requests (their single answers asked first)")
    parser.add_argument("--capacity-seconds", type=float, default=5)
    parser.add_argument("--overload-seconds", type=float, default=30)
    parser.add_argument("--max-queue-texts", type=int, help="passed to serve (default: serve's, 1024)")
    parser.add_argument("--markdown", type=Path, help="also write the table to this markdown file")
    args = parser.parse_args()
    if not (args.data_dir / "test.csv").is_file():
        print(f"skipped: no {args.data_dir}/test.csv (set TEXTRNN_DATASETS)", file=sys.stderr)
        return
    work = Path(tempfile.mkdtemp(prefix="textrnn-hostile-"))
    model = args.model or train_small(args.data_dir, work)
    texts = read_texts(args.data_dir / "test.csv")
    proc, port = start_server([sys.executable, "-m", "textrnn", "serve", "--model", str(model), "--port", "0",
                               "--workers", "1", "--name", "m",
                               *(["--max-queue-texts", str(args.max_queue_texts)] if args.max_queue_texts else [])],
                              "/v2/health/ready", True)
    load_before = os.getloadavg()
    try:
        rows = asyncio.run(bench(args, port, proc.pid, "m", texts))
    finally:
        stop_server(proc)
    load = f"load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after"
    text = markdown(rows, args, load)
    print(text)
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
