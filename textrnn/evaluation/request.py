"""Evaluation stage: what `textrnn inspect` is asked (InspectRequest), each option declared once, as a
field (textrnn.options.setting) that the typer command builds its options from. A light import;
textrnn.evaluation.inspection's `inspect_text` reads the text under the model's weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textrnn.options import MODEL_HELP, setting


@dataclass(frozen=True)
class InspectRequest:
    """The text to read token by token, with which model, and how many hidden units the terminal shows."""

    text: str  # the TEXT argument
    model: Path | None = setting(None, MODEL_HELP, metavar="DIR")
    units: int | None = setting(None, "Hidden units to show in the terminal (default: as many as fit).",
                                metavar="N", min=1)
