"""Model stage [torch]: embedding -> RNN/LSTM/GRU (packed, so padding never leaks) -> pooling -> linear."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from textrnn.config import ModelConfig
from textrnn.tokenizer import PAD_ID


class TextClassifier(nn.Module):
    """Maps right-padded token ids (batch, seq_len) to class logits (batch, num_classes)."""

    def __init__(self, config: ModelConfig, vocab_size: int, num_classes: int) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(vocab_size, config.embedding_dim, padding_idx=PAD_ID)
        self.embedding_dropout = nn.Dropout(config.embedding_dropout)
        rnn_class = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[config.cell]
        kwargs = {"nonlinearity": config.activation} if config.cell == "rnn" else {}
        self.rnn = rnn_class(config.embedding_dim, config.hidden_size, num_layers=config.layers,
                             bidirectional=config.bidirectional, batch_first=True,
                             dropout=config.dropout if config.layers > 1 else 0.0, **kwargs)
        self.directions = 2 if config.bidirectional else 1
        features = self.directions * config.hidden_size * (2 if config.pooling == "maxmean" else 1)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(features, num_classes)

    def encode(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run the recurrent layers: per-token states, final states, and the valid-token mask."""
        lengths = (input_ids != PAD_ID).sum(dim=1).clamp(min=1)  # (batch,)
        x = self.embedding_dropout(self.embedding(input_ids))  # (batch, seq_len, embedding_dim)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, h_n = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True)  # (batch, max_len, dirs * hidden)
        if isinstance(h_n, tuple):  # LSTM: (h_n, c_n)
            h_n = h_n[0]
        # h_n: (layers * dirs, batch, hidden) -> last layer, both directions: (batch, dirs * hidden)
        last = h_n[-self.directions:].transpose(0, 1).reshape(input_ids.size(0), -1)
        steps = torch.arange(out.size(1), device=out.device)
        mask = steps.unsqueeze(0) < lengths.unsqueeze(1)  # (batch, max_len)
        return out, last, mask

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        out, last, mask = self.encode(input_ids)
        pooling = self.config.pooling
        if pooling == "last":
            pooled = last
        else:
            m = mask.unsqueeze(-1)  # (batch, max_len, 1)
            mean = (out * m).sum(dim=1) / m.sum(dim=1)
            mx = out.masked_fill(~m, float("-inf")).amax(dim=1)
            pooled = {"mean": mean, "max": mx}.get(pooling)
            if pooled is None:
                pooled = torch.cat([mx, mean], dim=-1)
        return self.classifier(self.dropout(pooled))  # (batch, num_classes)

    def summary(self) -> list[dict]:
        """Keras-like rows: layer, output shape (None = any size), parameter count."""
        cfg = self.config
        width = self.directions * cfg.hidden_size
        pooled = self.classifier.in_features
        rnn_name = {"rnn": f"SimpleRNN({cfg.activation})", "lstm": "LSTM", "gru": "GRU"}[cfg.cell]
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
            {"layer": f"Pooling({cfg.pooling}) + Dropout({cfg.dropout:g})",
             "output_shape": f"(None, {pooled})", "params": 0},
            {"layer": "Dense(softmax)", "output_shape": f"(None, {self.classifier.out_features})",
             "params": count(self.classifier)},
        ]
