"""Quantize stage (no torch): model.onnx -> model.int8.onnx with ONNX Runtime dynamic quantization.

Kept only where it pays and does not hurt:
- the cell must be an LSTM: ONNX Runtime has a fast int8 kernel (DynamicQuantizeLSTM) for it; it has
  none for GRU or the simple RNN, whose int8 models run the recurrence in fp32 and gain nothing;
- validation accuracy (the model's own validation set, rebuilt from its metadata) may drop by at
  most `max_drop` points, else the int8 file is not written.
The outcome, kept or not and why, is recorded in metadata.json under "int8".
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from textrnn import store
from textrnn.data import Dataset, validation_data
from textrnn.errors import ModelFolderError

MAX_DROP = 0.5  # accuracy points
FAST_INT8_CELLS = ("lstm",)


@dataclass(frozen=True)
class Int8Result:
    """What `quantize_model` decided, with the numbers behind it."""

    status: str  # kept | refused | skipped
    reason: str
    fp32_accuracy: float | None = None
    int8_accuracy: float | None = None
    drop_points: float | None = None
    max_drop_points: float = MAX_DROP
    val_rows: int | None = None
    fp32_seconds: float | None = None  # time to score the validation set, for information
    int8_seconds: float | None = None

    @property
    def kept(self) -> bool:
        return self.status == "kept"

    def to_dict(self) -> dict:
        return asdict(self)


def decide(fp32_accuracy: float, int8_accuracy: float, max_drop: float = MAX_DROP) -> tuple[bool, float]:
    """Keep int8 when accuracy falls by at most `max_drop` points; returns (keep, drop in points)."""
    drop = round((fp32_accuracy - int8_accuracy) * 100, 4)
    return drop <= max_drop, drop


def _accuracy(model_dir: Path, onnx_path: Path, data: Dataset, precision: str) -> tuple[float, float]:
    """Accuracy of one ONNX file of the folder on `data`, and the seconds it took to score it."""
    from textrnn.infer import Predictor

    predictor = Predictor(model_dir, device="cpu", precision=precision, onnx_path=onnx_path)
    start = time.perf_counter()
    accuracy = predictor.evaluate(data).accuracy
    return accuracy, time.perf_counter() - start


def quantize_file(src: Path, dst: Path) -> list[str]:
    """Dynamically quantize `src` (int8 weights, uint8 activations) to `dst`; return its op types."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.disable(logging.WARNING)  # "Please consider to run pre-processing" (not needed here)
    try:
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
    except Exception as err:  # onnx and onnxruntime raise several types for a bad file
        raise ModelFolderError(f"{src} is corrupt or not an ONNX model "
                               f"({str(err).splitlines()[0][:200] if str(err) else type(err).__name__})") from err
    finally:
        logging.disable(logging.NOTSET)
    return sorted({node.op_type for node in onnx.load(str(dst)).graph.node})


def quantize_model(model_dir: str | Path, data: Dataset | None = None,
                   max_drop: float = MAX_DROP) -> Int8Result:
    """Write model.int8.onnx beside model.onnx when it is fast and accurate enough; record why not.

    `data` is the labelled set to compare on (default: the model's validation set, rebuilt from
    metadata.json). An existing int8 file is removed when the new decision is not to keep one.
    """
    model_dir = store.resolve_model(model_dir)
    meta = store.read_metadata(model_dir)
    cell = meta["config"]["model"]["cell"]
    final = model_dir / store.INT8_FILE
    if cell not in FAST_INT8_CELLS:
        name = {"gru": "GRU", "rnn": "simple RNN"}.get(cell, cell)
        result = Int8Result("skipped", f"ONNX Runtime has no int8 {name} kernel (only DynamicQuantizeLSTM): "
                                       f"an int8 model would run the {name} in fp32 and gain nothing; kept fp32",
                            max_drop_points=max_drop)
    else:
        data = data if data is not None else validation_data(meta)
        tmp = model_dir / f".{store.INT8_FILE}.partial"
        try:
            ops = quantize_file(model_dir / store.ONNX_FILE, tmp)
            if "DynamicQuantizeLSTM" not in ops:
                result = Int8Result("refused", "quantization produced no DynamicQuantizeLSTM node (the LSTM "
                                               "would stay fp32); kept fp32", max_drop_points=max_drop)
            else:
                acc32, t32 = _accuracy(model_dir, model_dir / store.ONNX_FILE, data, "fp32")
                acc8, t8 = _accuracy(model_dir, tmp, data, "int8")
                keep, drop = decide(acc32, acc8, max_drop)
                numbers = (f"validation accuracy {acc32:.2%} fp32 -> {acc8:.2%} int8 "
                           f"({drop:+.2f} points drop, limit {max_drop:g})")
                reason = (numbers if keep else f"{numbers}: refused, kept fp32")
                result = Int8Result("kept" if keep else "refused", reason, acc32, acc8, drop, max_drop,
                                    len(data), round(t32, 4), round(t8, 4))
                if keep:
                    tmp.replace(final)
        finally:
            tmp.unlink(missing_ok=True)
    if not result.kept:
        final.unlink(missing_ok=True)
    meta["int8"] = result.to_dict()
    store.write_json(model_dir / store.METADATA_FILE, meta)
    return result
