"""Serving stage: what a request may hold and what an answer looks like, with no web framework.

Two APIs over the same models:
- the Open Inference Protocol (KServe V2) REST API, with its binary tensor data extension (the
  one Triton's and KServe's clients use by default). A model takes one input, `text` (BYTES,
  shape [-1]) and answers three outputs: `label` (BYTES [N], each text's first label),
  `probabilities` (FP32 [N, C], columns in the order of the model metadata's `labels`) and `top`
  (BYTES [N], each a JSON list of {"label", "probability"}, the `top` records of
  `predict --json`). The request parameter `top_k` sets how many labels `top` holds.
- POST /predict: {"text": "..."} or {"texts": [...]}, with optional "top_k" and "model", answered
  as {"model": NAME, "predictions": [...]} with exactly the records of `textrnn predict --json`.

Errors are RequestError: an HTTP status (400 for a malformed body or a wrong shape, naming the
field; 413 for a body over the limit; 422 for texts over the limits) and a one-line message,
sent as {"error": "..."}.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from textrnn import __version__
from textrnn.errors import TextrnnError
from textrnn.inference.records import explained_record, explanation_record, prediction_record, top_strings
from textrnn.serving.settings import Limits

__all__ = ["Limits", "RequestError"]  # Limits: declared with serve's other settings

INPUT = "text"
OUTPUTS = ("label", "probabilities", "top")
EXTENSIONS = ("binary_tensor_data",)
HEADER_LENGTH = "inference-header-content-length"  # the binary extension's header
EXPLANATION = "explanation"  # an output given on request (parameters.explain), not by default
PREDICT_KEYS = ("text", "texts", "top_k", "model", "explain")


class RequestError(TextrnnError):
    """A request the server refuses: HTTP `status`, a one-line message, extra response headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


def dumps(value: Any) -> bytes:
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate echoed back (an id, a model name): escaped as it came
        return json.dumps(value, separators=(",", ":")).encode("ascii")


def error_body(message: str) -> bytes:
    return dumps({"error": message})


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def parse_json(body: bytes, what: str = "the request body") -> dict[str, Any]:
    """A JSON object, or RequestError 400 saying why not."""
    try:
        value = json.loads(body.decode("utf-8"))  # decoded here: json.loads(bytes) would also take UTF-16/32
    except UnicodeDecodeError as err:
        raise RequestError(400, f"{what} is not UTF-8 ({err.reason} at byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise RequestError(400, f"{what} is not valid JSON: {err.msg} (line {err.lineno}, column {err.colno})") \
            from None
    except RecursionError:
        raise RequestError(400, f"{what} is nested too deeply") from None
    if not isinstance(value, dict):
        raise RequestError(400, f"{what} must be a JSON object (got {_type_name(value)})")
    return value


def _utf8(text: str, where: str) -> None:
    """400 for a string JSON's escapes made with a lone surrogate ("\\ud800"): no UTF-8, no tokens."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise RequestError(400, f"{where} holds a lone surrogate ({err.object[err.start]!r}): not text") from None


def check_texts(texts: Sequence[Any], where: str, limits: Limits) -> list[str]:
    """The texts of a request, checked: strings (400), at least one, not too many, none empty or
    too long (422)."""
    if len(texts) > limits.max_texts:
        raise RequestError(422, f"{where} holds {len(texts):,} texts; the limit is {limits.max_texts:,} "
                                "per request")
    if not texts:
        raise RequestError(422, f"{where} holds no text")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise RequestError(400, f"{where}[{i}] must be a string (got {_type_name(text)})")
        _utf8(text, f"{where}[{i}]")
        if len(text) > limits.max_text_chars:
            raise RequestError(422, f"{where}[{i}] has {len(text):,} characters; the limit is "
                                    f"{limits.max_text_chars:,}")
        if not text.strip():
            raise RequestError(422, f"{where}[{i}] is empty")
    return list(texts)


def _top_k(value: Any, where: str) -> int | None:
    """None: the model's own choice (one label; a multi-label model's labels at or above their thresholds)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RequestError(400, f"{where} must be a whole number of at least 1 (got {json.dumps(value)[:40]})")
    return value


