"""Tokenizer stage: train a Hugging Face `tokenizers` model on training texts; text -> id arrays.

Id 0 is padding and id 1 the unknown word, for every tokenizer kind.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from textrnn.errors import ConfigError

if TYPE_CHECKING:  # not needed to load and run a tokenizer (the predict path)
    from textrnn.config import TokenizerConfig

PAD, UNK = "[PAD]", "[UNK]"
PAD_ID, UNK_ID = 0, 1


def _normalizers(config: TokenizerConfig) -> normalizers.Normalizer:
    return normalizers.Sequence([normalizers.NFKC()] + ([normalizers.Lowercase()] if config.lowercase else []))


def word_counts(texts: list[str], config: TokenizerConfig) -> Counter:
    """How often each word occurs in `texts`, words as the word-level tokenizer sees them (normalized,
    lowercased if configured, split on whitespace and punctuation)."""
    normalizer, pre = _normalizers(config), pre_tokenizers.Whitespace()
    counts: Counter = Counter()
    for text in texts:
        counts.update(word for word, _ in pre.pre_tokenize_str(normalizer.normalize_str(text)))
    return counts


def train_tokenizer(texts: list[str], config: TokenizerConfig, keep: Callable[[str], bool] | None = None) -> Tokenizer:
    """Learn a vocabulary from `texts` (the training split only).

    `keep` (word-level only): words for which it is true join the vocabulary even below the minimum
    frequency (words with a pretrained vector); the most frequent words still come first when the
    vocabulary is full.
    """
    if keep is not None:
        return _word_tokenizer_keeping(texts, config, keep)
    minimum = config.min_count(len(texts))
    special = [PAD, UNK]
    if config.kind == "word":
        tok = Tokenizer(models.WordLevel(unk_token=UNK))
        trainer = trainers.WordLevelTrainer(vocab_size=config.vocab_size,
                                            min_frequency=minimum,
                                            special_tokens=special, show_progress=False)
    elif config.kind == "bpe":
        tok = Tokenizer(models.BPE(unk_token=UNK))
        trainer = trainers.BpeTrainer(vocab_size=config.vocab_size, min_frequency=minimum,
                                      special_tokens=special, show_progress=False)
    else:
        tok = Tokenizer(models.WordPiece(unk_token=UNK))
        tok.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(vocab_size=config.vocab_size,
                                            min_frequency=minimum,
                                            special_tokens=special, show_progress=False)
    tok.normalizer = _normalizers(config)
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(texts, trainer=trainer)
    tok.enable_truncation(max_length=config.max_length)
    assert tok.token_to_id(PAD) == PAD_ID and tok.token_to_id(UNK) == UNK_ID  # trainer order
    return tok


def _word_tokenizer_keeping(texts: list[str], config: TokenizerConfig, keep: Callable[[str], bool]) -> Tokenizer:
    if config.kind != "word":
        raise ConfigError(f"pretrained word vectors map onto whole words: use --tokenizer word "
                          f"(got {config.kind})")
    counts = word_counts(texts, config)
    minimum = config.min_count(len(texts))
    words = [w for w, c in sorted(counts.items(), key=lambda wc: (-wc[1], wc[0]))
             if c >= minimum or keep(w)][: config.vocab_size - 2]
    vocab = {PAD: PAD_ID, UNK: UNK_ID, **{w: i + 2 for i, w in enumerate(words)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    tok.normalizer = _normalizers(config)
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.add_special_tokens([PAD, UNK])
    tok.enable_truncation(max_length=config.max_length)
    return tok


def load_tokenizer(path: str | Path) -> Tokenizer:
    return Tokenizer.from_file(str(path))


def encode(tokenizer: Tokenizer, texts: list[str]) -> list[np.ndarray]:
    """Token ids for each text (truncated, unpadded); never empty, so every text has a length."""
    out = []
    # encode_batch_fast (tokenizers >= 0.21) skips character offsets, which are not needed here
    batch_encode = getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)
    for start in range(0, len(texts), 1024):  # Encoding objects are large: hold few at a time
        for enc in batch_encode(texts[start: start + 1024], add_special_tokens=False):
            ids = enc.ids or [UNK_ID]
            out.append(np.asarray(ids, dtype=np.int64))
    return out


def pad(batch: list[np.ndarray]) -> np.ndarray:
    """Right-pad id arrays with PAD_ID to the longest in the batch: (batch, seq_len) int64."""
    width = max(len(ids) for ids in batch)
    out = np.full((len(batch), width), PAD_ID, dtype=np.int64)
    for row, ids in enumerate(batch):
        out[row, : len(ids)] = ids
    return out


def unknown_rate(tokenizer: Tokenizer, texts: list[str]) -> float:
    """Share of tokens in `texts` that map to the unknown id."""
    ids = encode(tokenizer, texts)
    total = sum(len(x) for x in ids)
    return float(sum(int((x == UNK_ID).sum()) for x in ids) / total) if total else 0.0
