"""Settings for each pipeline stage as frozen dataclasses; validation lives here, not in the model.

Each setting is declared once, as a field (textrnn.options.setting): its type (choices are the Enums
of textrnn.options), default, checks and the help text that `textrnn train --help` shows (the CLI
builds its options from these fields).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

from textrnn.errors import ConfigError
from textrnn.options import (
    Activation,
    Cell,
    Choice,
    ClassWeight,
    Device,
    FoldModel,
    InferPrecision,
    Metric,
    Pooling,
    Pretrain,
    TokenizerKind,
    TrainPrecision,
    choices,
    setting,
)
from textrnn.schema import to_json

# the Enums and setting() live in textrnn.options; these names stay importable from here
__all__ = ["Activation", "Cell", "Choice", "ClassWeight", "Device", "FoldModel", "InferPrecision", "Metric",
           "Pooling", "Pretrain", "TokenizerKind", "TrainPrecision", "setting"]

AUTO_EPOCHS, AUTO_PATIENCE = 20, 4  # what --epochs / --patience mean when not given ...
MIN_STEPS, MIN_PATIENCE_STEPS = 3000, 600  # ... unless the data is too small for these many steps
# below this many training texts: cross-fitting (--folds auto), every word in the vocabulary (measured on 500-row
# samples: benchmarks/RESULTS-500-folds.md); below auto pretraining's range, six trainings fit in 3 minutes
SMALL_DATA_TEXTS = 1_000


PRETRAIN_TOKENS = 1_500_000  # train --pretrain: the language model's budget (see InitConfig.pretrain_tokens)


def parse_folds(value: str | int) -> int | None:
    """`--folds`: None for auto, else the number of folds (at least 1)."""
    text = str(value).strip().lower()
    if text == "auto":
        return None
    try:
        k = int(text)
    except ValueError:
        raise ConfigError(f"--folds must be auto or a whole number of folds (got {value!r})") from None
    _check(k >= 1, f"--folds must be at least 1 (got {k}); 1 trains one network with a validation split")
    return k


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


@dataclass(frozen=True)
class DataConfig:
    """How to read the data and hold out validation rows."""

    panel: ClassVar[str] = "Data"
    text_column: str | None = setting(None, "Text column (default: text, sentence, review, ...).", metavar="NAME")
    label_column: str | None = setting(None, "Label column (default: label, labels, class, category, ...).",
                                       metavar="NAME")
    val_split: float = setting(0.1, "Share of DATA held out for validation when --val is not given.",
                               metavar="X")
    label_sep: str | None = setting(None, "Several labels per text in a CSV/TSV label field, separated by this "
                                          "(e.g. '|'): multi-label data.", metavar="SEP")
    multi_label: bool = setting(False, "Read the data as multi-label even if every text has one label (JSON "
                                       "label lists and fastText lines with 0 or 2+ labels are multi-label anyway).")
    folds: str = setting("auto", "Cross-fitting: network i trains on the other K-1 folds, stops on fold i; the linear "
                         "model, thresholds and validation scores come from every text's out-of-fold predictions. "
                         "auto: 5 below 1,000 training texts without --val, else 1 (a 10% validation split). With "
                         "--val FILE the folds run over DATA and the file is a held-out check.", metavar="K|auto")
    fold_model: FoldModel = setting(FoldModel.refit, "What cross-fitting ships: refit (one network trained on all the "
                                    "texts for the folds' median best epoch; as fast as one network), distilled (the "
                                    "same, trained towards the fold networks' out-of-fold probabilities mixed half and "
                                    "half with the labels) or members (the K fold networks averaged: K times slower).")

    def __post_init__(self) -> None:
        choices(self)
        parse_folds(self.folds)
        object.__setattr__(self, "folds", str(self.folds).strip().lower())  # 5 and "5" alike in metadata.json
        _check(0.0 < self.val_split < 0.9, f"val_split must be in (0, 0.9) (got {self.val_split})")
        _check(self.label_sep is None or self.label_sep != "", "label_sep must not be empty")


@dataclass(frozen=True)
class TokenizerConfig:
    """Vocabulary settings for the Hugging Face tokenizer trained on the training split."""

    panel: ClassVar[str] = "Tokenizer"
    kind: TokenizerKind = setting(TokenizerKind.word, "Tokenizer model: whole words, BPE or WordPiece subwords.",
                                  flag="tokenizer")
    vocab_size: int = setting(30000, "Largest vocabulary.", metavar="N")
    # rarer words become [UNK], which word dropout teaches the model to read
    # auto (None): 1 below SMALL_DATA_TEXTS training texts, where most words are seen once (a vocabulary of
    # twice-seen words leaves the linear model little to count: sst2 500 rows, 3,436 -> 8,106 features), else 2
    min_frequency: int | None = setting(None, "Keep tokens seen at least this often (default: 2, or 1 below "
                                              "1,000 training texts).", metavar="N")
    lowercase: bool = setting(True, "Lowercase text before tokenizing.")
    max_length: int = setting(256, "Truncate texts to this many tokens.", metavar="N")

    def __post_init__(self) -> None:
        choices(self)
        _check(self.vocab_size >= 10, f"vocab_size must be at least 10 (got {self.vocab_size})")
        _check(self.min_frequency is None or self.min_frequency >= 1,
               f"min_frequency must be at least 1 (got {self.min_frequency})")

    def min_count(self, texts: int) -> int:
        """The minimum frequency for a vocabulary learnt from this many texts (`min_frequency`, or auto)."""
        if self.min_frequency is not None:
            return self.min_frequency
        return 1 if texts < SMALL_DATA_TEXTS else 2
        _check(self.max_length >= 1, f"max_length must be at least 1 (got {self.max_length})")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture: embedding -> recurrent layers -> pooling -> dropout -> linear."""

    panel: ClassVar[str] = "Model"
    cell: Cell = setting(Cell.lstm, "Recurrent cell: simple RNN, LSTM or GRU.")
    activation: Activation = setting(Activation.tanh, "Activation of the simple RNN (--cell rnn).")
    bidirectional: bool = setting(True, "Read each text in both directions.")
    layers: int = setting(1, "Stacked recurrent layers.", metavar="N")
    embedding_dim: int = setting(128, "Size of the token embeddings.", metavar="N")
    hidden_size: int = setting(128, "Hidden units per direction.", metavar="N")
    dropout: float = setting(0.5, "Dropout before the classifier (and between layers).", metavar="X")
    embedding_dropout: float = setting(0.5, "Dropout on the embeddings.", metavar="X")
    pooling: Pooling = setting(Pooling.max, "How token states become one vector: last state, mean, max, or "
                                            "max and mean.")
    # hashed bigram bag beside the RNN (fastText-like); 0 = off
    ngram_buckets: int = setting(0, "Hashed-bigram bag beside the RNN (fastText-like), this many buckets; 0: off.",
                                 metavar="N")
    ngram_dim: int = setting(64, "Size of the hashed-bigram embeddings (with --ngram-buckets).", metavar="N")
    linear: bool = setting(True, "Mix in a linear model over the texts' word and bigram TF-IDF features, trained "
                                 "after the network, its share chosen on validation (none if it does not help).")
    # > 1: an ensemble of this many models trained from different seeds, their probabilities averaged
    # (sst2: 3 members of hidden 64 gave 83.6% test accuracy vs 82.4% for each alone; trec: no gain)
    members: int = setting(1, "Train this many models from different seeds and average their probabilities in "
                              "one ONNX model (an ensemble): often more accurate, each member adds its training "
                              "and prediction time. Try --members 3 --hidden-size 64.", metavar="N")

    def __post_init__(self) -> None:
        choices(self)
        _check(self.activation == Activation.tanh or self.cell == Cell.rnn,
               f"activation {self.activation.value!r} applies only to --cell rnn (LSTM and GRU use fixed gates)")
        _check(1 <= self.layers <= 8, f"layers must be between 1 and 8 (got {self.layers})")
        _check(self.embedding_dim >= 1, f"embedding_dim must be positive (got {self.embedding_dim})")
        _check(self.hidden_size >= 1, f"hidden_size must be positive (got {self.hidden_size})")
        _check(0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1) (got {self.dropout})")
        _check(0.0 <= self.embedding_dropout < 1.0,
               f"embedding_dropout must be in [0, 1) (got {self.embedding_dropout})")
        _check(self.ngram_buckets >= 0, f"ngram_buckets must be >= 0 (got {self.ngram_buckets})")
        _check(self.ngram_dim >= 1, f"ngram_dim must be positive (got {self.ngram_dim})")
        _check(1 <= self.members <= 16, f"members must be between 1 and 16 (got {self.members})")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation: AdamW, the task's loss, clipping, early stopping on the task's validation score."""

    panel: ClassVar[str] = "Training"
    # None = auto: AUTO_EPOCHS and AUTO_PATIENCE, stretched on small data so that training runs at
    # least MIN_STEPS optimizer steps and waits MIN_PATIENCE_STEPS for a better epoch (see
    # training.batches.plan_epochs). Measured on samples of the training sets (3 seeds, full test
    # sets), 20/4 -> auto: 500 rows: sst2 56.1 -> 64.3, trec 70.5 -> 75.7, subj 81.3 -> 83.9, agnews
    # 56.0 -> 73.8; 2,000 rows: sst2 70.1 -> 73.6, trec 82.9 -> 87.5, subj 87.8 -> 88.9, agnews 82.2
    # -> 82.9. The benchmark datasets (4,900+ training rows) train exactly as with 20 and 4.
    epochs: int | None = setting(None, f"Most epochs to train (default: {AUTO_EPOCHS}, or more on small data: "
                                       f"enough for {MIN_STEPS:,} steps).", metavar="N")
    batch_size: int = setting(32, "Texts per training batch.", metavar="N")
    lr: float = setting(2e-3, "AdamW learning rate.", metavar="X")
    weight_decay: float = setting(0.1, "AdamW weight decay.", metavar="X")
    clip_norm: float = setting(1.0, "Clip the gradient norm to this.", metavar="X")
    word_dropout: float = setting(0.2, "Share of training tokens replaced by the unknown word each step.",
                                  metavar="X")
    patience: int | None = setting(None, f"Stop after this many epochs without a better validation score "
                                         f"(default: {AUTO_PATIENCE}, or more on small data: "
                                         f"{MIN_PATIENCE_STEPS} steps' worth).", metavar="N")
    seed: int = setting(0, "Random seed: same seed and data, same model (on CPU).", metavar="N")
    device: Device = setting(Device.cpu, "Train on cpu, cuda, or auto (cuda when available).")
    # auto: bfloat16 mixed precision where the CPU computes it natively, else float32; weights,
    # validation and the exported model stay float32. Measured on sst2 (BiLSTM 128, batch 64):
    # 2.24-2.89 s an epoch against 2.64-3.06 in float32; test accuracy over 3 seeds: sst2 82.01
    # vs 81.99, mr 77.93 vs 78.78 (within the seeds' spread)
    precision: TrainPrecision = setting(TrainPrecision.auto, "auto: bfloat16 mixed precision on CPUs that compute "
                                                             "it natively (faster), else fp32; weights and the "
                                                             "exported model stay fp32.")
    # validate and keep an exponential moving average of the weights (decay per step); 0 = off.
    # Measured (3 seeds, test accuracy): sst2 82.0 -> 82.5, mr 77.9 -> 79.0
    ema: float = setting(0.995, "Validate and keep an exponential moving average of the weights with this decay "
                                "per step; 0: off.", metavar="X")
    metric: Metric = setting(Metric.auto, "The validation score that picks the kept epoch: auto is accuracy for "
                                          "single-label data, micro-F1 for multi-label data; macro-F1 weighs rare "
                                          "classes (labels) like common ones.")
    class_weight: ClassWeight = setting(ClassWeight.none, "balanced: weigh each class in the loss by n / (classes "
                                                          "x its count) (multi-label: a positive weight per label, "
                                                          "negatives / positives), for skewed data.")

    def __post_init__(self) -> None:
        choices(self)
        _check(self.epochs is None or self.epochs >= 1, f"epochs must be at least 1 (got {self.epochs})")
        _check(self.batch_size >= 1, f"batch_size must be at least 1 (got {self.batch_size})")
        _check(self.lr > 0, f"lr must be positive (got {self.lr})")
        _check(self.weight_decay >= 0, f"weight_decay must be >= 0 (got {self.weight_decay})")
        _check(self.clip_norm > 0, f"clip_norm must be positive (got {self.clip_norm})")
        _check(0.0 <= self.word_dropout < 1.0, f"word_dropout must be in [0, 1) (got {self.word_dropout})")
        _check(self.patience is None or self.patience >= 1, f"patience must be at least 1 (got {self.patience})")
        _check(0.0 <= self.ema < 1.0, f"ema must be in [0, 1) (got {self.ema})")


@dataclass(frozen=True)
class InitConfig:
    """Knowledge from outside the labelled data: pretrained word vectors, or a pretrained encoder
    (`textrnn pretrain`), and how training treats the layers they fill."""

    panel: ClassVar[str] = "Pretrained"
    renamed: ClassVar[dict[str, str]] = {"init": "encoder"}  # metadata.json keys of earlier versions
    embeddings: str | None = setting(None, "Start the embedding from word vectors: GloVe/word2vec/fastText text "
                                           "(.txt, .vec, .gz) or word2vec binary (.bin). Needs --tokenizer word; the "
                                           "vectors' dimension sets --embedding-dim.", metavar="FILE")
    # the encoder folder of `--init` (metadata.json's settings.init.encoder; `init` before)
    encoder: str | None = setting(None, "Start from a pretrained encoder (the folder `textrnn pretrain` writes): its "
                                        "tokenizer, embedding and recurrent layers, and their sizes.", flag="init",
                                  metavar="DIR")
    # auto (on unless --init or --embeddings give other knowledge): a language model pretrained on the
    # training texts, then the classifier from it. Measured (test accuracy, 3 seeds, the same seeds
    # without): trec 89.4 -> 90.3, mr 78.3 -> 79.1, subj 92.4 -> 93.5, sst5 41.2 -> 43.2; but sst2
    # (67,000 texts) 81.9 -> 81.1 at three times the time: auto leaves large data alone.
    pretrain: Pretrain = setting(Pretrain.auto, "Pretrain the encoder as a language model on the training texts "
                                                "first (as `textrnn pretrain` does), then train from it; auto: "
                                                "on from 1,000 to 50,000 training texts, unless --init or "
                                                "--embeddings bring other knowledge.")
    pretrain_epochs: int = setting(10, "Most epochs of that pretraining (the best held-out perplexity is kept).",
                                   metavar="N")
    # a budget in tokens, not seconds, so that the same seed and data give the same model on any machine
    # and under any load; sized to what the former 1.5-minute cap allowed on 2 quiet cores (about 16,000
    # tokens/s: 10 epochs of trec and sst5, 8 of mr, 7.6 of subj); under load that cap allowed far less.
    pretrain_tokens: int = setting(PRETRAIN_TOKENS, "Most training tokens of that pretraining (it stops at the end of "
                                                    "the batch that reaches them, keeping its best epoch so far): a "
                                                    "budget that does not depend on the machine.", metavar="N")
    pretrain_minutes: float | None = setting(None, "Also stop that pretraining after this many minutes (default: no "
                                                   "time cap, so that results do not depend on the machine's speed "
                                                   "or load).", metavar="X")
    freeze_epochs: int = setting(0, "Epochs that train only the layers that were not pretrained; then all of them.",
                                 metavar="N")
    pretrained_lr: float = setting(1.0, "Learning rate of the pretrained layers, as a share of --lr (after "
                                        "--freeze-epochs).", metavar="X")

    def __post_init__(self) -> None:
        choices(self)
        _check(self.pretrain_epochs >= 1, f"pretrain_epochs must be at least 1 (got {self.pretrain_epochs})")
        _check(self.pretrain_tokens >= 1, f"pretrain_tokens must be at least 1 (got {self.pretrain_tokens})")
        _check(self.pretrain_minutes is None or self.pretrain_minutes > 0,
               f"pretrain_minutes must be positive (got {self.pretrain_minutes})")
        _check(not (self.embeddings and self.encoder),
               "--embeddings and --init both fill the embedding: give one (the encoder's own vectors come with --init)")
        _check(self.freeze_epochs >= 0, f"freeze_epochs must be >= 0 (got {self.freeze_epochs})")
        _check(self.pretrained_lr > 0, f"pretrained_lr must be positive (got {self.pretrained_lr})")

    @property
    def pretrained(self) -> bool:
        return bool(self.embeddings or self.encoder)




STAGES = (DataConfig, TokenizerConfig, ModelConfig, TrainConfig, InitConfig)


@dataclass(frozen=True)
class PretrainConfig:
    """Training a language model on unlabelled text (`textrnn pretrain`)."""

    panel: ClassVar[str] = "Pretraining"
    epochs: int = setting(10, "Most epochs over the texts (the one with the lowest held-out perplexity is kept).",
                          metavar="N")
    minutes: float | None = setting(None, "Stop after this many minutes (at the end of the batch), keeping the "
                                          "best epoch so far.", metavar="X")
    tokens: int | None = setting(None, "Stop after this many training tokens (at the end of the batch), keeping "
                                       "the best epoch so far: unlike --minutes, the same on every machine.",
                                 metavar="N")
    batch_size: int = setting(64, "Texts per batch.", metavar="N")
    lr: float = setting(3e-3, "AdamW learning rate.", metavar="X")
    lm_dropout: float = setting(0.1, "Dropout on the embeddings and the states while pretraining (the classifier "
                                     "keeps its own --dropout).", metavar="X")
    val_share: float = setting(0.05, "Share of the texts held out to measure perplexity.", metavar="X")
    seed: int = setting(0, "Random seed.", metavar="N")
    precision: TrainPrecision = setting(TrainPrecision.auto, "auto: bfloat16 autocast where the CPU has it natively.")

    def __post_init__(self) -> None:
        choices(self)
        _check(self.epochs >= 1, f"epochs must be at least 1 (got {self.epochs})")
        _check(self.minutes is None or self.minutes > 0, f"minutes must be positive (got {self.minutes})")
        _check(self.tokens is None or self.tokens >= 1, f"tokens must be at least 1 (got {self.tokens})")
        _check(self.batch_size >= 1, f"batch_size must be at least 1 (got {self.batch_size})")
        _check(self.lr > 0, f"lr must be positive (got {self.lr})")
        _check(0.0 <= self.lm_dropout < 1.0, f"lm_dropout must be in [0, 1) (got {self.lm_dropout})")
        _check(0.0 < self.val_share < 0.5, f"val_share must be in (0, 0.5) (got {self.val_share})")


@dataclass(frozen=True)
class Settings:
    """Every setting of a training run, by stage."""

    data: DataConfig = DataConfig()
    tokenizer: TokenizerConfig = TokenizerConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    init: InitConfig = InitConfig()

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> Settings:
        """Settings from flat keyword values (what the CLI parsed), each stage taking its own fields;
        values not given keep their defaults."""
        stages = [stage(**{f.name: options[f.name] for f in fields(stage) if f.name in options})
                  for stage in STAGES]
        return cls(*stages)

    def to_dict(self) -> dict[str, Any]:
        return to_json(self)
