"""Export stage, int8 (no torch): model.onnx -> model.int8.onnx with ONNX Runtime dynamic quantization.

Kept only where it pays and does not hurt:
- the cell must be an LSTM: ONNX Runtime has a fast int8 kernel (DynamicQuantizeLSTM) for it; it has
  none for GRU or the simple RNN, whose int8 models run the recurrence in fp32 and gain nothing;
- the task's validation score (accuracy for single-label; the model's own validation set, rebuilt
  from its metadata) may drop by at most `max_drop` points, else the int8 file is not written.
The outcome, kept or not and why, is recorded in the model folder (Metadata.int8). `export_model`
does a `textrnn export` request (textrnn.export.request): this, or model.onnx again from the weights.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from textrnn.config import Cell
from textrnn.data import Dataset
from textrnn.errors import ModelFolderError
from textrnn.export.request import MAX_DROP, ExportRequest
from textrnn.folder import ModelFolder
from textrnn.folder.records import Int8Info
from textrnn.folder.store import INT8_FILE, ONNX_FILE

FAST_INT8_CELLS = (Cell.lstm,)


def decide(fp32_score: float, int8_score: float, max_drop: float = MAX_DROP) -> tuple[bool, float]:
    """Keep int8 when the score falls by at most `max_drop` points; returns (keep, drop in points)."""
    drop = round((fp32_score - int8_score) * 100, 4)
    return drop <= max_drop, drop


def _score(folder: ModelFolder, onnx_path: Path, data: Dataset, precision: str) -> tuple[float, float]:
    """The task's score of one ONNX file of the folder on `data`, and the seconds it took."""
    from textrnn.inference.predictor import Predictor

    predictor = Predictor(folder, device="cpu", precision=precision, onnx_path=onnx_path)
    start = time.perf_counter()
    score = predictor.evaluate(data).score
    return score, time.perf_counter() - start


def quantize_file(src: Path, dst: Path) -> list[str]:
    """Dynamically quantize `src` (int8 weights, uint8 activations) to `dst`; return its op types."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from textrnn.folder.saving import writing

    logging.disable(logging.WARNING)  # "Please consider to run pre-processing" (not needed here)
    try:
        graph = onnx.load(str(src)).graph
        fp16 = {init.name for init in graph.initializer if init.data_type == onnx.TensorProto.FLOAT16}
        keep = [node.name for node in graph.node if node.op_type == "Gather" and node.input[0] in fp16]
        with writing(dst):  # a full disk is not a corrupt model; the fp16 embeddings stay as they are
            quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, nodes_to_exclude=keep)
    except ModelFolderError:
        raise
    except Exception as err:  # onnx and onnxruntime raise several types for a bad file
        reason = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
        try:
            onnx.load(str(src))
        except Exception:
            raise ModelFolderError(f"{src} is corrupt or not an ONNX model ({reason})") from err
        # a sound model.onnx: the quantizer's own files (written and read back) were cut short
        raise ModelFolderError(f"cannot write the int8 model {dst.with_name(INT8_FILE)}: quantizing failed "
                               f"({reason}); is the disk full?") from err
    finally:
        logging.disable(logging.NOTSET)
        # onnxruntime writes a shape-inferred copy beside `src` and removes it only when it can read it back
        src.with_name(f"{src.stem}-inferred{src.suffix}").unlink(missing_ok=True)
    return sorted({node.op_type for node in onnx.load(str(dst)).graph.node})


def quantize_model(folder: ModelFolder, data: Dataset | None = None, max_drop: float = MAX_DROP) -> Int8Info:
    """Write model.int8.onnx beside model.onnx when it is fast and accurate enough; record why not.

    `data` is the labelled set to compare on (default: the model's validation set, rebuilt from its
    metadata). An existing int8 file is removed when the new decision is not to keep one.
    """
    cell = folder.metadata.settings.model.cell
    metric = folder.task.metric.replace("_", "-")
    final = folder.path / INT8_FILE
    if cell not in FAST_INT8_CELLS:
        name = {Cell.gru: "GRU", Cell.rnn: "simple RNN"}.get(cell, str(cell))
        result = Int8Info("skipped", f"ONNX Runtime has no int8 {name} kernel (only DynamicQuantizeLSTM): "
                                     f"an int8 model would run the {name} in fp32 and gain nothing; kept fp32",
                          max_drop_points=max_drop)
    else:
        data = data if data is not None else folder.validation_data()
        tmp = folder.path / f".{INT8_FILE}.partial"
        try:
            ops = quantize_file(folder.path / ONNX_FILE, tmp)
            if "DynamicQuantizeLSTM" not in ops:
                result = Int8Info("refused", "quantization produced no DynamicQuantizeLSTM node (the LSTM "
                                             "would stay fp32); kept fp32", max_drop_points=max_drop)
            else:
                s32, t32 = _score(folder, folder.path / ONNX_FILE, data, "fp32")
                s8, t8 = _score(folder, tmp, data, "int8")
                keep, drop = decide(s32, s8, max_drop)
                numbers = (f"validation {metric} {s32:.2%} fp32 -> {s8:.2%} int8 "
                           f"({drop:+.2f} points drop, limit {max_drop:g})")
                reason = numbers if keep else f"{numbers}: refused, kept fp32"
                result = Int8Info("kept" if keep else "refused", reason, s32, s8, drop, max_drop,
                                  len(data), round(t32, 4), round(t8, 4))
                if keep:
                    tmp.replace(final)
        finally:
            tmp.unlink(missing_ok=True)
    if not result.kept:
        final.unlink(missing_ok=True)
    folder.update(folder.metadata.replace(int8=result))
    return result


@dataclass(frozen=True)
class Exported:
    """What `export_model` wrote: model.onnx with its parity against PyTorch, or the int8 decision."""

    path: Path
    parity: float | None = None
    int8: Int8Info | None = None


def export_model(request: ExportRequest, notice: Callable[[str], None] | None = None) -> Exported:
    """Do an ExportRequest: rewrite model.onnx from the PyTorch weights (needs torch; parity-checked;
    any int8 model removed), or with `int8` quantize model.onnx and keep the int8 model only when its
    validation score drops at most `max_drop` points (no torch)."""
    request.check()
    folder = ModelFolder.open(request.model)
    if not request.int8:
        from textrnn.export.onnx import reexport_model

        return Exported(folder.path / ONNX_FILE, parity=reexport_model(folder))
    if notice:
        notice("Quantizing and comparing scores...")
    data = folder.load_dataset(request.data) if request.data is not None else None
    result = quantize_model(folder, data, MAX_DROP if request.max_drop is None else request.max_drop)
    return Exported(folder.path / INT8_FILE, int8=result)
