"""Model stage [torch]: the TF-IDF model (the "linear n-gram model" of `--linear`: a logistic regression
over TF-IDF features of the text's token n-grams) as a layer of the graph, and its mix with the network.

The TF-IDF model scores TF-IDF features of the token unigrams and hashed token bigrams (NBSVM-style:
Wang and Manning 2012; Mesnil et al. 2015 mixed such a model with recurrent ones and beat each
alone). It is fitted apart (textrnn.training.tfidf: `TfidfModel.fit` returns a `TfidfState`), then
lives in the same graph as the network: `Mixed` outputs the logits whose probabilities are the
network's and the TF-IDF model's pooled geometrically with weights (1 - alpha, alpha) (Task.pool;
folders saved before 2026-12-05: (1 - alpha) * network + alpha * TF-IDF model), so export, ONNX
Runtime, thresholds and everything after see one model. `compose` builds that graph, for training
(from the fitted state) and for loading a model folder (empty, filled by its weights). Not to be
confused with the network's own hashed-bigram bag (`--ngram-buckets`, textrnn.model.network), which is learnt
with the network.

Features, the same in numpy (training) and torch (the graph), over the content tokens (`keep`: not
punctuation, not a special token, not a single character of a word vocabulary, as scikit-learn's
TF-IDF tokens): key = token id for a unigram, and vocab_size + (left * vocab_size + right) mod
buckets for a bigram of two content tokens side by side (textrnn.data.tokens.bigram_keys, the one
bigram hash, which the network's bag uses with its own multiplier); `rows` maps a key to its feature
row (0: not a feature); a text's vector is (1 + ln count) x idf[row] per feature (scikit-learn's
sublinear_tf), L2-normalised. Folders saved before 2026-12-05 (LinearInfo.sublinear_tf False) keep
theirs: idf[row] summed per feature over its n-grams, divided by the square root of the sum of
idf[row] squared over its n-grams (the L2 norm for texts that repeat no n-gram).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from textrnn.data.tokens import bigram_keys
from textrnn.tokenizer import PAD_ID

if TYPE_CHECKING:
    from textrnn.folder.records import LinearInfo
    from textrnn.tasks import Task

BUCKET_SIZES = (1_021, 4_093, 16_381, 65_521, 262_139)  # primes: hashed bigram keys (training picks one by data size)


def tfidf_keys(ids: np.ndarray, vocab_size: int, buckets: int, keep: np.ndarray | None = None) -> np.ndarray:
    """One text's n-gram keys (its content tokens' ids, then its content bigrams' hashed keys), as the
    graph computes them; `keep`: which ids are content tokens (default: all)."""
    ids = np.asarray(ids, dtype=np.int64)
    kept = np.ones(len(ids), bool) if keep is None else np.asarray(keep, bool)[ids]
    pairs = kept[:-1] & kept[1:]
    return np.concatenate([ids[kept], bigram_keys(ids[:-1][pairs], ids[1:][pairs], vocab_size, buckets)])


@dataclass(frozen=True)
class TfidfState:
    """A fitted TF-IDF model (what `TfidfModel.fit` learns): which tokens count (`content`), the
    bigrams' hash buckets, the feature row of each n-gram key (0: not a feature), each row's idf
    (row 0 first: 0), and the logistic regression's weights (features, classes) and bias."""

    content: np.ndarray
    buckets: int
    key_rows: np.ndarray
    idf: np.ndarray
    weight: np.ndarray
    bias: np.ndarray
    sublinear: bool = False  # a feature's count weighs 1 + ln(count) (False: the count, folders saved before)

    @property
    def features(self) -> int:
        return len(self.idf) - 1


