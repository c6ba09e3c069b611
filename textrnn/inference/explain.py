"""Inference stage: why the model said what it said, on the exported ONNX model, without torch.

Occlusion from both ends: each token of a text is deleted in turn (the text and its n
one-token-shorter variants run as one ONNX Runtime batch; padding never changes a result), and each
token is also read alone (n one-token texts and the empty text: a second, tiny batch). In the
label's log-odds, ln(p / (1 - p)), a token's `removed` is how much they fall when it is deleted
from the text, its `alone` how much they rise from the empty text to the token alone, and its
`weight` the mean of the two: positive, the token pushes the model towards the label; negative,
away from it. These are the token's marginal contributions last and first in Shapley's
permutations: for a model that adds up its tokens' effects in log-odds both equal that effect, and
for a two-token text their mean is the Shapley value. The deletion alone misses a word whose
neighbour says the same ("how many": either is enough); the word alone catches it (on 200 test
texts, comprehensiveness at 20% went from 0.42 to 0.43 on SST-2 and 0.50 to 0.52 on TREC, at the
cost of n + 1 one-token rows: benchmarks/results-explain.md).

The linear n-gram part (the TF-IDF model, textrnn.model.tfidf), where the model has one, is a sum over n-grams: its
logit for a label is bias + the sum over the text's n-grams of tfidf(n-gram) x weight(n-gram, label),
read here from the graph's own initialisers, so those terms are exact, not estimated. A unigram's
term goes to its token, a bigram's half to each of its two tokens, so a text's `linear` token terms
add up to the linear part's logit minus its bias. For a single-label model the logit is the label's
against the mean of the other labels' (for two classes: the linear part's log-odds); for a
multi-label model, the label's own logit (its log-odds).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from textrnn.data.tokens import bigram_keys
from textrnn.errors import ConfigError
from textrnn.tokenizer import UNK_ID

if TYPE_CHECKING:
    from textrnn.tasks import Prediction

EPS = 1e-7  # probabilities are clipped to [EPS, 1 - EPS] before their log-odds
NOTHING = "no known token: nothing to explain"
EMPTY = "empty text: nothing to explain"
SPLIT_FROM = 8  # tokens: one text's rows are split across two workers from this length


@dataclass(frozen=True)
class TokenWeight:
    """One token: its characters in the original text [start, end), its weight (the mean of `removed`
    and `alone`, log-odds), and its exact term in the linear part (None: no linear part)."""

    token: str
    start: int
    end: int
    weight: float
    removed: float  # the fall in the label's log-odds when the token is deleted from the text
    alone: float  # the rise from the empty text to the token alone
    linear: float | None = None
    known: bool = True  # False: the vocabulary's unknown token


@dataclass(frozen=True)
class NgramTerm:
    """One n-gram of the linear part: its characters and its exact term of the label's logit."""

    ngram: str
    start: int
    end: int
    weight: float


@dataclass(frozen=True)
class LinearTerms:
    """The linear part for one text and label: its share of the mix, logit = bias + sum of the terms."""

    share: float
    logit: float
    bias: float
    ngrams: tuple[NgramTerm, ...]


@dataclass(frozen=True)
class Explanation:
    """Why one label: its probability, every token's weight, the linear part's terms; `note` says why
    there is nothing to explain (an empty text, only unknown tokens)."""

    label: str
    probability: float
    tokens: tuple[TokenWeight, ...]
    linear: LinearTerms | None = None
    note: str | None = None


@dataclass(frozen=True)
class TextExplanation:
    """A text, its prediction, and one explanation per label explained (single-label: the predicted
    or asked label; multi-label: each chosen label, or the asked one). `truncated`: the text has
    more tokens than the model reads (the rest are not explained)."""

    text: str
    prediction: Prediction
    explanations: tuple[Explanation, ...]
    truncated: bool = False


