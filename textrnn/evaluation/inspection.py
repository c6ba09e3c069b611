"""Evaluation [torch, imported lazily]: what the model reads, token by token.

For one text: the tokens (unknown ones flagged), the recurrent layer's hidden state at each token,
and the class probabilities after reading up to each token.

Why PyTorch and not ONNX: the served ONNX graph outputs logits only. Hidden states would need a
second output (or a second graph) in every model folder, which changes what `predict` loads and
what the int8 and parity checks cover, for a diagnostic few people run. The PyTorch weights
(model.safetensors, read with model.onnx's) are in every model folder, so `inspect` rebuilds the
model from them and pays torch's start-up (about 2 s) only when used. The module itself imports no torch.

"After reading up to token i" means: the whole model (both directions, pooling, classifier) run on
the text cut after token i, as if the text ended there. For a one-directional model with `last`
pooling this equals reading the forward state at token i; for a bidirectional model the backward
direction also reads only that prefix, so the curve shows how the verdict grows with the text,
not a view inside the full-text run. The hidden-state heatmap is from the full-text run: columns
0..H-1 are the forward direction, H..2H-1 the backward one (top layer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from textrnn.errors import DataError

if TYPE_CHECKING:  # the folder is given; evaluation sits below the model folder
    from textrnn.folder import ModelFolder


@dataclass(frozen=True)
class Inspection:
    """Per-token view of one text: tokens, hidden states (tokens, units), prefix probabilities (tokens, classes)."""

    model: str
    text: str
    tokens: list[str]
    surfaces: list[str]  # the stretch of the original text each token came from
    unknown: list[bool]
    labels: list[str]
    probs: np.ndarray  # (tokens, classes), the task's probabilities of the model on tokens[: i + 1]
    states: np.ndarray  # (tokens, directions * hidden), top recurrent layer on the whole text
    directions: int
    hidden_size: int
    truncated: bool
    chosen: list[tuple[str, ...]] | None = None  # multi-label: the labels predicted after each token

    @property
    def final(self) -> tuple[str, float]:
        j = int(self.probs[-1].argmax())
        return self.labels[j], float(self.probs[-1, j])

    def to_json_chosen(self) -> list | None:
        """Multi-label: the labels predicted after each token (None for single-label)."""
        return [list(c) for c in self.chosen] if self.chosen is not None else None

    def to_dict(self) -> dict:
        label, p = self.final
        return {"model": self.model, "text": self.text, "label": label, "probability": round(p, 6),
                "labels": self.labels, "truncated": self.truncated, "directions": self.directions,
                "predicted_after_each_token": self.to_json_chosen(),
                "hidden_size": self.hidden_size,
                "tokens": [{"token": t, "text": s, "unknown": u,
                            "probabilities": [round(float(x), 6) for x in pr],
                            "state": [round(float(x), 4) for x in st]}
                           for t, s, u, pr, st in zip(self.tokens, self.surfaces, self.unknown, self.probs,
                                                      self.states, strict=True)]}


def inspect_text(folder: ModelFolder, text: str) -> Inspection:
    """Tokens, hidden states and prefix probabilities of `text` under a model's PyTorch weights."""
    import torch

    from textrnn.tokenizer import UNK_ID

    if not text.strip():
        raise DataError("no text to inspect: pass a non-empty TEXT")
    model = folder.torch_model()
    tokenizer = folder.tokenizer
    labels = list(folder.labels)

    enc = tokenizer.encode(text, add_special_tokens=False)
    if not enc.ids:
        raise DataError("the text has no tokens (only spaces or characters the tokenizer drops)")
    ids = np.asarray(enc.ids, dtype=np.int64)
    n = len(ids)
    prefixes = np.zeros((n, n), dtype=np.int64)  # row i: tokens 0..i, right-padded
    for i in range(n):
        prefixes[i, : i + 1] = ids[: i + 1]
    with torch.no_grad():
        logits = torch.cat([model(torch.from_numpy(prefixes[i: i + 64])) for i in range(0, n, 64)])
        probs = folder.task.probabilities(logits.float().numpy())  # (n, classes)
        out, _, _ = model.encode(torch.from_numpy(ids[None]))  # (1, n, dirs * hidden)
    return Inspection(
        model=folder.name, text=text, tokens=list(enc.tokens),
        surfaces=[text[a:b] for a, b in enc.offsets], unknown=[int(i) == UNK_ID for i in ids],
        labels=labels, probs=probs, states=out[0].numpy(), directions=model.directions,
        chosen=[tuple(lab for lab, _ in p.top) for p in folder.task.decode([""] * n, probs)]
        if folder.task.kind == "multi_label" else None,
        hidden_size=model.config.hidden_size, truncated=bool(enc.overflowing),
    )
