"""What every benchmark prints about the machine it ran on (imported by the scripts beside it)."""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo), or what the platform says where that is missing."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_flags() -> str:
    """The flags line of /proc/cpuinfo ('' where it is missing)."""
    try:
        return next((line for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
                     if line.startswith("flags")), "")
    except OSError:
        return ""
