"""Checks: find what is wrong with labelled data before it costs accuracy (`textrnn check`): shape,
duplicates and label conflicts, leakage between files, and likely mislabelled rows."""

from textrnn.checks.findings import Findings, Problem, Section
from textrnn.checks.output import write_outputs
from textrnn.checks.run import CheckOptions, check_files, quick_warnings

__all__ = ["CheckOptions", "Findings", "Problem", "Section", "check_files", "quick_warnings", "write_outputs"]