@dataclass(frozen=True)
class LinearTables:
    """The linear n-gram part's tables, as the graph holds them (see textrnn.model.tfidf)."""

    keep: np.ndarray  # (vocab,) bool: content tokens
    rows: np.ndarray  # (vocab + buckets,) feature row of each key (0: not a feature)
    idf: np.ndarray  # (features + 1,)
    weight: np.ndarray  # (features + 1, classes)
    bias: np.ndarray  # (classes,)
    share: float  # alpha: its share of the mixed probabilities

    @property
    def vocab_size(self) -> int:
        return len(self.keep)

    @property
    def buckets(self) -> int:
        return len(self.rows) - len(self.keep)

    @classmethod
    def from_onnx(cls, paths: Sequence[Path], share: float) -> LinearTables | None:
        """The tables from the first of `paths` that holds them as floats (an int8 model may hold
        them quantized: then the fp32 file's); None when none has a linear part."""
        import onnx
        from onnx import numpy_helper

        names = ("linear.keep", "linear.rows", "linear.idf", "linear.bias")
        tables = ("linear.weight", "linear.cols", "linear.vals")  # dense (earlier folders) or sparse
        for path in paths:
            graph = onnx.load(str(path)).graph
            found = {i.name: numpy_helper.to_array(i) for i in graph.initializer if i.name in names + tables}
            if not all(name in found for name in names):
                continue
            if "linear.cols" in found and "linear.vals" in found and found["linear.vals"].dtype == np.float16:
                cols, vals = found["linear.cols"].astype(np.int64), found["linear.vals"].astype(np.float32)
                weight = np.zeros((len(cols), len(found["linear.bias"])), np.float32)  # as model/table.py's dense()
                np.add.at(weight, (np.arange(len(cols))[:, None], cols), vals)
            elif "linear.weight" in found and found["linear.weight"].dtype == np.float32:
                weight = found["linear.weight"]
            else:
                continue
            return cls(found["linear.keep"].astype(bool), found["linear.rows"].astype(np.int64),
                       found["linear.idf"].astype(np.float64), weight.astype(np.float64),
                       found["linear.bias"].astype(np.float64), float(share))
        return None

    def terms(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The text's n-grams: (first token position, last token position, terms (grams, classes));
        n-grams that are not features have zero terms. Their sum plus the bias is the graph's logits."""
        ids = np.asarray(ids, dtype=np.int64)
        v = self.vocab_size
        kept = self.keep[ids]
        uni = np.flatnonzero(kept)
        pairs = np.flatnonzero(kept[:-1] & kept[1:])
        keys = np.concatenate([ids[uni], bigram_keys(ids[pairs], ids[pairs + 1], v, self.buckets)])
        rows = self.rows[keys]
        idf = self.idf[rows]
        norm = max(float(np.sqrt(np.sum(idf**2))), 1e-6)
        terms = (idf / norm)[:, None] * self.weight[rows]
        return np.concatenate([uni, pairs]), np.concatenate([uni, pairs + 1]), terms


def label_direction(kind: str, classes: int, label: int) -> np.ndarray:
    """The combination of logits explained for `label`: its own (multi-label), or its own against the
    mean of the others' (single-label: for two classes, the log-odds)."""
    d = np.zeros(classes)
    d[label] = 1.0
    if kind != "multi_label" and classes > 1:
        d[np.arange(classes) != label] = -1.0 / (classes - 1)
    return d


def log_odds(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def occlusion_batch(ids: np.ndarray) -> np.ndarray:
    """(n + 1, n) token ids: the text, then the text without token i for each i (right-padded with 0;
    a one-token text without its token is the unknown token, as `predict` reads an empty text)."""
    n = len(ids)
    batch = np.zeros((n + 1, n), dtype=np.int64)
    batch[0] = ids
    if n == 1:
        batch[1, 0] = UNK_ID
        return batch
    others = ~np.eye(n, dtype=bool)
    batch[1:, : n - 1] = np.broadcast_to(ids, (n, n))[others].reshape(n, n - 1)
    return batch


class Explainer:
    """Explanations of a Predictor's model; the linear part's tables are read once."""

    def __init__(self, predictor: Any) -> None:  # a textrnn.inference.predictor.Predictor
        self.predictor = predictor
        self.task = predictor.task
        self.labels = list(predictor.labels)
        self.kind = self.task.kind
        folder = predictor.folder
        self.linear: LinearTables | None = None
        if folder.metadata.linear is not None:
            from textrnn.folder.store import ONNX_FILE

            self.linear = LinearTables.from_onnx([predictor.onnx_path, folder.path / ONNX_FILE],
                                                 folder.metadata.linear.alpha)

    def label_index(self, label: str | None) -> int | None:
        if label is None:
            return None
        if label not in self.labels:
            shown = ", ".join(self.labels[:10]) + (", ..." if len(self.labels) > 10 else "")
            raise ConfigError(f"the model has no label {label!r} (its labels: {shown})")
        return self.labels.index(label)

    def run(self, ids: np.ndarray, split: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities of the text and of it without each token (n + 1, classes), and of each token
        alone and of the empty text (n + 1, classes): two batches, or with `split` three run side by
        side on the predictor's workers (one text's latency on two cores)."""
        singles = np.concatenate([ids, [UNK_ID]])[:, None]  # the empty text reads as the unknown token
        deleted = occlusion_batch(ids)
        if not split or self.predictor.workers == 1 or len(ids) < SPLIT_FROM:
            return self.predictor.probabilities(deleted), self.predictor.probabilities(singles)
        half = (len(deleted) + 1) // 2
        a, b, c = self._pool().map(self.predictor.probabilities, [deleted[:half], deleted[half:], singles])
        return np.concatenate([a, b]), c

    def explain_one(self, text: str, label: int | None = None, min_labels: int = 1,
                    top_k: int | None = None, split: bool = False) -> TextExplanation:
        """One text: the runs of its variants (see `run`), then each label's weights."""
        enc = self.predictor.tokenizer.encode(text, add_special_tokens=False)
        ids = np.asarray(enc.ids or [UNK_ID], dtype=np.int64)
        known = ids != UNK_ID
        nothing = EMPTY if not enc.ids else NOTHING if not known.any() else None
        if nothing:
            probs = self.predictor.probabilities(ids[None, :])
        else:
            probs, alone = self.run(ids, split)
        prediction = self.task.decode([text], probs[:1], top_k or (None if self.kind == "multi_label" else 1),
                                      min_labels)[0]
        if label is not None:
            chosen = [label]
        else:
            chosen = [self.labels.index(name) for name, _ in prediction.top]
        explanations = []
        for c in chosen:
            p = float(probs[0, c])
            if nothing:
                explanations.append(Explanation(self.labels[c], p, (), None, nothing))
                continue
            removed = log_odds(p) - log_odds(probs[1:, c])
            gained = log_odds(alone[:-1, c]) - log_odds(alone[-1, c])
            weight = (removed + gained) / 2
            token_linear, linear = self._linear(text, ids, enc.offsets, c)
            tokens = tuple(TokenWeight(text[a:b], a, b, float(weight[i]), float(removed[i]), float(gained[i]),
                                       None if token_linear is None else float(token_linear[i]), bool(known[i]))
                           for i, (a, b) in enumerate(enc.offsets))
            explanations.append(Explanation(self.labels[c], p, tokens, linear))
        return TextExplanation(text, prediction, tuple(explanations), bool(enc.overflowing))

    def _linear(self, text: str, ids: np.ndarray, offsets: list[tuple[int, int]],
                c: int) -> tuple[np.ndarray | None, LinearTerms | None]:
        """Each token's exact term of the linear part's logit for label c, and its n-gram terms."""
        if self.linear is None:
            return None, None
        first, last, terms = self.linear.terms(ids)
        d = label_direction(self.kind, len(self.labels), c)
        g = terms @ d
        per_token = np.zeros(len(ids))
        single = first == last
        np.add.at(per_token, first[single], g[single])
        np.add.at(per_token, first[~single], g[~single] / 2)
        np.add.at(per_token, last[~single], g[~single] / 2)
        bias = float(self.linear.bias @ d)
        ngrams = tuple(NgramTerm(text[offsets[i][0]: offsets[j][1]], offsets[i][0], offsets[j][1], float(w))
                       for i, j, w in zip(first, last, g, strict=True) if w != 0.0)
        return per_token, LinearTerms(self.linear.share, bias + float(g.sum()), bias, ngrams)

    def explain(self, texts: Sequence[str], label: str | None = None, min_labels: int = 1,
                top_k: int | None = None) -> list[TextExplanation]:
        """Explanations of `texts`, in order (texts run side by side on the predictor's workers): of
        `label`, else of each label the prediction gives (the top_k, or a multi-label model's chosen ones)."""
        c = self.label_index(label)
        if self.predictor.workers == 1 or len(texts) < 2:
            return [self.explain_one(t, c, min_labels, top_k, split=True) for t in texts]
        return list(self._pool().map(lambda t: self.explain_one(t, c, min_labels, top_k), texts))

    def explain_stream(self, texts: Iterable[str], label: str | None = None, min_labels: int = 1,
                       top_k: int | None = None, chunk_size: int = 256) -> Iterator[list[TextExplanation]]:
        """Explanations of any number of texts, a chunk at a time, in input order."""
        it = iter(texts)
        self.label_index(label)  # refuse an unknown label before reading anything
        while chunk := list(islice(it, chunk_size)):
            yield self.explain(chunk, label, min_labels, top_k)

    def _pool(self):  # a ThreadPoolExecutor, made on first use
        if getattr(self, "_executor", None) is None:
            from concurrent.futures import ThreadPoolExecutor

            self._executor = ThreadPoolExecutor(self.predictor.workers, thread_name_prefix="textrnn-explain")
        return self._executor