class TfidfLayer(nn.Module):
    """Right-padded token ids (batch, seq_len) -> logits (batch, classes) of the TF-IDF model.

    The weight table is sparse (textrnn.model.table: each row's `top_k` largest weights, their classes
    and fp16 values) or, in folders saved before, the dense fp32 `weight` (`top_k` None)."""

    def __init__(self, vocab_size: int, features: int, num_classes: int, buckets: int,
                 top_k: int | None = None, sublinear: bool = False) -> None:
        super().__init__()
        self.vocab_size, self.buckets, self.features, self.sublinear = vocab_size, buckets, features, sublinear
        self.register_buffer("keep", torch.ones(vocab_size, dtype=torch.bool))  # content tokens
        self.register_buffer("rows", torch.zeros(vocab_size + buckets, dtype=torch.int32))
        self.register_buffer("idf", torch.zeros(features + 1))  # row 0: not a feature, weighs nothing
        self.num_classes, self.compact = num_classes, top_k is not None
        if top_k is not None:
            col_type = torch.int16 if num_classes <= torch.iinfo(torch.int16).max else torch.int32
            self.register_buffer("cols", torch.zeros(features + 1, top_k, dtype=col_type))
            self.register_buffer("vals", torch.zeros(features + 1, top_k, dtype=torch.float16))
        else:
            self.weight = nn.Parameter(torch.zeros(features + 1, num_classes), requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(num_classes), requires_grad=False)

    @classmethod
    def fitted(cls, vocab_size: int, state: TfidfState, compact: bool = True) -> TfidfLayer:
        """The layer holding a fitted model, its weights stored sparse unless `compact` is False."""
        from textrnn.model.table import sparse

        weight, bias = state.weight, state.bias
        table = sparse(weight) if compact else None
        linear = cls(vocab_size, state.features, len(bias), state.buckets,
                     table.cols.shape[1] if table is not None else None, state.sublinear)
        values = [(linear.keep, state.content), (linear.rows, state.key_rows), (linear.idf, state.idf),
                  (linear.bias, bias)]
        if table is not None:
            values += [(linear.cols, table.cols), (linear.vals, table.vals)]
        else:
            values.append((linear.weight[1:], weight))
        with torch.no_grad():
            for tensor, value in values:
                tensor.copy_(torch.from_numpy(np.asarray(value)))
        return linear

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        valid = (input_ids != PAD_ID) & self.keep[input_ids]
        bigrams = bigram_keys(input_ids[:, :-1], input_ids[:, 1:], self.vocab_size, self.buckets)
        keys = torch.cat([input_ids, bigrams], dim=1)
        present = torch.cat([valid, valid[:, :-1] & valid[:, 1:]], dim=1)
        rows = self.rows[keys].long() * present.long()  # (batch, grams)
        idf = self.idf[rows]  # (batch, grams)
        if self.sublinear:  # each occurrence of a feature seen c times in the text carries (1 + ln c) / c of it
            n = input_ids.shape[1]  # a unigram's key never equals a bigram's: each block counts alone (half the work)
            count = torch.cat([(part.unsqueeze(2) == part.unsqueeze(1)).sum(dim=2)
                               for part in (rows[:, :n], rows[:, n:])], dim=1).float()  # (batch, grams)
            idf = idf * (1.0 + torch.log(count)) / count
            norm = (idf.square() * count).sum(dim=1, keepdim=True).sqrt().clamp(min=1e-6)
        else:
            norm = idf.square().sum(dim=1, keepdim=True).sqrt().clamp(min=1e-6)
        x = idf / norm  # (batch, grams): each occurrence's part of the TF-IDF vector
        if self.compact:  # each gram's kept weights, added into their classes
            parts = (self.vals[rows].float() * x.unsqueeze(2)).flatten(1)  # (batch, grams * top_k)
            classes = self.cols[rows].long().flatten(1)
            scores = x.new_zeros((x.shape[0], self.num_classes)).scatter_add(1, classes, parts)
        else:
            scores = torch.bmm(x.unsqueeze(1), self.weight[rows]).squeeze(1)  # (batch, classes)
        return scores + self.bias


class Mixed(nn.Module):
    """The network and the TF-IDF model in one graph: the task combines their probabilities with
    weights (1 - alpha, alpha), each times `scale` in the geometric pool (a temperature). Looks like
    the network to the rest of textrnn (summary, encode).
    The TF-IDF layer is `linear` (its weights are `linear.*` in model folders)."""

    def __init__(self, network: nn.Module, linear: TfidfLayer, alpha: float, task: Task,
                 pooling: str = "mean", scale: float = 1.0) -> None:
        super().__init__()
        self.network, self.linear, self.alpha, self.pooling = network, linear, float(alpha), pooling
        self.scale = float(scale) if pooling == "geometric" else 1.0
        self.combine = task.pool if pooling == "geometric" else task.combine
        self.config, self.directions = network.config, network.directions
        self.vocab_size, self.num_classes = network.vocab_size, network.num_classes

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        weights = [self.scale * (1.0 - self.alpha), self.scale * self.alpha]
        return self.combine([self.network(input_ids), self.linear(input_ids)], weights)

    def encode(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.network.encode(input_ids)

    def summary(self) -> list[dict]:
        lin = self.linear
        return [*self.network.summary(),
                # the name metadata.json has recorded since the layer was NgramLinear
                {"layer": f"NgramLinear(TF-IDF, {lin.features:,} unigram and bigram features)",
                 "output_shape": f"(None, {self.num_classes})",
                 "params": lin.idf.numel() * self.num_classes + lin.bias.numel()},
                {"layer": f"Mix: {1 - self.alpha:.2f} network + {self.alpha:.2f} linear"
                          + (f" (geometric, x {self.scale:g})" if self.pooling == "geometric" else ""),
                 "output_shape": f"(None, {self.num_classes})", "params": 0}]


def compose(network: nn.Module, task: Task, vocab_size: int, info: LinearInfo, state: TfidfState | None = None,
            top_k: int | None = None) -> Mixed:
    """The exported model: the network and the TF-IDF model mixed at the share `info` records. Training
    passes the fitted `state` (the weight table stored sparse); loading passes none and gets a layer of
    the recorded size for the folder's weights to fill (`top_k`: the sparse table's width; None: the
    dense fp32 table of folders saved before)."""
    if state is not None:
        layer = TfidfLayer.fitted(vocab_size, state)
    else:
        layer = TfidfLayer(vocab_size, info.features, len(task.labels), info.buckets, top_k, info.sublinear_tf)
    return Mixed(network, layer, info.alpha, task, info.pooling, info.scale).eval()


def complete_old_weights(state: dict[str, torch.Tensor], model: Mixed) -> dict[str, torch.Tensor]:
    """Weights of a folder saved before content tokens (no `linear.keep`): every token counts."""
    if "linear.keep" not in state:
        state["linear.keep"] = model.linear.keep
    return state
