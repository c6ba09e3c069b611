"""Checks: find what is wrong with labelled data before it costs accuracy (`textrnn check`): shape,
duplicates and label conflicts, leakage between files, and likely mislabelled rows.

The names below load their module when first used, so that textrnn.checks.request (the command's
options) stays a light import."""

from __future__ import annotations

from importlib import import_module
from typing import Any

_HOMES = {"CheckOptions": "request", "CheckRequest": "request", "Findings": "findings", "Problem": "findings",
          "Section": "findings", "check_files": "run", "quick_warnings": "run", "run_check": "run",
          "write_outputs": "output"}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'textrnn.checks' has no attribute {name!r}")
    return getattr(import_module(f"textrnn.checks.{_HOMES[name]}"), name)
