"""`textrnn pretrain TEXTS... --out DIR`: a recurrent encoder trained as a language model on unlabelled
text, for `textrnn train --init DIR`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from textrnn import interrupts
from textrnn.cli.core import err, handle_errors, out
from textrnn.cli.options import TextColumnOption, with_settings
from textrnn.config import ModelConfig, PretrainConfig, TokenizerConfig

# the model settings a language model has (pooling, members, ... belong to the classifier)
ENCODER_FIELDS = ("cell", "activation", "bidirectional", "layers", "embedding_dim", "hidden_size")


@handle_errors
@with_settings(TokenizerConfig, (ModelConfig, ENCODER_FIELDS), PretrainConfig)
def pretrain_cmd(
    texts: Annotated[list[Path], typer.Argument(metavar="TEXTS", help="Files of unlabelled text: one text per line, or the text column of a .csv, .tsv or .jsonl file (your training data works: its labels are ignored).")],
    out_dir: Annotated[Path, typer.Option("--out", metavar="DIR", help="The encoder folder to write.", rich_help_panel="Output")],
    text_column: TextColumnOption = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the --out folder if it is an encoder or model folder (never anything else).", rich_help_panel="Output")] = False,
    **settings: Any,
) -> None:
    """Pretrain an encoder as a language model (forward and backward) on unlabelled text.

    Then `textrnn train DATA --init DIR` starts a classifier from its tokenizer, embedding and
    recurrent layers.

    \b
    Examples:
      textrnn pretrain train.csv extra-texts.txt --out models/lm
      textrnn train train.csv --init models/lm --freeze-epochs 1
    """
    from textrnn.training.pretrain import pretrain
    from textrnn.views.progress import TrainProgress

    progress = TrainProgress(err, metric="perplexity")
    tokenizer = TokenizerConfig(**{k: v for k, v in settings.items() if k in TokenizerConfig.__dataclass_fields__})
    model = ModelConfig(**{k: settings[k] for k in ENCODER_FIELDS})
    config = PretrainConfig(**{k: v for k, v in settings.items() if k in PretrainConfig.__dataclass_fields__})
    with interrupts.watched():
        try:
            folder = pretrain(texts, out_dir, tokenizer, model, config, text_column=text_column, force=force,
                              progress=progress)
        finally:
            progress.stop()
    from textrnn.folder.encoder import read_encoder

    meta = read_encoder(folder)
    best = meta.history[meta.best_epoch - 1]
    if meta.stopped == "interrupted":
        err.print(f"[yellow]interrupted: kept the best of {len(meta.history)} finished epochs[/]")
    out.print(f"Saved {folder} (best epoch {meta.best_epoch} of {len(meta.history)}, {meta.seconds:.0f}s): "
              f"held-out perplexity {best.val_perplexity:.1f}, {meta.vocab_size:,} tokens in the vocabulary, "
              f"{meta.tokens:,} training tokens an epoch", soft_wrap=True)
