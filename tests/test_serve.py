"""`textrnn serve` over real HTTP: a server process on an ephemeral port of 127.0.0.1 (loopback only)
per test module, the Open Inference Protocol shapes (and a standard V2 client, tritonclient),
/predict against offline `predict --json`, limits and their status codes, /metrics, several workers,
and a graceful SIGTERM. The load-and-fault test is test_serve_load.py."""

from __future__ import annotations

import asyncio
import gzip
import json
import shutil
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.servers import AsyncClient, Server, metric, post_json, request
from textrnn.cli import app
from textrnn.inference.predictor import Predictor

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

TEXTS = ["a wonderful and moving film", "terrible acting and a silly plot", "it was released in march",
         "naïve — but “great” 🎬"]


@pytest.fixture(scope="module")
def server(trained_model):
    srv = Server("--model", str(trained_model), "--max-texts", "8", "--max-text-chars", "200",
                 "--max-body-bytes", "4096")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def offline(trained_model):
    return Predictor(trained_model, device="cpu")


def infer_body(texts, **extra):
    return {"inputs": [{"name": "text", "shape": [len(texts)], "datatype": "BYTES", "data": texts}], **extra}


def offline_records(model, texts, top_k=1):
    """`textrnn predict --json` on the same texts: one record per text."""
    result = CliRunner().invoke(app, ["predict", "--model", str(model), "--json", "--top-k", str(top_k), "--", *texts])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def same_records(served, expected):
    assert len(served) == len(expected)
    for a, b in zip(served, expected, strict=True):
        assert a["text"] == b["text"] and a["label"] == b["label"] and set(a) == set(b)
        assert a["probability"] == pytest.approx(b["probability"], abs=2e-6)
        for x, y in zip(a.get("top", []), b.get("top", []), strict=True):
            assert x["label"] == y["label"] and x["probability"] == pytest.approx(y["probability"], abs=2e-6)


# ---------------------------------------------------------------- health and metadata


