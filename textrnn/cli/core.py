"""Shared CLI plumbing: consoles (results on stdout, progress on stderr), error handling, help layout.

Every error a user can cause ends in one `error:` line on stderr: exit code 1 for bad data, models
or option values (the library's checks and the option parser's alike: a bad choice, a number out of
range or not a number), 2 only for a command line that does not parse (an unknown option, a missing
argument or option value), as other command-line tools do. SIGTERM (what `timeout` and service
managers send) is handled like Ctrl-C, so a stopped training cleans up after itself.
"""

from __future__ import annotations

import functools
import os
import re
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from textrnn import interrupts
from textrnn.errors import TextrnnError

try:  # typer >= 0.2x carries its own copy of click
    from typer._click.exceptions import BadParameter, ClickException, MissingParameter, NoSuchOption
except ImportError:  # pragma: no cover - older typer on click
    from click.exceptions import BadParameter, ClickException, MissingParameter, NoSuchOption

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

F = TypeVar("F", bound=Callable[..., Any])
TEXT_COMMANDS = ("predict", "inspect")  # commands whose arguments are texts, which may start with '-'


def error_line(message: str) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True, markup=True, highlight=False)


def handle_errors(fn: F) -> F:
    """Turn TextrnnError into one red line on stderr and exit 1; Ctrl-C (or SIGTERM) into exit 130, also
    when the job kept what it had (its best epoch: the command's own lines say so)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        interrupts.reset()
        try:
            result = fn(*args, **kwargs)
        except TextrnnError as e:
            error_line(str(e))
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err.print(f"[yellow]{escape(interrupts.nothing_saved_line())}[/]", soft_wrap=True)
            raise typer.Exit(interrupts.EXIT_CODE) from None
        if interrupts.state.received is not None:  # stopped by a signal, but saved what it had
            line = interrupts.kept_line()
            if line:
                err.print(f"[yellow]{escape(line)}[/]", soft_wrap=True)
            raise typer.Exit(interrupts.EXIT_CODE)
        return result

    return wrapper  # type: ignore[return-value]


def terminal_width(default: int = 100) -> int:
    """$COLUMNS if set, else the terminal's width (rich falls back to 80 when not a terminal)."""
    try:
        return int(os.environ.get("COLUMNS", "")) or out.size.width
    except ValueError:
        return out.size.width or default


def _usage_message(e: ClickException) -> str:
    message = e.format_message()
    ctx = getattr(e, "ctx", None)
    command = ctx.command_path if ctx is not None else "textrnn"
    name = ctx.info_name if ctx is not None else None
    if isinstance(e, NoSuchOption) and name in TEXT_COMMANDS and not e.option_name.startswith("--"):
        return (f"{message}; a text that starts with '-' goes after --, as in: "
                f"{command} -- \"-5 stars, awful delivery\"")
    if ctx is not None:
        return f"{message} (see {command} --help)"
    return message


def exit_code(e: ClickException) -> int:
    """1 for a bad option or argument value (the rule for every bad value, whoever checks it), else
    click's own code (2: the command line does not parse)."""
    if isinstance(e, BadParameter) and not isinstance(e, MissingParameter):
        return 1
    return e.exit_code



class Group(TyperGroup):
    """The app: usage errors as one `error:` line (exit 2; 1 for a bad value), not click's boxed panel."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            try:
                signal.signal(signal.SIGTERM, interrupts.on_signal)  # as Ctrl-C
            except ValueError:  # not the main thread
                pass
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except ClickException as e:
            if type(e).__name__ == "NoArgsIsHelpError":  # `textrnn` alone: the help was printed
                sys.exit(e.exit_code)
            error_line(_usage_message(e))
            sys.exit(exit_code(e))
        except typer.Abort:
            err.print("aborted")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


class Command(TyperCommand):
    """A command whose --help lists options in sections (Data, Model, ...) in plain text that fits
    any width, where typer's rich panels cut option names at 80 columns."""

    @staticmethod
    def _argument_name(param: Any) -> str:
        return (param.metavar or param.name.upper()) + ("..." if param.nargs != 1 else "")

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        """`[OPTIONS] DATA` and `[TEXT...]` as click writes them (not typer's `{data}`)."""
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = self._argument_name(param)
                pieces.append(name if param.required else f"[{name}]")
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments, sections = [], {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append((self._argument_name(param), record[1]))
            else:
                if param.metavar:  # typer adds its type (`<path>`) even after a metavar
                    record = (re.sub(r" <[^<>]*>$", "", record[0]), record[1])
                sections.setdefault(getattr(param, "rich_help_panel", None) or "Options", []).append(record)
        if arguments:
            with formatter.section("Arguments"):
                formatter.write_dl(arguments)
        last = ("Output", "Options")  # after the stages (Data, Tokenizer, Model, Training)
        for name, records in sorted(sections.items(), key=lambda kv: last.index(kv[0]) + 1 if kv[0] in last else 0):
            with formatter.section(name):
                formatter.write_dl(records)
