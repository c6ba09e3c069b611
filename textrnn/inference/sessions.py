"""Inference stage: ONNX Runtime sessions on the CPU or CUDA, and how many threads. No torch."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import onnxruntime as ort

from textrnn.errors import DeviceError
from textrnn.options import Device

CPU, CUDA = "CPUExecutionProvider", "CUDAExecutionProvider"
DEVICES = tuple(d.value for d in Device)


def _cuda_driver_present() -> bool:
    import ctypes

    name = "nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1"
    try:
        ctypes.CDLL(name)
    except OSError:
        return False
    return True


def default_threads() -> int:
    """ONNX Runtime's own default: one intra-op thread per physical core this process may use."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return max(1, (os.cpu_count() or 2) // 2)
    cores = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add(((topology / "physical_package_id").read_text().strip(),
                       (topology / "core_id").read_text().strip()))
        except OSError:
            cores.add(("", str(cpu)))
    return max(1, len(cores))


def _session(path: Path, providers: list[str], threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    # set explicitly (never ORT's default) so the number reported is the number used
    options.intra_op_num_threads = threads
    if threads == 1:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=providers)


def session_threads(session: ort.InferenceSession) -> int:
    """Intra-op threads of a session made by `open_session`."""
    return int(session.get_session_options().intra_op_num_threads)


def open_session(path: Path, device: str = "auto", threads: int = 1) -> ort.InferenceSession:
    """An ONNX Runtime session on `device` (auto|cpu|cuda) with `threads` intra-op threads.

    CUDA is only attempted where onnxruntime has the provider and an NVIDIA driver is present, so
    CPU machines never see the provider's load-failure noise; `cuda` that cannot load is an error.
    """
    want_cuda = device in ("auto", "cuda") and CUDA in ort.get_available_providers()
    if want_cuda and _cuda_driver_present():
        if hasattr(ort, "preload_dlls"):  # CUDA/cuDNN from pip's nvidia-* packages, if installed
            try:
                ort.preload_dlls()
            except Exception:  # best effort; the session below tells the truth
                pass
        ort.set_default_logger_severity(4)  # a failed CUDA load is handled below, not printed
        try:
            session = _session(path, [CUDA, CPU], threads)
        finally:
            ort.set_default_logger_severity(2)
        if CUDA in session.get_providers():
            return session
        if device == "cuda":
            raise DeviceError("--device cuda: ONNX Runtime's CUDA provider could not load (CUDA 12 "
                              "and cuDNN 9 libraries are needed); use --device cpu")
        return _session(path, [CPU], threads)
    if device == "cuda":
        why = ("onnxruntime has no CUDA provider (install onnxruntime-gpu)"
               if CUDA not in ort.get_available_providers() else "no NVIDIA driver was found")
        raise DeviceError(f"--device cuda: {why}; use --device cpu")
    return _session(path, [CPU], threads)