def test_health_and_metadata(server, trained_model, offline):
    port, name = server.port, trained_model.name
    assert request(port, "GET", "/v2/health/live")[::2] == (200, b'{"live":true}')
    assert request(port, "GET", "/v2/health/ready")[::2] == (200, b'{"ready":true}')
    status, headers, body = request(port, "GET", "/v2")
    meta = json.loads(body)
    assert status == 200 and headers["content-type"] == "application/json"
    assert meta["name"] == "textrnn" and isinstance(meta["version"], str)
    assert meta["extensions"] == ["binary_tensor_data"]
    status, _, body = request(port, "GET", f"/v2/models/{name}")
    meta = json.loads(body)
    assert status == 200 and meta["name"] == name and meta["platform"] == "textrnn"
    assert meta["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
    assert meta["outputs"] == [{"name": "label", "datatype": "BYTES", "shape": [-1]},
                               {"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]},
                               {"name": "top", "datatype": "BYTES", "shape": [-1]}]
    assert json.loads(meta["parameters"]["labels"]) == offline.labels
    assert all(isinstance(v, (str, int, float, bool)) for v in meta["parameters"].values())
    assert request(port, "GET", f"/v2/models/{name}/ready")[::2] == (200, json.dumps(
        {"name": name, "ready": True}, separators=(",", ":")).encode())


@pytest.mark.parametrize("method, path, status, phrase", [
    ("GET", "/v2/models/nope", 404, "no model named 'nope'"),
    ("GET", "/v2/models/nope/ready", 404, "no model named 'nope'"),
    ("POST", "/v2/models/nope/infer", 404, "no model named 'nope'"),
    ("GET", "/v2/models/tiny/versions/3", 404, "no version '3'"),
    ("POST", "/v2/models/tiny/versions/1/infer", 404, "no version '1'"),
    ("GET", "/nowhere", 404, "no such endpoint: GET /nowhere"),
    ("GET", "/predict", 405, "Method Not Allowed"),
    ("DELETE", "/v2/models/tiny/infer", 405, "Method Not Allowed"),
])
def test_unknown_models_and_routes(server, method, path, status, phrase):
    got, headers, body = request(server.port, method, path, b"{}" if method == "POST" else None)
    assert got == status and headers["content-type"] == "application/json"
    assert phrase in json.loads(body)["error"]


# ---------------------------------------------------------------- inference


def test_predict_answers_the_records_of_predict_json(server, trained_model):
    status, body = post_json(server.port, "/predict", {"texts": TEXTS})
    assert status == 200 and body["model"] == trained_model.name
    same_records(body["predictions"], offline_records(trained_model, TEXTS))
    status, body = post_json(server.port, "/predict", {"texts": TEXTS, "top_k": 2})
    same_records(body["predictions"], offline_records(trained_model, TEXTS, top_k=2))
    status, body = post_json(server.port, "/predict", {"text": TEXTS[0], "model": trained_model.name})
    same_records(body["predictions"], offline_records(trained_model, TEXTS[:1]))


def test_v2_infer_json(server, trained_model, offline):
    status, body = post_json(server.port, f"/v2/models/{trained_model.name}/infer",
                             infer_body(TEXTS, id="req-42", parameters={"top_k": 2}))
    assert status == 200
    assert body["model_name"] == trained_model.name and body["id"] == "req-42"
    outputs = {o["name"]: o for o in body["outputs"]}
    assert [o["name"] for o in body["outputs"]] == ["label", "probabilities", "top"]
    expected = offline.predict_proba(TEXTS)
    probs = outputs["probabilities"]
    assert probs["datatype"] == "FP32" and probs["shape"] == [4, 3]
    np.testing.assert_allclose(np.array(probs["data"]).reshape(4, 3), expected, atol=2e-6)
    assert outputs["label"] == {"name": "label", "datatype": "BYTES", "shape": [4],
                                "data": [offline.labels[i] for i in expected.argmax(1)]}
    tops = [json.loads(s) for s in outputs["top"]["data"]]
    assert [len(t) for t in tops] == [2] * 4 and [t[0]["label"] for t in tops] == outputs["label"]["data"]
    # the outputs asked for, in the order asked; [N, 1] input shapes, flat or nested data; no id, none echoed
    request_body = {"inputs": [{"name": "text", "shape": [2, 1], "datatype": "BYTES",
                                "data": [[TEXTS[0]], [TEXTS[1]]]}],
                    "outputs": [{"name": "top"}, {"name": "label"}]}
    status, body = post_json(server.port, f"/v2/models/{trained_model.name}/infer", request_body)
    assert status == 200 and "id" not in body and [o["name"] for o in body["outputs"]] == ["top", "label"]
    assert body["outputs"][1]["data"] == outputs["label"]["data"][:2]


def test_v2_binary_tensor_extension(server, trained_model, offline):
    """The binary layout the standard clients send by default: JSON header, then 4-byte lengths."""
    from textrnn.serving.protocol import decode_bytes_tensor, encode_bytes_tensor

    raw = encode_bytes_tensor(TEXTS)
    header = json.dumps({"inputs": [{"name": "text", "shape": [4], "datatype": "BYTES",
                                     "parameters": {"binary_data_size": len(raw)}}],
                         "parameters": {"binary_data_output": True}}).encode()
    status, headers, body = request(server.port, "POST", f"/v2/models/{trained_model.name}/infer", header + raw,
                                    {"Inference-Header-Content-Length": str(len(header))})
    assert status == 200
    n = int(headers["inference-header-content-length"])
    meta, blob = json.loads(body[:n]), body[n:]
    sizes = [o["parameters"]["binary_data_size"] for o in meta["outputs"]]
    assert all("data" not in o for o in meta["outputs"]) and sum(sizes) == len(blob)
    labels = decode_bytes_tensor(blob[: sizes[0]], 4, "label")
    probs = np.frombuffer(blob[sizes[0]: sizes[0] + sizes[1]], dtype="<f4").reshape(4, 3)
    np.testing.assert_allclose(probs, offline.predict_proba(TEXTS), atol=2e-6)
    assert labels == [offline.labels[i] for i in probs.argmax(1)]


def test_a_standard_v2_client_works_unchanged(server, trained_model, offline):
    """tritonclient's HTTP client, with its defaults (binary data both ways) and with JSON."""
    httpclient = pytest.importorskip("tritonclient.http")
    from tritonclient.utils import InferenceServerException

    name = trained_model.name
    client = httpclient.InferenceServerClient(f"127.0.0.1:{server.port}")
    try:
        assert client.is_server_live() and client.is_server_ready() and client.is_model_ready(name)
        assert client.get_server_metadata()["name"] == "textrnn"
        assert client.get_model_metadata(name)["inputs"][0]["datatype"] == "BYTES"
        expected = offline.predict_proba(TEXTS)
        for binary in (True, False):
            text = httpclient.InferInput("text", [len(TEXTS)], "BYTES")
            text.set_data_from_numpy(np.array(TEXTS, dtype=object), binary_data=binary)
            outputs = [httpclient.InferRequestedOutput(o, binary_data=binary) for o in ("label", "probabilities")]
            result = client.infer(name, [text], outputs=outputs, request_id="7")
            assert result.get_response()["id"] == "7"
            np.testing.assert_allclose(result.as_numpy("probabilities"), expected, atol=2e-6)
            labels = [x.decode() if isinstance(x, bytes) else x for x in result.as_numpy("label")]
            assert labels == [offline.labels[i] for i in expected.argmax(1)]
        result = client.infer(name, [text])  # no outputs named: all of them, binary
        assert result.as_numpy("top").shape == (len(TEXTS),)
        assert not client.is_model_ready("nope")
        with pytest.raises(InferenceServerException, match="no model named"):
            client.infer("nope", [text])
    finally:
        client.close()


# ---------------------------------------------------------------- limits and bad requests

V2 = "/v2/models/tiny/infer"
GOOD = infer_body(["fine"])


@pytest.mark.parametrize("path, body, status, phrase", [
    ("/predict", b'{"texts": ["a", }', 400, "not valid JSON: Expecting value (line 1, column 17)"),
    ("/predict", b"\xff\xfe", 400, "not UTF-8"),
    ("/predict", b"[1, 2]", 400, "must be a JSON object (got a list)"),
    ("/predict", b"[" * 100_000 + b"]" * 100_000, 413, "limit"),
    ("/predict", b"[" * 2000 + b"]" * 2000, 400, "nested too deeply"),
    ("/predict", {"texts": "one"}, 400, "texts must be a list of strings (got a string)"),
    ("/predict", {"texts": ["a", 5]}, 400, "texts[1] must be a string (got a number)"),
    ("/predict", {"texts": []}, 422, "texts holds no text"),
    ("/predict", {"texts": ["ok", "  "]}, 422, "texts[1] is empty"),
    ("/predict", {"texts": ["x"] * 9}, 422, "holds 9 texts; the limit is 8 per request"),
    ("/predict", {"text": "x" * 201}, 422, "text[0] has 201 characters; the limit is 200"),
    ("/predict", {"text": "a", "texts": ["b"]}, 400, "either \"text\""),
    ("/predict", {"txt": "a"}, 400, "unknown field 'txt'"),
    ("/predict", {"text": "a", "top_k": 0}, 400, "top_k must be a whole number of at least 1"),
    ("/predict", {"text": "a", "model": "nope"}, 404, "no model named 'nope'"),
    (V2, {"inputs": []}, 400, "inputs must hold exactly one input, 'text'"),
    (V2, {"id": 5, **GOOD}, 400, "id must be a string"),
    (V2, {}, 400, "inputs must be a list holding one input"),
    (V2, {"inputs": [{"name": "input_ids", "shape": [1], "datatype": "BYTES", "data": ["a"]}]}, 400,
     "inputs[0].name must be 'text'"),
    (V2, {"inputs": [{"name": "text", "shape": [1], "datatype": "FP32", "data": [1.0]}]}, 400,
     "inputs[0].datatype must be \"BYTES\""),
    (V2, {"inputs": [{"name": "text", "shape": [2, 2], "datatype": "BYTES", "data": ["a"] * 4}]}, 400,
     "inputs[0].shape must be [N] or [N, 1]"),
    (V2, {"inputs": [{"name": "text", "shape": [3], "datatype": "BYTES", "data": ["a"]}]}, 400,
     "says 3 texts but its data holds 1"),
    (V2, {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": "a"}]}, 400,
     "inputs[0].data must be a list of strings"),
    (V2, {"inputs": [{"name": "text", "shape": [20], "datatype": "BYTES", "data": ["a"] * 20}]}, 422,
     "holds 20 texts; the limit is 8"),
    (V2, {**GOOD, "outputs": [{"name": "logits"}]}, 400, "outputs[0].name must be one of label, probabilities, top"),
    (V2, {**GOOD, "outputs": [{"name": "top", "parameters": {"classification": 2}}]}, 400, "not supported"),
    (V2, {**GOOD, "parameters": {"top_k": "2"}}, 400, "parameters.top_k must be a whole number"),
    (V2, {**GOOD, "parameters": {"binary_data_output": "yes"}}, 400, "binary_data_output must be true or false"),
])
def test_bad_requests_get_a_clear_status_and_one_json_line(server, trained_model, path, body, status, phrase):
    path = path.replace("/tiny/", f"/{trained_model.name}/")
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    got, headers, content = request(server.port, "POST", path, raw)
    error = json.loads(content)["error"]
    assert (got, headers["content-type"]) == (status, "application/json"), error
    assert phrase in error and "Traceback" not in error and "\n" not in error


def test_binary_data_that_does_not_add_up_is_refused(server, trained_model):
    from textrnn.serving.protocol import encode_bytes_tensor

    path = f"/v2/models/{trained_model.name}/infer"
    raw = encode_bytes_tensor(["one", "two"])
    for size, extra, header_length, phrase in [
            (len(raw), b"", "-3", "Inference-Header-Content-Length must be"),
            (len(raw) + 5, b"", None, "binary_data_size must be at most"),
            (len(raw), b"junk", None, "bytes after the inputs' binary data"),
            (len(raw) - 1, b"", None, "ends inside|remain|bytes after"),
            (len(raw[:-2]) - 2, b"", None, "remain|bytes after")]:
        header = json.dumps({"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES",
                                         "parameters": {"binary_data_size": size}}]}).encode()
        status, _, body = request(server.port, "POST", path, header + raw + extra,
                                  {"Inference-Header-Content-Length": header_length or str(len(header))})
        assert status == 400, body
        assert any(p in json.loads(body)["error"] for p in phrase.split("|"))
    header = json.dumps({"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES",
                                     "parameters": {"binary_data_size": 6}}]}).encode()
    status, _, body = request(server.port, "POST", path, header + b"\x02\x00\x00\x00\xff\xfe",
                              {"Inference-Header-Content-Length": str(len(header))})
    assert status == 400 and "is not UTF-8" in json.loads(body)["error"]