# ---------------------------------------------------------------- POST /predict


@dataclass(frozen=True)
class PredictBody:
    """A /predict request: texts, how many labels per text, and which model (None: the default)."""

    texts: list[str]
    top_k: int | None = None
    model: str | None = None
    explain: bool = False  # each record also gets its `explanations` (textrnn.inference.records)


def parse_predict(body: bytes, limits: Limits) -> PredictBody:
    data = parse_json(body)
    unknown = [key for key in data if key not in PREDICT_KEYS]
    if unknown:
        raise RequestError(400, f"unknown field {unknown[0]!r} (a /predict body has: {', '.join(PREDICT_KEYS)})")
    if ("text" in data) == ("texts" in data):
        raise RequestError(400, "give either \"text\" (one string) or \"texts\" (a list of strings)")
    if "text" in data:
        texts = check_texts([data["text"]], "text", limits)
    elif not isinstance(data["texts"], list):
        raise RequestError(400, f"texts must be a list of strings (got {_type_name(data['texts'])})")
    else:
        texts = check_texts(data["texts"], "texts", limits)
    model = data.get("model")
    if model is not None and not isinstance(model, str):
        raise RequestError(400, f"model must be a string (got {_type_name(model)})")
    return PredictBody(texts, _top_k(data.get("top_k"), "top_k"), model, _flag(data, "explain", "the body"))


def predict_response(model: str, predictions: Sequence[Any], top_k: int | None, multi: bool = False,
                     explained: bool = False) -> bytes:
    """`predictions` are Predictions, or TextExplanations when `explained` (records with explanations)."""
    make = explained_record if explained else prediction_record
    return dumps({"model": model, "predictions": [make(p, top_k, multi) for p in predictions]})


# ---------------------------------------------------------------- Open Inference Protocol (V2)


@dataclass(frozen=True)
class InferBody:
    """A V2 inference request: its id (echoed), texts, top_k, and the outputs wanted as
    (name, binary) in order."""

    texts: list[str]
    id: str | None = None
    top_k: int | None = None
    outputs: tuple[tuple[str, bool], ...] = field(default_factory=lambda: tuple((o, False) for o in OUTPUTS))


def _shape(value: Any, where: str) -> list[int]:
    if not isinstance(value, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                              for d in value):
        raise RequestError(400, f"{where} must be a list of whole numbers (got {json.dumps(value)[:60]})")
    if len(value) == 1 or (len(value) == 2 and value[1] == 1):
        return value
    raise RequestError(400, f"{where} must be [N] or [N, 1] for N texts (got {json.dumps(value)[:60]})")


def decode_bytes_tensor(buf: bytes, count: int, where: str) -> list[str]:
    """BYTES elements in the binary extension's layout: each a 4-byte little-endian length, then
    that many bytes (UTF-8 text here)."""
    out, i = [], 0
    while i < len(buf):
        if len(out) == count:
            raise RequestError(400, f"{where} holds more than the {count} elements its shape says")
        if i + 4 > len(buf):
            raise RequestError(400, f"{where} ends inside an element's length")
        n = int.from_bytes(buf[i: i + 4], "little")
        i += 4
        if i + n > len(buf):
            raise RequestError(400, f"{where} element {len(out)} is {n} bytes long but only {len(buf) - i} remain")
        try:
            out.append(buf[i: i + n].decode("utf-8"))
        except UnicodeDecodeError:
            raise RequestError(400, f"{where} element {len(out)} is not UTF-8 text") from None
        i += n
    return out


def encode_bytes_tensor(values: Sequence[str]) -> bytes:
    parts = []
    for value in values:
        raw = value.encode("utf-8")
        parts += [len(raw).to_bytes(4, "little"), raw]
    return b"".join(parts)


