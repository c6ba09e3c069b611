"""Model stage [torch]: embedding -> RNN/LSTM/GRU (padding never leaks into a result) -> pooling -> linear;
several such members, trained from different seeds, combined as one ensemble (the task says how)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from textrnn.config import Cell, ModelConfig, Pooling
from textrnn.data.tokens import BAG_MULTIPLIER, bigram_keys
from textrnn.tokenizer import PAD_ID

if TYPE_CHECKING:
    from textrnn.tasks import Task


class TextClassifier(nn.Module):
    """Maps right-padded token ids (batch, seq_len) to class logits (batch, num_classes)."""

    def __init__(self, config: ModelConfig, vocab_size: int, num_classes: int, activation: str = "softmax") -> None:
        super().__init__()
        self.config = config
        self.activation = activation  # what the task applies to the logits (for the summary)
        self.embedding = nn.Embedding(vocab_size, config.embedding_dim, padding_idx=PAD_ID)
        self.embedding_dropout = nn.Dropout(config.embedding_dropout)
        rnn_class = {Cell.rnn: nn.RNN, Cell.lstm: nn.LSTM, Cell.gru: nn.GRU}[config.cell]
        kwargs = {"nonlinearity": config.activation.value} if config.cell == Cell.rnn else {}
        self.rnn = rnn_class(config.embedding_dim, config.hidden_size, num_layers=config.layers,
                             bidirectional=config.bidirectional, batch_first=True,
                             dropout=config.dropout if config.layers > 1 else 0.0, **kwargs)
        self.directions = 2 if config.bidirectional else 1
        features = self.directions * config.hidden_size * (2 if config.pooling == Pooling.maxmean else 1)
        self.vocab_size, self.num_classes = vocab_size, num_classes
        if config.ngram_buckets:
            # one table: rows [0, vocab) are unigrams (0 = padding), the rest hashed bigrams
            self.ngram_embedding = nn.Embedding(vocab_size + config.ngram_buckets, config.ngram_dim,
                                                padding_idx=PAD_ID)
            features += config.ngram_dim
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(features, num_classes)

    def encode(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run the recurrent layers: per-token states, final state of each direction, valid-token mask."""
        lengths = (input_ids != PAD_ID).sum(dim=1).clamp(min=1)  # (batch,)
        x = self.embedding_dropout(self.embedding(input_ids))  # (batch, seq_len, embedding_dim)
        exporting = torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
        if not exporting and bool((input_ids != PAD_ID).all()):
            out = self.rnn(x)[0]  # no padding: same result, and several times faster than packed on CPU
        elif not exporting:
            out = self._run_padded(x, lengths)
        else:  # exported as the ONNX operators' sequence_lens
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)  # (batch, max_len, dirs * hidden)
        # The final states come from `out` rather than h_n: the TorchScript exporter fails on a
        # one-layer RNN whose sequence output is unused.
        hidden = self.config.hidden_size
        index = (lengths - 1).view(-1, 1, 1).expand(-1, 1, out.size(2))
        last = out.gather(1, index).squeeze(1)[:, :hidden]  # forward direction at its last token
        if self.directions == 2:
            last = torch.cat([last, out[:, 0, hidden:]], dim=-1)  # backward direction ends at token 0
        steps = torch.arange(out.size(1), device=out.device)
        mask = steps.unsqueeze(0) < lengths.unsqueeze(1)  # (batch, max_len)
        return out, last, mask

    def _run_padded(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The recurrent layers on right-padded input, equal to the packed run at every real token
        and several times faster on CPU (packed sequences fall off oneDNN's fused kernels): each
        direction runs as a one-way pass, the backward one over each row reversed within its own
        length, so padding only ever comes after a row's real tokens. States at padded positions
        are left unspecified (pooling masks them)."""
        rnn, cell = self.rnn, self.config.cell
        steps = torch.arange(x.size(1), device=x.device).unsqueeze(0)  # (1, max_len)
        reverse = torch.where(steps < lengths.unsqueeze(1), lengths.unsqueeze(1) - 1 - steps, steps)

        def flip(t: torch.Tensor) -> torch.Tensor:  # reverse each row within its length (self-inverse)
            return t.gather(1, reverse.unsqueeze(-1).expand_as(t))

        # what nn.RNN, nn.LSTM and nn.GRU call
        run = getattr(torch._VF, f"rnn_{rnn.nonlinearity}" if cell == Cell.rnn else cell.value)
        h0 = x.new_zeros(1, x.size(0), self.config.hidden_size)
        hx = (h0, h0) if cell == Cell.lstm else h0
        for layer in range(rnn.num_layers):
            outs = []
            for direction in range(self.directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                weights = [getattr(rnn, f"{name}{suffix}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
                if direction:
                    outs.append(flip(run(flip(x), hx, weights, True, 1, 0.0, self.training, False, True)[0]))
                else:
                    outs.append(run(x, hx, weights, True, 1, 0.0, self.training, False, True)[0])
            x = torch.cat(outs, dim=-1)
            if layer < rnn.num_layers - 1 and rnn.dropout:
                x = nn.functional.dropout(x, rnn.dropout, self.training)
        return x

    def ngram_bag(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Mean embedding of the text's unigrams and hashed bigrams: (batch, ngram_dim)."""
        left, right = input_ids[:, :-1], input_ids[:, 1:]
        bigrams = bigram_keys(left, right, self.vocab_size, self.config.ngram_buckets, BAG_MULTIPLIER)
        bigrams = bigrams * (right != PAD_ID)  # a pair ending in padding -> padding row
        grams = torch.cat([input_ids, bigrams], dim=1)  # (batch, 2 * seq_len - 1)
        count = (grams != PAD_ID).sum(dim=1, keepdim=True).clamp(min=1)
        return self.ngram_embedding(grams).sum(dim=1) / count

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        pooling = self.config.pooling
        out, last, mask = self.encode(input_ids)
        if pooling == Pooling.last:
            pooled = last
        else:  # only what the pooling needs; most training batches have no padding to mask
            padded = torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() or not bool(mask.all())
            m = mask.unsqueeze(-1)  # (batch, max_len, 1)
            parts = []
            if pooling in (Pooling.max, Pooling.maxmean):
                parts.append((out.masked_fill(~m, float("-inf")) if padded else out).amax(dim=1))
            if pooling in (Pooling.mean, Pooling.maxmean):
                parts.append((out * m).sum(dim=1) / m.sum(dim=1) if padded else out.mean(dim=1))
            pooled = parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)
        if self.config.ngram_buckets:
            pooled = torch.cat([pooled, self.ngram_bag(input_ids)], dim=-1)
        return self.classifier(self.dropout(pooled))  # (batch, num_classes)

    def summary(self) -> list[dict]:
        """Keras-like rows: layer, output shape (None = any size), parameter count."""
        cfg = self.config
        width = self.directions * cfg.hidden_size
        pooled = self.classifier.in_features
        rnn_name = {Cell.rnn: f"SimpleRNN({cfg.activation})", Cell.lstm: "LSTM", Cell.gru: "GRU"}[cfg.cell]
        if cfg.bidirectional:
            rnn_name = f"Bidirectional({rnn_name})"
        if cfg.layers > 1:
            rnn_name += f" x{cfg.layers}"

        def count(module: nn.Module) -> int:
            return sum(p.numel() for p in module.parameters())

        return [
            {"layer": "Embedding", "output_shape": f"(None, None, {cfg.embedding_dim})",
             "params": count(self.embedding)},
            {"layer": rnn_name, "output_shape": f"(None, None, {width})", "params": count(self.rnn)},
            *([{"layer": f"NgramBag(bigrams, {cfg.ngram_buckets:,} buckets)",
                "output_shape": f"(None, {cfg.ngram_dim})", "params": count(self.ngram_embedding)}]
              if cfg.ngram_buckets else []),
            {"layer": f"Pooling({cfg.pooling}) + Dropout({cfg.dropout:g})",
             "output_shape": f"(None, {pooled})", "params": 0},
            {"layer": f"Dense({self.activation})", "output_shape": f"(None, {self.classifier.out_features})",
             "params": count(self.classifier)},
        ]


class Ensemble(nn.Module):
    """Members trained from different seeds, combined by the task (single-label: the log of their
    mean probability for each class, so the task's softmax over the output gives the averaged
    probabilities)."""

    def __init__(self, members: list[TextClassifier], task: Task) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.combine = task.combine
        self.config = members[0].config
        self.vocab_size, self.num_classes = members[0].vocab_size, members[0].num_classes
        self.directions = members[0].directions

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.combine([m(input_ids) for m in self.members])  # (batch, num_classes)

    def encode(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The first member's recurrent states (what `textrnn inspect` draws)."""
        return self.members[0].encode(input_ids)

    def summary(self) -> list[dict]:
        """The first member's rows, the other members in one row, then the averaging."""
        first = self.members[0].summary()
        n, each = len(self.members), sum(p.numel() for p in self.members[0].parameters())
        others = f"Members 2-{n} (same layers, other seeds)" if n > 2 else "Member 2 (same layers, other seed)"
        return [*first,
                {"layer": others, "output_shape": f"(None, {self.num_classes}) each", "params": (n - 1) * each},
                {"layer": f"Average of {n} members' probabilities", "output_shape": f"(None, {self.num_classes})",
                 "params": 0}]


def build_member(config: ModelConfig, vocab_size: int, task: Task) -> TextClassifier:
    """One freshly initialised TextClassifier for `task`."""
    return TextClassifier(config, vocab_size, len(task.labels), task.activation)


def build_model(config: ModelConfig, vocab_size: int, task: Task, members: int = 1) -> nn.Module:
    """One TextClassifier, or an Ensemble of `members` of them (freshly initialised)."""
    if members == 1:
        return build_member(config, vocab_size, task)
    return Ensemble([build_member(config, vocab_size, task) for _ in range(members)], task)