def test_body_size_limit_and_content_encodings(server):
    big = json.dumps({"texts": ["x" * 100] * 50}).encode()  # 5 kB > 4096
    status, _, body = request(server.port, "POST", "/predict", big)
    assert status == 413 and f"the body is {len(big):,} bytes; the limit is 4,096" in json.loads(body)["error"]
    # a chunked body (no Content-Length) is counted as it comes
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("POST", "/predict", body=iter([big[:3000], big[3000:]]), encode_chunked=True)
    response = conn.getresponse()
    assert response.status == 413 and "limit" in json.loads(response.read())["error"]
    conn.close()
    # gzip bodies are read, and measured once decompressed (a small bomb is refused)
    good = gzip.compress(json.dumps({"texts": TEXTS}).encode())
    status, _, body = request(server.port, "POST", "/predict", good, {"Content-Encoding": "gzip"})
    assert status == 200 and len(json.loads(body)["predictions"]) == 4
    bomb = gzip.compress(json.dumps({"text": "a" + " " * 100_000}).encode())
    assert len(bomb) < 4096
    status, _, body = request(server.port, "POST", "/predict", bomb, {"Content-Encoding": "gzip"})
    assert status == 413 and "once decompressed" in json.loads(body)["error"]
    status, _, body = request(server.port, "POST", "/predict", b"not gzip", {"Content-Encoding": "gzip"})
    assert status == 400 and "not valid gzip" in json.loads(body)["error"]
    status, _, body = request(server.port, "POST", "/predict", b"{}", {"Content-Encoding": "br"})
    assert status == 415


