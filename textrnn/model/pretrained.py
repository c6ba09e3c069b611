"""Model stage [torch]: fill a new classifier's layers from pretrained knowledge.

- word vectors (textrnn.data.vectors): each vocabulary word with a vector gets it; the others start
  random at the vectors' own scale (per-dimension mean and spread), [UNK] at the mean vector and
  [PAD] at zero (fastai's `match_embeds` does the same for new words);
- a pretrained encoder (`textrnn pretrain`): the embedding and every recurrent weight whose shape
  fits (all of them for one layer; the first layer of a stacked bidirectional model, whose upper
  layers read both directions at once).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from textrnn.tokenizer import PAD_ID, UNK_ID

Initializer = Callable[[nn.Module], list[str]]  # fills a member; returns the names of the filled parameters


@dataclass(frozen=True)
class VectorCoverage:
    """How much of the data the vectors cover."""

    types: int  # vocabulary words with a vector
    vocab: int  # vocabulary words (without [PAD] and [UNK])
    tokens: float  # share of training tokens whose word has a vector


def vector_initializer(vectors: dict[str, np.ndarray], vocab: dict[str, int], dim: int) -> Initializer:
    """Fills `embedding.weight` from `vectors` (word -> array) for the words of `vocab` (word -> id)."""
    matrix = np.stack(list(vectors.values())).astype(np.float32)
    mean, std = matrix.mean(axis=0), matrix.std(axis=0) + 1e-6
    found = [(i, vectors[w]) for w, i in vocab.items() if w in vectors and i not in (PAD_ID, UNK_ID)]

    def initialize(model: nn.Module) -> list[str]:
        weight = model.embedding.weight
        with torch.no_grad():
            # random rows at the vectors' scale (the torch generator is seeded per member)
            weight.copy_(torch.randn(weight.shape) * torch.from_numpy(std) + torch.from_numpy(mean))
            if found:
                rows = torch.tensor([i for i, _ in found])
                weight[rows] = torch.from_numpy(np.stack([v for _, v in found]))
            weight[UNK_ID] = torch.from_numpy(mean)
            weight[PAD_ID] = 0.0
        return ["embedding.weight"]

    return initialize


def coverage(vectors: dict[str, np.ndarray], vocab: dict[str, int], counts: dict[str, int]) -> VectorCoverage:
    words = [w for w, i in vocab.items() if i not in (PAD_ID, UNK_ID)]
    total = sum(counts.values()) or 1
    return VectorCoverage(sum(w in vectors for w in words), len(words),
                          sum(c for w, c in counts.items() if w in vectors) / total)


def encoder_initializer(state: dict[str, torch.Tensor]) -> Initializer:
    """Copies a language model's encoder weights (LanguageModel.encoder_state) into a member."""

    def initialize(model: nn.Module) -> list[str]:
        own = model.state_dict()
        fits = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        model.load_state_dict(fits, strict=False)
        return sorted(fits)

    return initialize
