"""Training stage [torch]: fitting the model from its start (textrnn.training.start).

    fit_model        one network, or an ensemble of members from their own seeds (textrnn.training.loop);
                     cross-fitted splits: a network per fold and the final one (textrnn.training.crossfit)
    mix_in_tfidf     then the TF-IDF model beside it (`--linear`), where validation gives it a share
                     (textrnn.training.tfidf), composed into one graph (textrnn.model.tfidf.compose)
    Fitted           the model and what was chosen on the way
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from textrnn.config import TokenizerKind
from textrnn.training.epochs import FitHooks, FitResult, Progress
from textrnn.training.splits import Splits
from textrnn.training.start import Start, member_factory

if TYPE_CHECKING:
    from textrnn.training.crossfit import CrossFit
    from textrnn.training.tfidf import TfidfChoice


@dataclass(frozen=True)
class Fitted:
    """A fitted model and what was chosen on the way."""

    model: Any  # the network(s), Mixed with the TF-IDF model where it has a share; None in a distributed
    #             run's processes that do not write
    fits: list[FitResult]  # the network's (each member's, or the cross-fitted final network's) fits
    tfidf: TfidfChoice | None = None  # the TF-IDF model's record and state, where it was mixed in
    cross_fit: CrossFit | None = None  # what a cross-fitted fit chose on (textrnn.training.crossfit)


def fit_model(splits: Splits, start: Start, progress: Progress | None,
              hooks: FitHooks | None, tfidf: bool = True) -> Fitted:
    """The model, fitted: one network, or an ensemble of members from different seeds, each started
    from the pretrained knowledge (if any); then, with `tfidf` and the setting (`--linear`) on, mixed
    with the TF-IDF model (`mix_in_tfidf`). Cross-fitted splits: see `fit_cross_fitted`."""
    from textrnn.data.tokens import encode_compact
    from textrnn.model import Ensemble
    from textrnn.training.loop import fit_members

    if splits.cross_fitted:  # a network per fold, then the final one (textrnn.training.crossfit)
        from textrnn.training.crossfit import fit_cross_fitted

        make_member, pretrained = member_factory(splits, start)
        model, choice, cross_fit, notes = fit_cross_fitted(splits, start, make_member, pretrained, progress, hooks)
        start.notes += notes
        return Fitted(model, cross_fit.fitted.fits, choice, cross_fit)
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
        return Fitted(None, fits)
    fitted = Fitted(models[0] if len(models) == 1 else Ensemble(models, splits.task), fits)
    return mix_in_tfidf(fitted, splits, start, progress, (train_ids, val_ids)) if tfidf else fitted


def mix_in_tfidf(fitted: Fitted, splits: Splits, start: Start, progress: Progress | None,
                 ids: tuple[Any, Any] | None = None) -> Fitted:
    """The fitted network mixed with the TF-IDF model where the settings ask for one and validation
    gives it a share (textrnn.training.tfidf); `ids`: the training and validation token ids, if at hand."""
    from textrnn.data.tokens import encode_compact
    from textrnn.model.tfidf import compose
    from textrnn.training.tfidf import choose_tfidf, content_tokens_of

    tokenizer, settings = start.tokenizer, start.settings
    if not settings.model.linear:
        return fitted
    if progress:
        progress.on_stage("Fitting the linear n-gram model")
    train_ids, val_ids = ids or (encode_compact(tokenizer, splits.train.texts),
                                 encode_compact(tokenizer, splits.val.texts))
    vocab = tokenizer.get_vocab_size()
    choice = choose_tfidf(fitted.model, splits.task, train_ids, splits.targets("train"), val_ids,
                          splits.targets("val"), vocab, settings.train.seed,
                          content_tokens_of(tokenizer, settings.tokenizer.kind == TokenizerKind.word),
                          refit=splits.info["val"].source != "file")  # a validation file stays held out
    if choice is None:
        return fitted
    return replace(fitted, model=compose(fitted.model, splits.task, vocab, choice.info, choice.state), tfidf=choice)
