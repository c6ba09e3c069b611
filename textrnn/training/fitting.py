"""Training stage [torch]: fitting the model from its start (textrnn.training.start).

    fit_model        one network, or an ensemble of members from their own seeds (textrnn.training.loop);
                     cross-fitted splits: a network per fold and the final one (textrnn.training.crossfit)
    mix_in_linear    then the linear n-gram model beside it, where validation gives it a share
                     (textrnn.training.linear)
"""

from __future__ import annotations

from typing import Any

from textrnn.config import TokenizerKind
from textrnn.training.loop import FitHooks, FitResult, Progress
from textrnn.training.splits import Splits
from textrnn.training.start import Start, member_factory


def fit_model(splits: Splits, start: Start, progress: Progress | None,
              hooks: FitHooks | None, linear: bool = True) -> tuple[Any, list[FitResult], Start]:
    """The model, fitted: one network, or an ensemble of members from different seeds, each started
    from the pretrained knowledge (if any); then, with `linear` and the setting on, mixed with the
    linear n-gram model (`mix_in_linear`). Cross-fitted splits: see `fit_cross_fitted`."""
    from textrnn.data.tokens import encode_compact
    from textrnn.model import Ensemble
    from textrnn.training.loop import fit_members

    if splits.cross_fitted:  # a network per fold, then the final one (textrnn.training.crossfit)
        from textrnn.training.crossfit import fit_cross_fitted

        make_member, pretrained = member_factory(splits, start)
        model, fits, start.cross_fit, notes = fit_cross_fitted(splits, start, make_member, pretrained, progress, hooks)
        start.notes += notes
        return model, fits, start
    tokenizer, settings = start.tokenizer, start.settings
    # one flat array of ids each, not a million small arrays
    train_ids, val_ids = encode_compact(tokenizer, splits.train.texts), encode_compact(tokenizer, splits.val.texts)
    members = settings.model.members

    def on_member(i: int, n: int) -> None:
        if n > 1 and progress:
            progress.on_stage(f"Training member {i + 1} of {n}")

    make_member, pretrained = member_factory(splits, start)
    models, fits = fit_members(make_member, members, splits.task, train_ids, splits.targets("train"), val_ids,
                               splits.targets("val"), settings.train, progress, on_member, hooks, pretrained)
    if not models:  # a process of a distributed run other than the writer: the writer has the members
        return None, fits, start
    model = models[0] if len(models) == 1 else Ensemble(models, splits.task)
    if linear:
        model = mix_in_linear(model, splits, start, progress, (train_ids, val_ids))
    return model, fits, start


def mix_in_linear(model: Any, splits: Splits, start: Start, progress: Progress | None,
                  ids: tuple[Any, Any] | None = None) -> Any:
    """The fitted network mixed with a linear n-gram model where the settings ask for one and validation
    gives it a share (textrnn.training.linear); `ids`: the training and validation token ids, if at hand."""
    from textrnn.data.tokens import encode_compact
    from textrnn.training.linear import content_tokens, mix_linear

    tokenizer, settings = start.tokenizer, start.settings
    if not settings.model.linear:
        return model
    if progress:
        progress.on_stage("Fitting the linear n-gram model")
    train_ids, val_ids = ids or (encode_compact(tokenizer, splits.train.texts),
                                 encode_compact(tokenizer, splits.val.texts))
    return mix_linear(model, splits.task, train_ids, splits.targets("train"), val_ids, splits.targets("val"),
                      tokenizer.get_vocab_size(), settings.train.seed,
                      content_tokens(tokenizer.get_vocab(), tokenizer.get_vocab_size(),
                                     settings.tokenizer.kind == TokenizerKind.word),
                      refit=splits.info["val"].source != "file")  # a validation file stays held out
