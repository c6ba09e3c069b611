"""Text for a terminal: control characters escaped, and cut or padded to a number of cells."""

from __future__ import annotations

import unicodedata


def cell_width(ch: str) -> int:
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 0 if unicodedata.combining(ch) else 1


# bidirectional overrides and isolates reorder what a terminal shows ("Trojan Source")
_BIDI = set(range(0x202A, 0x202F)) | set(range(0x2066, 0x206A))
_JOINERS = "\u200c\u200d"  # zero-width (non-)joiners: part of emoji and of some scripts' words


def printable(text: str) -> str:
    """`text` with control characters written as escapes (\\x1b, \\u202e): texts are untrusted input,
    and raw escape sequences in them would drive the user's terminal."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch == " " else
                   (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
                   if unicodedata.category(ch) == "Cc" or ord(ch) in _BIDI
                   or unicodedata.category(ch) == "Cf" and ch not in _JOINERS else ch
                   for ch in text)


def fit(text: str, width: int) -> str:
    """`text` on one line, control characters escaped, cut to `width` terminal cells (ending with
    '…' when cut), then padded to `width`."""
    text = printable(" ".join(text.split()))
    used, out = 0, []
    for ch in text:
        w = cell_width(ch)
        if used + w > width:
            while out and used > width - 1:
                used -= cell_width(out.pop())
            out.append("…")
            used += 1
            break
        out.append(ch)
        used += w
    return "".join(out) + " " * (width - used)
