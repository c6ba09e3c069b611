"""Serving benchmark: `textrnn serve` under load on 127.0.0.1, against `predict --file` and a naive server.

    flock /tmp/textrnn-heavy.lock .venv/bin/python benchmarks/serve.py [--model DIR] [--markdown FILE]

Without --model it trains the default model (`textrnn train` with default settings and --int8) on
<data-dir>/train.csv. The texts are <data-dir>/test.csv's. In one run:
  1. `textrnn predict --file` on the texts replicated to --lines lines (a fresh process, JSON lines
     to /dev/null): texts/s end to end;
  2. `textrnn serve` (one worker, defaults), its POST /predict and its V2 infer endpoint, and the
     naive server (a Starlette app on the same uvicorn: one request, one `Predictor.predict` call in
     the thread pool, no batching; what a user writes in ten minutes), each under a closed-loop load
     generator: requests of 1 and of 32 texts, at concurrency 1, 8 and 64, each cell bounded by
     --requests and --seconds; texts/s and p50/p99 latency. Every answer is checked (status 200, one
     record per text).
The load generator is this process: an asyncio HTTP/1.1 client on keep-alive connections (uvloop
when installed), sharing the machine's cores with the server, as a real client on the same host
would. Run it on an otherwise idle machine: timings of concurrent heavy jobs mean nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu_name

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZES = (1, 32)
CONCURRENCY = (1, 8, 64)

NAIVE_SERVER = r'''
import sys
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
import uvicorn
from textrnn import load_predictor
from textrnn.inference.records import prediction_record

predictor = load_predictor(sys.argv[1])
predictor.predict(["warm up"] * 40)


def predict_texts(texts):
    return [prediction_record(p, 1) for p in predictor.predict(texts)]


async def predict(request: Request) -> JSONResponse:
    body = await request.json()
    return JSONResponse({"predictions": await run_in_threadpool(predict_texts, body["texts"])})


app = Starlette(routes=[Route("/predict", predict, methods=["POST"]),
                        Route("/ready", lambda request: JSONResponse({"ready": True}))])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
'''


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT) + os.pathsep + e.get("PYTHONPATH", "")
    return e




def read_texts(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [r["text"].replace("\n", " ") for r in csv.DictReader(f) if r["text"].strip()]


def train_default(data_dir: Path, work: Path) -> Path:
    out = work / "sst2-default"
    print(f"training the default model on {data_dir}/train.csv ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "textrnn", "train", str(data_dir / "train.csv"), "--val",
                    str(data_dir / "dev.csv"), "--test", str(data_dir / "test.csv"), "--out", str(out),
                    "--force", "--int8"], check=True, env={**env(), "TEXTRNN_MODELS": str(work)},
                   stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    return out


# ---------------------------------------------------------------- the load generator


class Client(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, as light as a Python client gets (an asyncio Protocol,
    Content-Length bodies only, as both servers send): the client shares the cores with the server."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future | None = None

    @classmethod
    async def open(cls, host: str, port: int) -> Client:
        _, client = await asyncio.get_running_loop().create_connection(cls, host, port)
        return client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None:
            return
        head = bytes(self.buffer[:end]).lower() + b"\r\n"
        at = head.find(b"content-length:")
        length = int(head[at + 15: head.find(b"\r\n", at)]) if at >= 0 else 0
        if len(self.buffer) < end + 4 + length:
            return
        status = int(head[9:12])
        body = bytes(self.buffer[end + 4: end + 4 + length])
        del self.buffer[: end + 4 + length]
        waiter, self.waiter = self.waiter, None
        waiter.set_result((status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("the server closed the connection"))

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (path.encode(), len(body), body))
        return await self.waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def predict_body(texts: list[str]) -> bytes:
    return json.dumps({"texts": texts}).encode()


def infer_body(texts: list[str]) -> bytes:
    return json.dumps({"inputs": [{"name": "text", "shape": [len(texts)], "datatype": "BYTES",
                                   "data": texts}]}).encode()


def answered(body: bytes, api: str) -> int:
    data = json.loads(body)
    return len(data["predictions"]) if api == "predict" else data["outputs"][0]["shape"][0]


async def load(port: int, path: str, api: str, texts: list[str], size: int, concurrency: int,
               max_requests: int, max_seconds: float) -> dict[str, float]:
    """A closed loop: `concurrency` clients, each sending its next request when the last is answered,
    until max_requests in all or max_seconds. Bodies are built before the clock starts."""
    make = predict_body if api == "predict" else infer_body
    bodies = [make([texts[(i * size + j) % len(texts)] for j in range(size)]) for i in range(512)]
    latencies: list[float] = []
    errors = 0
    sent = 0
    deadline = time.perf_counter() + max_seconds

    async def worker(k: int) -> None:
        nonlocal errors, sent
        client = await Client.open("127.0.0.1", port)
        try:
            while sent < max_requests and time.perf_counter() < deadline:
                body = bodies[sent % len(bodies)]
                sent += 1
                start = time.perf_counter()
                status, content = await client.post(path, body)
                latencies.append(time.perf_counter() - start)
                if status != 200 or answered(content, api) != size:
                    errors += 1
        finally:
            client.close()

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    wall = time.perf_counter() - start
    latencies.sort()
    return {"requests": len(latencies), "errors": errors, "seconds": wall,
            "client_cpu": (time.process_time() - cpu) / wall,
            "texts_s": len(latencies) * size / wall,
            "p50_ms": 1000 * latencies[len(latencies) // 2],
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]}


# ---------------------------------------------------------------- servers


def start_server(cmd: list[str], ready_path: str, port_from_stderr: bool, port: int | None = None,
                 ) -> tuple[subprocess.Popen, int]:
    err = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env())
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            err.seek(0)
            raise SystemExit(f"server exited: {' '.join(cmd)}\n{err.read().decode()}")
        if port is None and port_from_stderr:
            err.seek(0)
            found = re.search(rb"http://127\.0\.0\.1:(\d+)", err.read())
            port = int(found.group(1)) if found else None
        if port is not None:
            try:
                out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                      f"http://127.0.0.1:{port}{ready_path}"], capture_output=True, text=True)
                if out.stdout == "200":
                    return proc, port
            except FileNotFoundError:  # no curl: ask with Python
                import urllib.request

                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}{ready_path}", timeout=1) as r:
                        if r.status == 200:
                            return proc, port
                except OSError:
                    pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"server not ready in 60 s: {' '.join(cmd)}")


def stop_server(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its live children (uvicorn's workers) so far."""
    total = 0.0
    for p in [pid, *children(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def groups(port: int) -> tuple[float, float]:
    """textrnn serve's texts inferred and groups run so far (from /metrics)."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    texts = sum(float(m) for m in re.findall(r"^textrnn_inference_texts_total\{[^}]*\} (\S+)", text, re.M))
    runs = sum(float(m) for m in re.findall(r"^textrnn_executions_total\{[^}]*\} (\S+)", text, re.M))
    return texts, runs


def run_cells(proc: subprocess.Popen, port: int, path: str, api: str, texts: list[str], args: argparse.Namespace,
              system: str) -> list[dict]:
    rows = []
    asyncio.run(load(port, path, api, texts, 1, 8, 400, 2))  # warm the server and the connections
    for size in SIZES:
        for concurrency in CONCURRENCY:
            before = groups(port) if system.startswith("textrnn") else (0.0, 0.0)
            cpu = cpu_seconds(proc.pid)
            result = asyncio.run(load(port, path, api, texts, size, concurrency, args.requests, args.seconds))
            result["server_cpu"] = (cpu_seconds(proc.pid) - cpu) / result["seconds"]
            if system.startswith("textrnn"):
                after = groups(port)
                result["group"] = (after[0] - before[0]) / max(1.0, after[1] - before[1])
            result.update(system=system, size=size, concurrency=concurrency)
            print(f"{system:<24} {size:>3} texts  c{concurrency:<3} {result['texts_s']:>9,.0f} texts/s  "
                  f"p50 {result['p50_ms']:7.2f} ms  p99 {result['p99_ms']:7.2f} ms  "
                  f"server CPU {100 * result['server_cpu']:3.0f}%  client CPU {100 * result['client_cpu']:3.0f}%  "
                  f"texts/group {result.get('group', 0):5.1f}  "
                  f"({result['requests']:,} requests, {result['errors']} errors)", file=sys.stderr)
            rows.append(result)
    return rows


def predict_file(model: Path, texts: list[str], lines: int, work: Path) -> tuple[float, float]:
    path = work / "texts.txt"
    with open(path, "w", encoding="utf-8") as f:
        for i in range(lines):
            f.write(texts[i % len(texts)] + "\n")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "textrnn", "predict", "--model", str(model), "--file", str(path),
                    "--json"], check=True, stdout=subprocess.DEVNULL, env=env())
    wall = time.perf_counter() - start
    return lines / wall, wall


def markdown(rows: list[dict], file_rate: float, file_wall: float, lines: int) -> tuple[str, list[str]]:
    lines_out = ["| system | texts/request | concurrency | texts/s | p50 ms | p99 ms | server CPU | client CPU "
                 "| texts/group | requests | errors |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        group = f"{r['group']:.1f}" if "group" in r else "-"
        lines_out.append(f"| {r['system']} | {r['size']} | {r['concurrency']} | {r['texts_s']:,.0f} | "
                         f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {100 * r['server_cpu']:.0f}% | "
                         f"{100 * r['client_cpu']:.0f}% | {group} | "
                         f"{r['requests']:,} | {r['errors']} |")
    lines_out.append(f"| `predict --file` ({lines:,} lines, one process) | - | - | {file_rate:,.0f} "
                     "| - | - | - | - | - | - | - |")

    def cell(system: str, size: int, concurrency: int) -> dict:
        return next(r for r in rows if r["system"] == system and r["size"] == size
                    and r["concurrency"] == concurrency)

    verdicts = ["", "| target | measured | ratio | goal | met |", "|---|---|---|---|---|"]
    naive = cell("naive server", 1, 64)
    ours_systems = sorted({r["system"] for r in rows if r["system"].startswith("textrnn")}, key=lambda s: (len(s), s))
    for system in ours_systems:
        ours = cell(system, 1, 64)
        ratio = ours["texts_s"] / naive["texts_s"]
        met = ratio >= 3 and ours["p99_ms"] < naive["p99_ms"]
        verdicts.append(f"| {system}, 1 text, c64: throughput vs naive; p99 | {ours['texts_s']:,.0f} vs "
                        f"{naive['texts_s']:,.0f} texts/s; p99 {ours['p99_ms']:.1f} vs {naive['p99_ms']:.1f} ms | "
                        f"{ratio:.2f}x | >= 3x and lower p99 | {'yes' if met else 'no'} |")
    for system in ours_systems:
        ours = cell(system, 32, 64)
        ratio = ours["texts_s"] / file_rate
        verdicts.append(f"| {system}, 32 texts, c64 vs `predict --file` | {ours['texts_s']:,.0f} vs "
                        f"{file_rate:,.0f} texts/s | {ratio:.2f}x | >= 0.70x | {'yes' if ratio >= 0.7 else 'no'} |")
    return "\n".join(lines_out + verdicts), []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "datasets" / "sst2")
    parser.add_argument("--model", type=Path, help="model folder (default: train the default model)")
    parser.add_argument("--requests", type=int, default=20_000, help="most requests per cell")
    parser.add_argument("--seconds", type=float, default=6.0, help="most seconds per cell")
    parser.add_argument("--lines", type=int, default=50_000, help="lines for `predict --file`")
    parser.add_argument("--workers", type=int, default=2, help="also measure `serve --workers N` (1: skip)")
    parser.add_argument("--markdown", type=Path, help="also write the table to this markdown file")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="textrnn-serve-bench-") as tmp:
        work = Path(tmp)
        model = args.model or train_default(args.data_dir, work)
        texts = read_texts(args.data_dir / "test.csv")
        file_rate, file_wall = predict_file(model, texts, args.lines, work)
        print(f"predict --file: {file_rate:,.0f} texts/s ({args.lines:,} lines in {file_wall:.1f} s)", file=sys.stderr)
        rows = []
        proc, port = start_server([sys.executable, "-m", "textrnn", "serve", "--model", str(model), "--port", "0"],
                                  "/v2/health/ready", True)
        try:
            rows += run_cells(proc, port, "/predict", "predict", texts, args, "textrnn serve /predict")
            name = model.name
            rows += run_cells(proc, port, f"/v2/models/{name}/infer", "infer", texts, args, "textrnn serve V2 infer")
        finally:
            stop_server(proc)
        if args.workers > 1:
            proc, port = start_server([sys.executable, "-m", "textrnn", "serve", "--model", str(model), "--port", "0",
                                       "--workers", str(args.workers)], "/v2/health/ready", True)
            try:
                rows += run_cells(proc, port, "/predict", "predict", texts, args,
                                  f"textrnn serve --workers {args.workers} /predict")
            finally:
                stop_server(proc)
        port = free_port()
        proc, port = start_server([sys.executable, "-c", NAIVE_SERVER, str(model), str(port)], "/ready", False, port)
        try:
            rows += run_cells(proc, port, "/predict", "predict", texts, args, "naive server")
        finally:
            stop_server(proc)
    table, _ = markdown(rows, file_rate, file_wall, args.lines)
    total = time.perf_counter() - started
    command = "flock /tmp/textrnn-heavy.lock .venv/bin/python benchmarks/serve.py" + \
        (f" --model {args.model}" if args.model else "") + (f" --markdown {args.markdown}" if args.markdown else "")
    note = (f"CPU: {cpu_name()}, {os.cpu_count()} logical cores, shared by the server and the load generator; "
            f"model: {model.name if args.model else 'the default recipe on sst2 (--int8)'}; texts: "
            f"{args.data_dir.name}/test.csv; each cell at most {args.requests:,} requests or {args.seconds:g} s; "
            f"total {total:.0f} s")
    text = f"# Serving benchmark\n\n`{command}`\n\n{table}\n\n{note}\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