def test_metrics_count_requests_texts_and_batches(server, trained_model):
    before = request(server.port, "GET", "/metrics")[2].decode()
    for _ in range(3):
        assert post_json(server.port, "/predict", {"texts": TEXTS[:2]})[0] == 200
    assert post_json(server.port, "/predict", {"texts": 5})[0] == 400
    status, headers, body = request(server.port, "GET", "/metrics")
    after = body.decode()
    assert status == 200 and headers["content-type"].startswith("text/plain")
    name = trained_model.name

    def delta(metric_name, **labels):
        return metric(after, metric_name, **labels) - metric(before, metric_name, **labels)

    assert delta("textrnn_requests_total", endpoint="/predict", status="200") == 3
    assert delta("textrnn_requests_total", endpoint="/predict", status="400") == 1
    assert delta("textrnn_inference_texts_total", model=name) == 6
    assert 1 <= delta("textrnn_executions_total", model=name) <= 3
    assert delta("textrnn_request_seconds_count", endpoint="/predict") == 4
    assert delta("textrnn_queue_seconds_count", model=name) == 3
    assert metric(after, "textrnn_inflight_requests") == 0
    assert metric(after, "textrnn_model_info", model=name, task="single_label", labels="3") == 1
    assert metric(after, "process_resident_memory_bytes") > 0


