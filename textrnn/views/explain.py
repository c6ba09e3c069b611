"""`textrnn predict --explain`: each text coloured by its tokens' weights (a terminal), the same as
`[+0.31]token` notation (no colour: a pipe, a file, NO_COLOR), or JSON records for tools.

A token's weight is its effect on the label's log-odds as deleting the tokens one after the other
measures it (see textrnn.inference.explain): green pushes towards the label, red away from it,
darker is stronger
(five shades, relative to the text's strongest token, so 256-colour terminals show them too).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TextIO

from rich.console import Console
from rich.text import Text

from textrnn.inference.explain import Explanation, TextExplanation
from textrnn.inference.records import explained_record

TOWARDS = ("#e5f5e0", "#c7e9c0", "#a1d99b", "#74c476", "#31a354")  # light to dark
AGAINST = ("#fee0d2", "#fcbba1", "#fc9272", "#fb6a4a", "#de2d26")
TOP = 4  # strongest tokens and linear n-grams listed under each text
LEGEND = ("weight = the token's effect on the label's log-odds, from deleting it (after the strongest one) "
          "and from it alone (+ towards the label, - against it); "
          "linear = the linear n-gram part's exact terms of its logit")


def shade(weight: float, strongest: float) -> str | None:
    """The background style of a token: its sign's colour, one of five shades of |weight| / strongest."""
    if strongest <= 0 or abs(weight) < 0.02 * strongest:
        return None
    level = min(4, int(abs(weight) / strongest * 5))
    colour = (TOWARDS if weight > 0 else AGAINST)[level]
    return f"black on {colour}" if level < 4 else f"bold white on {colour}"


def coloured(text: str, e: Explanation) -> Text:
    """The text itself, each token's characters on its shade."""
    out = Text(text)
    strongest = max((abs(t.weight) for t in e.tokens), default=0.0)
    for t in e.tokens:
        style = shade(t.weight, strongest)
        if style:
            out.stylize(style, t.start, t.end)
    return out


def marked(text: str, e: Explanation) -> str:
    """The text with `[+0.31]` before each token: its weight, readable without colour."""
    parts, at = [], 0
    for t in e.tokens:
        parts += [text[at: t.start], f"[{t.weight:+.2f}]", text[t.start: t.end]]
        at = t.end
    return "".join(parts) + text[at:]


def strongest_line(e: Explanation) -> str:
    """The strongest tokens, and the linear part's largest terms, with their numbers."""
    tokens = sorted(e.tokens, key=lambda t: -abs(t.weight))[:TOP]
    line = "strongest: " + ", ".join(f"{t.token} {t.weight:+.2f}" for t in tokens)
    if e.linear is not None:
        lin = e.linear
        grams = sorted(lin.ngrams, key=lambda g: -abs(g.weight))[:TOP]
        terms = ", ".join(f"{g.ngram!r} {g.weight:+.2f}" for g in grams) or "no n-gram it knows"
        line += f"\nlinear part (share {lin.share:.2f}): logit {lin.logit:+.2f} = bias {lin.bias:+.2f} + terms; {terms}"
    return line


def render_text(item: TextExplanation, color: bool) -> list[Text | str]:
    """One text's lines: per label explained, the label and probability, the text (coloured, or in
    [w]token notation), its strongest tokens and linear terms."""
    lines: list[Text | str] = []
    cut = "  (longer than the model reads: the rest is not explained)" if item.truncated else ""
    if not item.explanations:
        lines.append(f"(no label chosen) {item.text}")
    for e in item.explanations:
        head = f"{e.label} {e.probability:.3f}"
        if e.note:
            lines.append(f"{head}  {item.text}  ({e.note})")
            continue
        if color:
            lines.append(Text.assemble((head, "bold"), "  ", coloured(item.text, e), cut))
        else:
            lines.append(f"{head}  {marked(item.text, e)}{cut}")
        lines += ["  " + line for line in strongest_line(e).splitlines()]
    return lines


def legend(color: bool) -> Text | str:
    if not color:
        return f"# [w]token: {LEGEND}"
    out = Text("legend: ", style="dim")
    for colour in reversed(AGAINST):
        out.append("  ", style=f"on {colour}")
    out.append(" against  ")
    for colour in TOWARDS:
        out.append("  ", style=f"on {colour}")
    out.append(" towards the label; ")
    out.append(LEGEND, style="dim")
    return out


def write_explanations(chunks: Iterable[list[TextExplanation]], fmt: str, top_k: int | None, multi: bool,
                       stream: TextIO) -> int:
    """Write each chunk as it comes: JSON lines, or text (coloured on a terminal, with a legend first);
    returns how many texts were written."""
    n = 0
    console = Console(file=stream, highlight=False, soft_wrap=True, markup=False)
    color = console.is_terminal and not console.no_color
    for chunk in chunks:
        if fmt == "json":
            stream.write("".join(json.dumps(explained_record(item, top_k, multi), ensure_ascii=False) + "\n"
                                 for item in chunk))
            stream.flush()
        else:
            if n == 0:
                console.print(legend(color))
            for item in chunk:
                for line in render_text(item, color):
                    console.print(line)
        n += len(chunk)
    return n
