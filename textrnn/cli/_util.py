"""Shared CLI plumbing: consoles (results on stdout, progress on stderr) and error handling."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from textrnn.errors import TextrnnError

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(fn: F) -> F:
    """Turn TextrnnError into one red line on stderr and exit 1; Ctrl-C into exit 130."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except TextrnnError as e:
            err.print(f"[bold red]error:[/] {escape(str(e))}", soft_wrap=True, markup=True, highlight=False)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err.print("[yellow]interrupted; nothing was saved[/]")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def terminal_width(default: int = 100) -> int:
    """$COLUMNS if set, else the terminal's width (rich falls back to 80 when not a terminal)."""
    try:
        return int(os.environ.get("COLUMNS", "")) or out.size.width
    except ValueError:
        return out.size.width or default