# ---------------------------------------------------------------- concurrency limit, shutdown, workers


def test_too_many_requests_in_flight_get_503_with_retry_after(trained_model):
    srv = Server("--model", str(trained_model), "--max-concurrency", "2", "--max-delay-ms", "400",
                 "--max-batch-texts", "64")

    async def go():
        clients = [AsyncClient(srv.port) for _ in range(4)]
        body = json.dumps({"text": "a fine film"}).encode()
        for c in clients:
            await c.send("POST", "/predict", body)
            await asyncio.sleep(0.02)
        answers = await asyncio.gather(*(c.receive() for c in clients))
        for c in clients:
            c.close()
        return answers

    try:
        answers = asyncio.run(go())
        assert sorted(a[0] for a in answers) == [200, 200, 503, 503]
        refused = [a for a in answers if a[0] == 503]
        assert all(a[1]["retry-after"] == "1" and "in flight" in json.loads(a[2])["error"] for a in refused)
        assert request(srv.port, "GET", "/v2/health/ready")[0] == 200  # probes are not limited

        async def leave():  # a client that leaves while its request waits in the queue costs no inference
            client = AsyncClient(srv.port)
            await client.send("POST", "/predict", json.dumps({"texts": ["one", "two", "three"]}).encode())
            await asyncio.sleep(0.1)
            client.close()
            await asyncio.sleep(0.6)

        before = request(srv.port, "GET", "/metrics")[2].decode()
        asyncio.run(leave())
        after = request(srv.port, "GET", "/metrics")[2].decode()
        assert metric(after, "textrnn_inference_texts_total") == metric(before, "textrnn_inference_texts_total")
        assert metric(after, "textrnn_requests_total", endpoint="/predict", status="499") == 1
        assert metric(after, "textrnn_inflight_requests") == 0
    finally:
        assert srv.stop() == 0


def test_sigterm_finishes_requests_in_flight_then_exits_0(trained_model):
    srv = Server("--model", str(trained_model), "--max-delay-ms", "500", "--max-batch-texts", "1000")

    async def go():
        clients = [AsyncClient(srv.port) for _ in range(20)]
        for i, c in enumerate(clients):
            await c.send("POST", "/predict", json.dumps({"texts": [f"text number {i}", "a fine film"]}).encode())
        await asyncio.sleep(0.1)  # all queued, waiting for the group's 500 ms
        srv.terminate()
        answers = await asyncio.gather(*(c.receive() for c in clients))
        for c in clients:
            c.close()
        return answers

    answers = asyncio.run(go())
    assert [a[0] for a in answers] == [200] * 20
    assert [json.loads(a[2])["predictions"][0]["text"] for a in answers] == [f"text number {i}" for i in range(20)]
    assert srv.proc.wait(30) == 0
    assert request(srv.port, "GET", "/v2/health/live")[0] == 0  # gone
    assert "Traceback" not in srv.log()


