"""Model stage [torch]: a recurrent language model, the encoder `textrnn pretrain` trains on unlabelled
text and `train --init` starts a classifier from.

    embedding -> forward RNN  -> predicts each next token
              -> backward RNN -> predicts each previous token (for bidirectional classifiers)
    one adaptive softmax over the vocabulary, shared by both directions

The layers have the shapes of a TextClassifier's (same cell, embedding and hidden sizes, layers),
so the embedding and the recurrent weights of each direction copy straight into one: the
classifier's forward direction is the forward LM, its reverse direction the backward LM. The
adaptive softmax (Grave et al., 2017) computes the frequent words exactly and the rare ones
through smaller clusters: a 20,000-word vocabulary costs about a fifth of a full softmax.
"""

from __future__ import annotations

import torch
from torch import nn

from textrnn.config import Cell, ModelConfig
from textrnn.tokenizer import PAD_ID

FREQUENT = 2000  # words computed exactly by the adaptive softmax; then clusters


def cutoffs(vocab_size: int) -> list[int]:
    """Adaptive-softmax cluster boundaries for a vocabulary sorted by frequency (the tokenizer's ids are)."""
    return [c for c in (FREQUENT, 4 * FREQUENT) if c < vocab_size - 1]


class LanguageModel(nn.Module):
    """Forward (and backward) recurrent language model over right-padded token ids."""

    def __init__(self, config: ModelConfig, vocab_size: int) -> None:
        super().__init__()
        self.config, self.vocab_size = config, vocab_size
        self.embedding = nn.Embedding(vocab_size, config.embedding_dim, padding_idx=PAD_ID)
        self.embedding_dropout = nn.Dropout(config.embedding_dropout)
        rnn_class = {Cell.rnn: nn.RNN, Cell.lstm: nn.LSTM, Cell.gru: nn.GRU}[config.cell]
        kwargs = {"nonlinearity": config.activation.value} if config.cell == Cell.rnn else {}

        def rnn() -> nn.Module:
            return rnn_class(config.embedding_dim, config.hidden_size, num_layers=config.layers, batch_first=True,
                             dropout=config.dropout if config.layers > 1 else 0.0, **kwargs)

        self.forward_rnn = rnn()
        self.backward_rnn = rnn() if config.bidirectional else None
        self.dropout = nn.Dropout(config.dropout)
        self.head = self._head(config.hidden_size, vocab_size)

    @staticmethod
    def _head(hidden: int, vocab_size: int) -> nn.Module:
        cuts = cutoffs(vocab_size)
        if not cuts:
            return nn.Linear(hidden, vocab_size)
        return nn.AdaptiveLogSoftmaxWithLoss(hidden, vocab_size, cuts, div_value=4.0)

    def _nll(self, states: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Summed negative log-likelihood of the targets (padding left out) and how many there were."""
        keep = targets != PAD_ID
        n = int(keep.sum())
        if n == 0:
            return states.new_zeros(()), 0
        h, t = self.dropout(states[keep]).float(), targets[keep]
        with torch.autocast(h.device.type, enabled=False):  # the softmax in fp32 (the adaptive one needs it)
            if isinstance(self.head, nn.Linear):
                return nn.functional.cross_entropy(self.head(h), t, reduction="sum"), n
            return -self.head(h, t).output.sum(), n

    def forward(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Summed loss of predicting every next token (and every previous one), and the token count."""
        lengths = (input_ids != PAD_ID).sum(dim=1)
        x = self.embedding_dropout(self.embedding(input_ids))
        out = self.forward_rnn(x)[0]  # right padding comes after each row's tokens: no leak backwards
        loss, n = self._nll(out[:, :-1], input_ids[:, 1:])
        if self.backward_rnn is not None:
            reverse = _reverse_index(lengths, input_ids.size(1))
            flipped = input_ids.gather(1, reverse)
            back = self.backward_rnn(x.gather(1, reverse.unsqueeze(-1).expand_as(x)))[0]
            b_loss, b_n = self._nll(back[:, :-1], flipped[:, 1:])
            loss, n = loss + b_loss, n + b_n
        return loss, n

    def encoder_state(self) -> dict[str, torch.Tensor]:
        """The weights a TextClassifier takes: embedding, and each direction's recurrent layers."""
        state = {"embedding.weight": self.embedding.weight.detach().clone()}
        for name, value in self.forward_rnn.state_dict().items():
            state[f"rnn.{name}"] = value.detach().clone()
        if self.backward_rnn is not None:
            for name, value in self.backward_rnn.state_dict().items():
                state[f"rnn.{name}_reverse"] = value.detach().clone()
        return state


def _reverse_index(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """Positions that reverse each row within its own length (padding stays at the end)."""
    steps = torch.arange(width, device=lengths.device).unsqueeze(0)
    return torch.where(steps < lengths.unsqueeze(1), lengths.unsqueeze(1) - 1 - steps, steps)
