"""A pretrained encoder's folder (what `textrnn pretrain` writes and `train --init` reads):

    tokenizer.json         the tokenizer, trained on the pretraining texts
    encoder.safetensors    the language model: embedding, forward (and backward) RNN, softmax
    encoder.json           format, settings, the texts it read, perplexity per epoch, versions
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textrnn.config import ModelConfig, TokenizerConfig
from textrnn.errors import ModelFolderError
from textrnn.schema import SchemaError, from_json, to_json

ENCODER_WEIGHTS = "encoder.safetensors"
ENCODER_METADATA = "encoder.json"
KIND = "textrnn language model"


@dataclass(frozen=True)
class Corpus:
    """One file of pretraining text."""

    path: str
    sha256: str
    texts: int


@dataclass(frozen=True)
class LMEpoch:
    """One epoch of language-model training: perplexity per token, training and held-out."""

    epoch: int
    perplexity: float
    val_perplexity: float
    seconds: float


@dataclass(frozen=True)
class EncoderMetadata:
    """What encoder.json records."""

    tokenizer: TokenizerConfig
    model: ModelConfig
    vocab_size: int
    corpus: tuple[Corpus, ...]
    tokens: int  # training tokens per epoch
    history: tuple[LMEpoch, ...]
    best_epoch: int
    stopped: str
    seconds: float
    pretrain: dict[str, Any]
    created: str = ""
    textrnn_version: str = ""
    versions: dict[str, str] | None = None
    kind: str = KIND
    format_version: int = 1

    def to_dict(self) -> dict[str, Any]:
        return to_json(self)


def read_encoder(folder: str | Path) -> EncoderMetadata:
    """The metadata of a pretrained encoder folder; ModelFolderError if it is not one."""
    folder = Path(folder)
    path = folder / ENCODER_METADATA
    if not folder.is_dir():
        raise ModelFolderError(f"pretrained encoder {folder} does not exist")
    missing = [n for n in (ENCODER_METADATA, ENCODER_WEIGHTS, "tokenizer.json") if not (folder / n).is_file()]
    if missing:
        what = "a model folder, not a pretrained encoder" if (folder / "metadata.json").is_file() else "incomplete"
        raise ModelFolderError(f"{folder} is not a pretrained encoder (`textrnn pretrain` writes one): {what}, "
                               f"missing {', '.join(missing)}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelFolderError(f"{path} is unreadable or corrupt ({err})") from err
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise ModelFolderError(f"{path} is not a textrnn pretrained encoder's metadata")
    try:
        return from_json(EncoderMetadata, data)
    except SchemaError as err:
        raise ModelFolderError(f"{path}: {err}") from err