def test_several_workers_share_the_port_and_add_up_their_metrics(trained_model):
    srv = Server("--model", str(trained_model), "--workers", "2")
    try:
        for _ in range(12):  # fresh connections: spread over the workers
            assert post_json(srv.port, "/predict", {"texts": TEXTS[:3]})[0] == 200
        for _ in range(6):  # whichever worker answers, the totals are all workers'
            text = request(srv.port, "GET", "/metrics")[2].decode()
            assert metric(text, "textrnn_requests_total", endpoint="/predict", status="200") == 12
            assert metric(text, "textrnn_inference_texts_total", model=trained_model.name) >= 36
            assert metric(text, "textrnn_model_info", model=trained_model.name) == 1
            assert metric(text, "textrnn_inflight_requests") == 0
    finally:
        assert srv.stop() == 0


def test_models_folder_serves_every_model_by_name(trained_model, tmp_path):
    root = tmp_path / "served"
    for name in ("alpha", "beta"):
        shutil.copytree(trained_model, root / name)
    (root / "DEFAULT").write_text("beta\n")
    srv = Server("--models", str(root))
    try:
        for name in ("alpha", "beta"):
            assert request(srv.port, "GET", f"/v2/models/{name}/ready")[0] == 200
            assert post_json(srv.port, f"/v2/models/{name}/infer", infer_body(["fine"]))[1]["model_name"] == name
        assert post_json(srv.port, "/predict", {"text": "fine"})[1]["model"] == "beta"
        assert post_json(srv.port, "/predict", {"text": "fine", "model": "alpha"})[1]["model"] == "alpha"
    finally:
        srv.stop()


@pytest.mark.parametrize("args, phrase", [
    (["--model", "/nonexistent/model"], "model folder /nonexistent/model does not exist"),
    (["--models", "/nonexistent"], "models folder /nonexistent does not exist"),
    (["--model", "m", "--models", "d"], "give --model or --models, not both"),
])
def test_serve_refuses_what_cannot_serve_in_one_line(args, phrase):
    result = CliRunner().invoke(app, ["serve", *args])
    assert result.exit_code == 1 and phrase in result.output and "Traceback" not in result.output


def test_serve_refuses_a_corrupt_model_before_listening(trained_model, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(trained_model, broken)
    (broken / "model.onnx").write_bytes(b"not onnx")
    result = CliRunner().invoke(app, ["serve", "--model", str(broken), "--port", "0"])
    assert result.exit_code == 1 and "is corrupt or not an ONNX model" in result.output


def test_lone_surrogates_are_refused_in_texts_and_echoed_escaped_in_an_id(server, trained_model):
    """JSON can spell a lone surrogate ("\\ud800"): no UTF-8 and no tokens. Found by
    benchmarks/serve_hostile.py's fuzzing: an id with one was a 500, a text with one failed its
    whole inference group (every request batched with it got a 500)."""
    status, body = post_json(server.port, "/predict", b'{"texts": ["a fine film", "bad \\ud800 film"]}')
    assert status == 400 and "texts[1] holds a lone surrogate" in body["error"]
    infer = (b'{"id": "x\\ud800", "inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", '
             b'"data": ["a fine film"]}]}')
    status, _, content = request(server.port, "POST", f"/v2/models/{trained_model.name}/infer", infer)
    assert status == 200 and json.loads(content)["id"] == "x\ud800" and b'"x\\ud800"' in content
    status, body = post_json(server.port, "/predict", {"text": "fine", "model": "m\ud800"})
    assert status == 404 and "no model named" in body["error"]


def test_access_log_logs_each_request_and_is_off_by_default(server, trained_model):
    srv = Server("--model", str(trained_model), "--access-log")
    try:
        assert post_json(srv.port, "/predict", {"text": "a fine film"})[0] == 200
        assert request(srv.port, "GET", "/nowhere")[0] == 404
        deadline = time.monotonic() + 10
        while '"GET /nowhere HTTP/1.1" 404' not in srv.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert '"POST /predict HTTP/1.1" 200' in srv.log() and '"GET /nowhere HTTP/1.1" 404' in srv.log()
    finally:
        assert srv.stop() == 0
    post_json(server.port, "/predict", {"text": "a fine film"})  # the module's server: no --access-log
    assert "POST /predict" not in server.log()
