"""Pieces every screen uses: bars, colours, titles, sections, sizes, dates, terminal charts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich import box
from rich.color import Color
from rich.columns import Columns
from rich.console import RenderableType
from rich.padding import Padding
from rich.text import Text

from textrnn.config import Cell, ModelConfig

WIDE = 120  # from this width, small tables sit side by side
SPLIT_TITLES = {"val": "Validation", "test": "Test"}
BLOCKS = " ▏▎▍▌▋▊▉█"
PLAIN: dict[str, Any] = {"box": box.SIMPLE_HEAD, "show_edge": False}  # header rule only


def bar(value: float, width: int = 10) -> str:
    """A horizontal bar of `value` in [0, 1], in eighths of a character."""
    eighths = round(max(0.0, min(1.0, value)) * width * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (BLOCKS[part] if part else "")).ljust(width)


def title(text: str) -> Text:
    return Text(text, style="bold")


def section(name: str) -> RenderableType:
    return Padding(Text(f"━━ {name} ", style="bold magenta"), (1, 0, 0, 0))


def side_by_side(parts: list[RenderableType | None], width: int) -> list[RenderableType]:
    parts = [p for p in parts if p is not None]
    if width >= WIDE and len(parts) > 1:
        return [Columns(parts, padding=(0, 4))]
    return parts


def describe_cell(model: ModelConfig) -> str:
    """'biLSTM 2x128' from the model settings."""
    name = {Cell.rnn: "RNN", Cell.lstm: "LSTM", Cell.gru: "GRU"}[model.cell]
    return f"{'bi' if model.bidirectional else ''}{name} {model.layers}x{model.hidden_size}"


def local_date(created: str) -> str:
    try:
        return datetime.fromisoformat(created).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return "?"


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable: the loop returns at GB")


def lerp(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> Color:
    t = max(0.0, min(1.0, t))
    r, g, bl = (round(x + (y - x) * t) for x, y in zip(a, b, strict=True))
    return Color.from_rgb(r, g, bl)


def line_chart(series: list[tuple[str, list[float], list[float], str]], name: str, width: int, height: int,
               color: bool, best: int | None = None) -> Text:
    """One plotext line chart over epochs as rich Text (ANSI parsed, or plain when colour is off)."""
    import plotext as plt

    plt.clear_figure()
    plt.limit_size(False, False)  # plotext otherwise caps the width at the (unknown) terminal size
    plt.plotsize(width, height)
    plt.theme("pro" if color else "clear")  # "pro" draws no background, so it suits dark and light terminals
    xs = sorted({x for _, xv, _, _ in series for x in xv})
    no_colour_markers = ["braille", "·", "+", "x", "o", "*", "=", "#"]  # tell lines apart without colour
    for i, (label, xv, yv, col) in enumerate(series):
        plt.plot(xv, yv, label=label, marker="braille" if color else no_colour_markers[i % len(no_colour_markers)],
                 color=col if color else None)
    if best:
        plt.vline(best, "gray" if color else None)
    plt.title(f"{name}   (| best epoch {best})" if best else name)
    plt.xlabel("epoch")
    if xs:  # whole epochs only
        plt.xticks(xs if len(xs) <= 12 else sorted({round(xs[0] + (xs[-1] - xs[0]) * k / 5) for k in range(6)}))
    text = plt.build()
    plt.clear_figure()
    parsed = Text.from_ansi(text)
    return parsed if color else Text(parsed.plain)
