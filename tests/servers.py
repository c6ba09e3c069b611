"""Helpers for the serving tests: a real `textrnn serve` process on an ephemeral port of 127.0.0.1,
and a small HTTP/1.1 client (blocking, and asyncio for many connections). Loopback only."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


class Server:
    """`textrnn serve ARGS --port 0` in a subprocess; `port` once it has said where it listens."""

    def __init__(self, *args: str, ready: bool = True, timeout: float = 60) -> None:
        self.stderr = tempfile.TemporaryFile()
        env = {**os.environ, "COLUMNS": "200"}
        if "--workers" not in args:  # one process unless a test asks for more (the default: the physical cores)
            args = (*args, "--workers", "1")
        self.proc = subprocess.Popen([sys.executable, "-m", "textrnn", "serve", *args, "--port", "0"],
                                     stdout=subprocess.DEVNULL, stderr=self.stderr, env=env)
        deadline = time.monotonic() + timeout
        self.port = 0
        while not self.port:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"textrnn serve did not start:\n{self.log()}")
            found = re.search(r"http://127\.0\.0\.1:(\d+)", self.log())
            self.port = int(found.group(1)) if found else 0
            time.sleep(0.05)
        while ready and request(self.port, "GET", "/v2/health/ready")[0] != 200:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"textrnn serve did not get ready:\n{self.log()}")
            time.sleep(0.05)

    def log(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")

    def rss_kib(self, pid: int | None = None) -> int:
        for line in Path(f"/proc/{pid or self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def terminate(self) -> None:
        self.proc.send_signal(signal.SIGTERM)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def request(port: int, method: str, path: str, body: bytes | dict | None = None,
            headers: dict[str, str] | None = None, timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection: (status, headers in lower case, body); status 0 if refused."""
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    except ConnectionRefusedError:
        return 0, {}, b""
    finally:
        conn.close()


def post_json(port: int, path: str, body: Any, **kw: Any) -> tuple[int, Any]:
    status, _, content = request(port, "POST", path, body if isinstance(body, bytes) else json.dumps(body).encode(),
                                 {"content-type": "application/json"}, **kw)
    return status, json.loads(content) if content else None


class AsyncClient:
    """One keep-alive connection, for many clients at once from one event loop."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)

    async def send(self, method: str, path: str, body: bytes, headers: dict[str, str] | None = None,
                   partial: bool = False) -> None:
        """Write a request; `partial`: only the headers and half the body."""
        await self.connect()
        assert self.writer is not None
        head = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.writer.write(f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: {len(body)}\r\n"
                          f"{head}\r\n".encode() + (body[: len(body) // 2] if partial else body))
        await self.writer.drain()

    async def receive(self) -> tuple[int, dict[str, str], bytes]:
        assert self.reader is not None
        status = int((await self.reader.readline()).split()[1])
        headers = {}
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            key, _, value = line.decode("latin-1").partition(":")
            headers[key.strip().lower()] = value.strip()
        content = await self.reader.readexactly(int(headers.get("content-length", 0)))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, content

    async def call(self, method: str, path: str, body: bytes, headers: dict[str, str] | None = None,
                   ) -> tuple[int, dict[str, str], bytes]:
        await self.send(method, path, body, headers)
        return await self.receive()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            if key.split("{")[0] != name:
                continue
            found = dict(re.findall(r'(\w+)="([^"]*)"', key))
            if all(found.get(k) == v for k, v in labels.items()):
                return float(value)
    return 0.0