def _parameters(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RequestError(400, f"{where} must be an object (got {_type_name(value)})")
    return value


def _flag(params: dict[str, Any], key: str, where: str) -> bool:
    value = params.get(key, False)
    if not isinstance(value, bool):
        raise RequestError(400, f"{where}.{key} must be true or false (got {json.dumps(value)[:40]})")
    return value


def parse_infer(body: bytes, header_length: str | None, limits: Limits) -> InferBody:
    """A V2 inference request (JSON, or JSON then binary data when `header_length` is given)."""
    binary = b""
    if header_length is not None:
        try:
            n = int(header_length)
        except ValueError:
            n = -1
        if not 0 <= n <= len(body):
            raise RequestError(400, f"Inference-Header-Content-Length must be a byte count of at most the "
                                    f"body's {len(body)} (got {header_length[:40]!r})")
        body, binary = body[:n], body[n:]
    data = parse_json(body)
    request_id = data.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise RequestError(400, f"id must be a string (got {_type_name(request_id)})")
    params = _parameters(data.get("parameters"), "parameters")
    top_k = _top_k(params.get("top_k"), "parameters.top_k")
    all_binary = _flag(params, "binary_data_output", "parameters")
    explain = _flag(params, "explain", "parameters")

    inputs = data.get("inputs")
    if not isinstance(inputs, list):
        raise RequestError(400, "inputs must be a list holding one input, 'text' (BYTES)"
                           if inputs is None else f"inputs must be a list (got {_type_name(inputs)})")
    names = [i.get("name") if isinstance(i, dict) else None for i in inputs]
    if len(inputs) != 1:
        raise RequestError(400, f"inputs must hold exactly one input, {INPUT!r} (got {len(inputs)}: "
                                f"{', '.join(repr(n) for n in names[:5])})")
    tensor = inputs[0]
    if not isinstance(tensor, dict):
        raise RequestError(400, f"inputs[0] must be an object (got {_type_name(tensor)})")
    if tensor.get("name") != INPUT:
        raise RequestError(400, f"inputs[0].name must be {INPUT!r} (got {json.dumps(tensor.get('name'))[:60]})")
    if tensor.get("datatype") != "BYTES":
        raise RequestError(400, f"inputs[0].datatype must be \"BYTES\" (got {json.dumps(tensor.get('datatype'))[:40]})")
    shape = _shape(tensor.get("shape"), "inputs[0].shape")
    count = shape[0]
    if count > limits.max_texts:
        raise RequestError(422, f"inputs[0] holds {count:,} texts; the limit is {limits.max_texts:,} per request")
    tensor_params = _parameters(tensor.get("parameters"), "inputs[0].parameters")
    if "binary_data_size" in tensor_params:
        size = tensor_params["binary_data_size"]
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= len(binary):
            raise RequestError(400, f"inputs[0].parameters.binary_data_size must be at most the {len(binary)} "
                                    f"bytes after the JSON header (got {json.dumps(size)[:40]})")
        if size != len(binary):
            raise RequestError(400, f"the body holds {len(binary) - size} bytes after the inputs' binary data")
        values: list[Any] = decode_bytes_tensor(binary, count, "inputs[0] binary data")
    else:
        if binary:
            raise RequestError(400, "the body has binary data but inputs[0].parameters has no binary_data_size")
        values = tensor.get("data")
        if not isinstance(values, list):
            raise RequestError(400, f"inputs[0].data must be a list of strings (got {_type_name(values)})")
        if len(shape) == 2 and all(isinstance(v, list) and len(v) == 1 for v in values):
            values = [v[0] for v in values]  # the natural [[a], [b]] layout of an [N, 1] tensor
    if len(values) != count:
        raise RequestError(400, f"inputs[0].shape {json.dumps(shape)} says {count} texts but its data holds "
                                f"{len(values)}")
    texts = check_texts(values, "inputs[0].data", limits)

    outputs = data.get("outputs")
    if outputs is None:
        wanted = tuple((name, all_binary) for name in (*OUTPUTS, *((EXPLANATION,) if explain else ())))
    else:
        if not isinstance(outputs, list):
            raise RequestError(400, f"outputs must be a list (got {_type_name(outputs)})")
        chosen = []
        for i, out in enumerate(outputs):
            if not isinstance(out, dict):
                raise RequestError(400, f"outputs[{i}] must be an object (got {_type_name(out)})")
            name = out.get("name")
            if name not in (*OUTPUTS, EXPLANATION):
                raise RequestError(400, f"outputs[{i}].name must be one of {', '.join((*OUTPUTS, EXPLANATION))} "
                                        f"(got {json.dumps(name)[:60]})")
            out_params = _parameters(out.get("parameters"), f"outputs[{i}].parameters")
            if out_params.get("classification"):
                raise RequestError(400, f"outputs[{i}].parameters.classification is not supported: ask for "
                                        "the 'top' output with the request parameter top_k")
            binary_out = _flag(out_params, "binary_data", f"outputs[{i}].parameters") \
                if "binary_data" in out_params else all_binary
            chosen.append((name, binary_out))
        if explain and all(name != EXPLANATION for name, _ in chosen):
            chosen.append((EXPLANATION, all_binary))
        wanted = tuple(chosen)
    return InferBody(texts, request_id, top_k, wanted)


def infer_response(model: str, request: InferBody, predictions: Sequence[Any], probs: np.ndarray,
                   explained: Sequence[Any] = ()) -> tuple[bytes, dict[str, str]]:
    """The V2 response body and headers: outputs in the order asked, JSON or binary; `explanation`
    (when asked) holds each text's explanations as a JSON list (`predict --explain --json`'s)."""
    n = len(predictions)
    outputs, blobs = [], []
    for name, binary in request.outputs:
        if name == "probabilities":
            array = np.ascontiguousarray(probs, dtype="<f4")
            entry: dict[str, Any] = {"name": name, "datatype": "FP32", "shape": list(array.shape)}
            raw = array.tobytes() if binary else None
            values: Any = None if binary else array.ravel().tolist()
        else:
            if name == "label":
                strings = [p.top[0][0] if p.top else "" for p in predictions]
            elif name == EXPLANATION:
                strings = [json.dumps([explanation_record(e) for e in item.explanations], ensure_ascii=False)
                           for item in explained]
            else:
                strings = top_strings(predictions)
            entry = {"name": name, "datatype": "BYTES", "shape": [n]}
            raw = encode_bytes_tensor(strings) if binary else None
            values = None if binary else strings
        if raw is not None:
            entry["parameters"] = {"binary_data_size": len(raw)}
            blobs.append(raw)
        else:
            entry["data"] = values
        outputs.append(entry)
    response: dict[str, Any] = {"model_name": model}
    if request.id is not None:
        response["id"] = request.id
    response["outputs"] = outputs
    header = dumps(response)
    if not blobs:
        return header, {"content-type": "application/json"}
    return header + b"".join(blobs), {"content-type": "application/octet-stream",
                                      "inference-header-content-length": str(len(header))}


def server_metadata() -> dict[str, Any]:
    return {"name": "textrnn", "version": __version__, "extensions": list(EXTENSIONS)}


def model_metadata(name: str, labels: Sequence[str], parameters: dict[str, Any]) -> dict[str, Any]:
    """The V2 model metadata; parameters (strings, numbers, booleans, as the protocol allows) carry
    the task, the labels (a JSON list in a string: the columns of `probabilities`) and more."""
    return {
        "name": name,
        "platform": "textrnn",
        "inputs": [{"name": INPUT, "datatype": "BYTES", "shape": [-1]}],
        "outputs": [{"name": "label", "datatype": "BYTES", "shape": [-1]},
                    {"name": "probabilities", "datatype": "FP32", "shape": [-1, len(labels)]},
                    {"name": "top", "datatype": "BYTES", "shape": [-1]}],
        "parameters": {**parameters, "labels": json.dumps(list(labels), ensure_ascii=False)},
    }
