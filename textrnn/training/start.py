"""Training stage [torch]: where a model starts, before it is fitted.

    prepare_start      the tokenizer and the settings that fit it, and the pretrained knowledge a new
                       network is filled from: an encoder (`--init`), word vectors (`--embeddings`), or
                       a language model pretrained on the training texts (`pretrains`: automatic
                       from 1,000 to 50,000 texts), on the run's one device (`--device`, resolved once)
    member_factory     builds each new network (ensemble member, fold network) from that start
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textrnn.config import Settings
from textrnn.folder.records import PretrainedInfo
from textrnn.training.epochs import FitHooks, Progress
from textrnn.training.loop import PretrainedLayers
from textrnn.training.splits import Splits

if TYPE_CHECKING:
    import torch


@dataclass
class Start:
    """What a model starts from: the tokenizer, the settings that fit it, pretrained knowledge."""

    tokenizer: Any
    settings: Settings
    initialize: Callable[[Any], list[str]] | None = None  # fills a new member; returns the names filled
    info: PretrainedInfo | None = None
    notes: list[str] = field(default_factory=list)


def prepare_start(splits: Splits, settings: Settings, progress: Progress | None = None,
                  hooks: FitHooks | None = None) -> Start:
    """Train the tokenizer, or take it (and the sizes) from a pretrained encoder; read word vectors;
    pretrain a language model on the training texts, on the device the run trains on (`--device`:
    the same device and precision as the fit's, textrnn.training.devices). `hooks`: the run's (in a
    distributed run, every process pretrains the same language model and they stop together)."""
    from textrnn.tokenizer import train_tokenizer
    from textrnn.training.devices import resolve_device

    init = settings.init
    if pretrains(settings, splits):
        device = resolve_device(settings.train.device)
        return _pretrained_on_training_texts(splits, settings, progress, device, hooks)
    if init.encoder:
        from textrnn.model.pretrained import encoder_initializer
        from textrnn.training.pretrain import load_encoder

        meta, tokenizer, state = load_encoder(init.encoder)
        m = meta.model
        model = replace(settings.model, cell=m.cell, activation=m.activation, bidirectional=m.bidirectional,
                        layers=m.layers, embedding_dim=m.embedding_dim, hidden_size=m.hidden_size)
        start = Start(tokenizer, replace(settings, tokenizer=meta.tokenizer, model=model), encoder_initializer(state))
        start.info = PretrainedInfo("language model", str(Path(init.encoder).resolve()), dim=m.embedding_dim,
                                    perplexity=meta.history[meta.best_epoch - 1].val_perplexity
                                    if meta.best_epoch else None)
        if model != settings.model:
            start.notes.append(f"the encoder's sizes are used: {model.cell} {model.layers}x{model.hidden_size}, "
                               f"embedding {model.embedding_dim}, {'bi' if model.bidirectional else 'uni'}directional")
        return start
    if init.embeddings:
        from textrnn.data.vectors import read_vectors
        from textrnn.errors import ConfigError, DataError
        from textrnn.model.pretrained import coverage, vector_initializer
        from textrnn.tokenizer import word_counts

        if settings.tokenizer.kind != "word":
            raise ConfigError(f"--embeddings maps word vectors onto whole words: use --tokenizer word "
                              f"(got {settings.tokenizer.kind})")
        counts = word_counts(splits.train.texts, settings.tokenizer)
        vectors = read_vectors(init.embeddings, set(counts), lowercase_match=True)
        if not vectors.vectors:
            raise DataError(f"{init.embeddings} has no vector for any word of the training data "
                            f"({len(counts):,} words; {vectors.read:,} vectors read): wrong language or tokenization?")
        notes = []
        if vectors.dim != settings.model.embedding_dim:
            notes.append(f"the vectors have {vectors.dim} dimensions: --embedding-dim {vectors.dim} "
                         f"(was {settings.model.embedding_dim})")
            settings = replace(settings, model=replace(settings.model, embedding_dim=vectors.dim))
        tokenizer = train_tokenizer(splits.train.texts, settings.tokenizer, keep=vectors.vectors.__contains__)
        vocab = tokenizer.get_vocab()
        cov = coverage(vectors.vectors, vocab, counts)
        info = PretrainedInfo("word vectors", str(Path(init.embeddings).resolve()), vectors.sha256, vectors.dim,
                              vectors.format, cov.vocab, cov.types, round(cov.tokens, 4), vectors.bad_lines,
                              vectors.duplicates, vectors.lowercase_matches)
        share = cov.types / max(cov.vocab, 1)
        notes.append(f"vectors for {cov.types:,} of {cov.vocab:,} vocabulary words ({share:.1%}), "
                     f"{cov.tokens:.1%} of training tokens"
                     + (f"; {vectors.bad_lines:,} bad lines skipped" if vectors.bad_lines else ""))
        return Start(tokenizer, settings, vector_initializer(vectors.vectors, vocab, vectors.dim), info, notes)
    return Start(train_tokenizer(splits.train.texts, settings.tokenizer), settings)


MIN_PRETRAIN_TEXTS = 1000  # auto: below this, too little text for a language model to learn from
MAX_PRETRAIN_TEXTS = 50_000  # auto: from this, the labelled texts teach enough (sst2: 81.9 without, 81.1 with)


def pretrains(settings: Settings, splits: Splits) -> bool:
    """Whether this run pretrains a language model on its training texts: --pretrain on, or auto with no
    other knowledge given (--init, --embeddings) and MIN_PRETRAIN_TEXTS to MAX_PRETRAIN_TEXTS training texts."""
    init = settings.init
    if init.pretrained or init.pretrain == "off":
        return False
    return init.pretrain == "on" or MIN_PRETRAIN_TEXTS <= len(splits.train) < MAX_PRETRAIN_TEXTS


def _pretrained_on_training_texts(splits: Splits, settings: Settings, progress: Progress | None,
                                  device: torch.device, hooks: FitHooks | None) -> Start:
    from textrnn.config import PretrainConfig
    from textrnn.model.pretrained import encoder_initializer
    from textrnn.tokenizer import encode, train_tokenizer
    from textrnn.training.pretrain import fit_language_model

    tokenizer = train_tokenizer(splits.train.texts, settings.tokenizer)
    if progress:
        progress.on_stage("Pretraining a language model on the training texts")
    config = PretrainConfig(epochs=settings.init.pretrain_epochs, minutes=settings.init.pretrain_minutes,
                            tokens=settings.init.pretrain_tokens,
                            seed=settings.train.seed, precision=settings.train.precision)
    metric = getattr(progress, "metric", None)
    if metric is not None:  # the progress lines speak of perplexity meanwhile
        progress.metric = "perplexity"
    try:
        result = fit_language_model(encode(tokenizer, splits.train.texts), tokenizer.get_vocab_size(), settings.model,
                                    config, progress, keep_on_interrupt=False,  # Ctrl-C here ends the job
                                    device=device, hooks=hooks)
    finally:
        if metric is not None:
            progress.metric = metric
    best = result.history[result.best_epoch - 1]
    info = PretrainedInfo("language model", "the training texts", dim=settings.model.embedding_dim,
                          perplexity=round(best.val_perplexity, 2))
    return Start(tokenizer, settings, encoder_initializer(result.model.encoder_state()), info,
                 [f"language model: held-out perplexity {best.val_perplexity:.1f} after {result.best_epoch} "
                  f"epochs ({result.seconds:.0f} s)"])


def member_factory(splits: Splits, start: Start) -> tuple[Callable[[], Any], PretrainedLayers | None]:
    """(a function that builds a new member, started from the pretrained knowledge; how training treats
    the pretrained layers, if any). Records the layers filled in `start.info`."""
    from textrnn.model import build_member

    settings, vocab = start.settings, start.tokenizer.get_vocab_size()
    filled: list[str] = []

    def make_member() -> Any:
        member = build_member(settings.model, vocab, splits.task)
        if start.initialize is not None:
            filled[:] = start.initialize(member)
        return member

    if start.initialize is None:
        return make_member, None
    filled[:] = start.initialize(build_member(settings.model, vocab, splits.task))
    pretrained = PretrainedLayers(tuple(filled), settings.init.freeze_epochs, settings.init.pretrained_lr)
    start.info = replace(start.info, layers=tuple(filled), freeze_epochs=pretrained.freeze_epochs,
                         lr_scale=pretrained.lr_scale)
    return make_member, pretrained
