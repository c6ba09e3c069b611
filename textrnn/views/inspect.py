"""The `textrnn inspect` screen: one text token by token (the prediction so far, the hidden state),
and inspect.png."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.color import Color
from rich.console import Group, RenderableType
from rich.style import Style
from rich.table import Table
from rich.text import Text

from textrnn.text import printable
from textrnn.views.common import PLAIN, bar, lerp

SPARK = "▁▂▃▄▅▆▇█"


def _diverging(v: float) -> Color:
    """Blue for negative, grey near zero, red for positive; v in [-1, 1]."""
    v = max(-1.0, min(1.0, v))
    return lerp((150, 150, 150), (230, 60, 50), v) if v >= 0 else lerp((150, 150, 150), (60, 120, 240), -v)


def top_units(states: Any, k: int) -> list[int]:
    """Indices of the k units whose value changes most over the tokens, in unit order."""
    var = states.var(axis=0) if len(states) > 1 else abs(states[0])
    order = sorted(range(states.shape[1]), key=lambda u: (-float(var[u]), u))
    return sorted(order[:k])


def inspection_table(insp: Any, width: int = 100, max_units: int | None = None) -> Table:
    """Tokens as rows: prediction after reading up to the token, and a strip of hidden units.

    Each unit is one character whose height (▁ low .. █ high) and colour (blue negative, red
    positive) show its value, so the strip reads without colour too.
    """
    final_label, _ = insp.final
    final_j = insp.labels.index(final_label)
    label_w = min(14, max(len(lab) for lab in insp.labels))
    tok_w = min(16, max(5, max(len(s) + (6 if u else 0) for s, u in zip(insp.surfaces, insp.unknown, strict=True))))
    used = 3 + tok_w + max(8, label_w + 2) + 4 + 11 + 6 * 2 + 2  # every column but the strip, with padding
    n_units = insp.states.shape[1]
    k = max(4, min(n_units, width - used - 2, max_units or 64))  # 1 more for the direction bar
    units = top_units(insp.states, k)
    scale = float(abs(insp.states).max()) or 1.0
    h = insp.hidden_size
    where = f"{len(units)} of {n_units} hidden units (most varying)"
    if insp.directions == 2:
        fwd = sum(u < h for u in units)
        where += f": {fwd} forward | {len(units) - fwd} backward"
    table = Table(**PLAIN, caption=where + "; ▁ low … █ high", caption_justify="left", padding=(0, 1))
    table.add_column("#", justify="right", style="dim")
    table.add_column("token", no_wrap=True, overflow="ellipsis", max_width=tok_w)
    label_col = max(8, label_w + 2)
    table.add_column("reads as", no_wrap=True, overflow="ellipsis", min_width=label_col, max_width=label_col)
    table.add_column("p", justify="right", min_width=4)
    table.add_column(f"p({final_label})", no_wrap=True, overflow="ellipsis", min_width=11, max_width=11)
    table.add_column("hidden state", no_wrap=True, overflow="crop")
    prev = None
    for i, (tok, surface, unk) in enumerate(zip(insp.tokens, insp.surfaces, insp.unknown, strict=True)):
        j = int(insp.probs[i].argmax())
        reads = ", ".join(insp.chosen[i]) if insp.chosen is not None else insp.labels[j]
        changed = prev is not None and j != prev
        prev = j
        token = Text(f"{printable(surface)} [UNK]", style="red italic") if unk else Text(printable(tok))
        label = Text(("→ " if changed else "  ") + reads, style="bold yellow" if changed else "")
        p_final = float(insp.probs[i, final_j])
        strip = Text()
        split = insp.directions == 2 and 0 < sum(u < h for u in units) < len(units)
        for u in units:
            if split and u >= h and (units.index(u) == 0 or units[units.index(u) - 1] < h):
                strip.append("|", style="dim")
            v = float(insp.states[i, u]) / scale
            strip.append(SPARK[min(7, int((v + 1) / 2 * 8))], style=Style(color=_diverging(v)))
        table.add_row(str(i + 1), token, label, f"{insp.probs[i, j]:.2f}",
                      Text(bar(p_final, 6) + f" {p_final:.2f}", style="green" if j == final_j else "yellow"), strip)
    return table


def render_inspection(insp: Any, width: int = 100, max_units: int | None = None) -> RenderableType:
    """The `textrnn inspect` screen: header, explanation, the token table and the verdict."""
    label, p = insp.final
    unknown = sum(insp.unknown)
    head = Text.assemble(("Model ", "bold"), insp.model, ("   tokens ", "bold"), str(len(insp.tokens)),
                         (f" ({unknown} unknown)" if unknown else "", "red"),
                         (" - truncated to the model's max length" if insp.truncated else "", "yellow"))
    note = Text("reads as: the prediction on the text cut after that token (the whole model, both directions, "
                "run on the prefix). hidden state: from the full text.", style="dim")
    changes = sum(1 for a, b in zip(insp.probs[:-1].argmax(1), insp.probs[1:].argmax(1), strict=True) if a != b)
    verdict = Text.assemble(("Prediction: ", "bold"), (label, "bold green"), f"  {p:.2%}",
                            (f"   (changed its mind {changes} time{'s' if changes != 1 else ''}, marked →)"
                             if changes else "", "dim"))
    return Group(head, note, Text(""), inspection_table(insp, width, max_units), Text(""), verdict)


def save_inspection_png(insp: Any, out: Path) -> Path:
    """inspect.png: all hidden units over the tokens (heatmap) and class probabilities per prefix."""
    import numpy as np

    from textrnn.views.pictures import out_dir, pyplot, save

    plt = pyplot()
    out = out_dir(Path(out))
    n, units = insp.states.shape
    names = [f"{s}?" if u else t for t, s, u in zip(insp.tokens, insp.surfaces, insp.unknown, strict=True)]
    fig_w = min(40.0, max(7.0, 0.35 * n + 3))
    fig, (ax, ax_p) = plt.subplots(2, 1, figsize=(fig_w, 9), sharex=True,
                                   gridspec_kw={"height_ratios": [3, 1.3]})
    scale = float(np.abs(insp.states).max()) or 1.0
    im = ax.imshow(insp.states.T, aspect="auto", cmap="RdBu_r", vmin=-scale, vmax=scale, interpolation="nearest")
    fig.colorbar(im, ax=[ax, ax_p], fraction=0.03, pad=0.02, label="hidden state")
    where = ""
    if insp.directions == 2:
        ax.axhline(insp.hidden_size - 0.5, color="black", linewidth=1)
        where = f": 0-{insp.hidden_size - 1} forward, {insp.hidden_size}-{units - 1} backward"
    ax.set_ylabel(f"unit{where}")
    label, p = insp.final
    ax.set_title(f"{insp.model}: prediction {label} ({p:.1%}); hidden states of the full text")
    top = np.argsort(-insp.probs.max(axis=0))[:10]
    for j in sorted(top):
        ax_p.plot(range(n), insp.probs[:, j], marker="o" if n <= 60 else None, label=insp.labels[j])
    ax_p.set_ylim(0, 1)
    ax_p.set_ylabel("p after token")
    ax_p.grid(alpha=0.3)
    ax_p.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=min(len(top), 5), frameon=False)
    step = max(1, n // 80)
    ax_p.set_xticks(range(0, n, step), names[::step], rotation=90, fontsize=8 if n > 30 else 10)
    for i, unknown in enumerate(insp.unknown):
        if unknown and i % step == 0:
            ax_p.get_xticklabels()[i // step].set_color("red")
    return save(fig, out / "inspect.png")
