"""Inference stage: why the model said what it said, on the exported ONNX model, without torch.

Greedy deletion, in three small ONNX Runtime batches (`Explainer.weigh`): each token alone, then
the text without each candidate token (every token of a text of up to 8, else the quarter strongest
alone, at least 5), then, once the first token (whose deletion lowers the label most) is gone, the
deletion of each of the next tokens by weight (a quarter of them, at least 3). In the label's
log-odds, ln(p / (1 - p)), a token's `removed` is how much they fall when it is deleted from the
text (None where not measured), its `alone` how much they rise from the empty text to the token
alone. Its `weight` ranks the tokens as deleting them one after the other would (see `weigh`):
positive, the token pushes the model towards the label; negative, away. Removing the top-ranked
tokens is what ERASER's comprehensiveness measures: on 200 test texts of SST-2 and of TREC it lost
at least as much of the label's probability as LIME's 5,000 samples (benchmarks/results-explain.md).

The linear n-gram part (the TF-IDF model, textrnn.model.tfidf), where the model has one, is a sum over n-grams: its
logit for a label is bias + the sum over the text's n-grams of tfidf(n-gram) x weight(n-gram, label),
read here from the graph's own initialisers, so those terms are exact, not estimated. A unigram's
term goes to its token, a bigram's half to each of its two tokens, so a text's `linear` token terms
add up to the linear part's logit minus its bias. For a single-label model the logit is the label's
against the mean of the other labels' (for two classes: the linear part's log-odds); for a
multi-label model, the label's own logit (its log-odds).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
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
PARALLEL_FROM = 400  # token steps: the first two batches run side by side from this size
SPLIT_FROM = 400  # token steps (rows x tokens): a batch this large is split across two workers (measured:
# below, handing a batch to a thread cost more than it saved, one text at a time on 2 cores)
CANDIDATES = 8  # tokens whose removal is measured: every token of a text this short
CANDIDATES_LONG = 5  # a longer one: at least this many,
CANDIDATE_SHARE = 0.25  # or this share of its tokens, the strongest alone
SECOND = 3  # tokens whose removal is measured again once the first token is gone: at least this many
SECOND_SHARE = 0.25  # and this share of a longer text's tokens


@dataclass(frozen=True)
class TokenWeight:
    """One token: its characters in the original text [start, end), its weight (the mean of `removed`
    and `alone`, log-odds), and its exact term in the linear part (None: no linear part)."""

    token: str
    start: int
    end: int
    weight: float
    removed: float | None  # the fall in the label's log-odds when the token is deleted (None: not measured)
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
    sublinear: bool = False  # a feature's count weighs 1 + ln(count) (textrnn.model.tfidf)

    @property
    def vocab_size(self) -> int:
        return len(self.keep)

    @property
    def buckets(self) -> int:
        return len(self.rows) - len(self.keep)

    @classmethod
    def from_onnx(cls, paths: Sequence[Path], share: float, sublinear: bool = False) -> LinearTables | None:
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
                       found["linear.bias"].astype(np.float64), float(share), sublinear)
        return None

    def terms(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The text's n-grams: (first token position, last token position, terms (grams, classes));
        n-grams that are not features have zero terms. Their sum plus the bias is the graph's logits."""
        ids = np.asarray(ids, dtype=np.int64)
        kept = self.keep[ids]
        uni, pairs = np.flatnonzero(kept), np.flatnonzero(kept[:-1] & kept[1:])
        rows = self.rows[np.concatenate([ids[uni], bigram_keys(ids[pairs], ids[pairs + 1], self.vocab_size,
                                                                 self.buckets)])]
        # as the graph: sublinear, each occurrence of a feature seen c times carries (1 + ln c) / c of it
        count = (rows[:, None] == rows[None, :]).sum(axis=1) if self.sublinear else np.ones(len(rows))
        idf = self.idf[rows] * (1.0 + np.log(count)) / count if self.sublinear else self.idf[rows]
        norm = max(float(np.sqrt(np.sum(idf**2 * count))), 1e-6)
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


def deletions(ids: np.ndarray, sets: Sequence[Sequence[int]]) -> np.ndarray:
    """(len(sets), n - k) token ids: the text without each set of k positions (an empty result is the
    unknown token, as `predict` reads an empty text)."""
    if not len(sets):
        return np.zeros((0, max(len(ids) - 1, 1)), dtype=np.int64)
    keep = np.ones((len(sets), len(ids)), dtype=bool)
    keep[np.arange(len(sets))[:, None], np.asarray(sets)] = False
    width = len(ids) - len(sets[0])
    if width <= 0:
        return np.full((len(sets), 1), UNK_ID, dtype=np.int64)
    return np.repeat(ids[None, :], len(sets), axis=0)[keep].reshape(len(sets), width)


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
                                                 folder.metadata.linear.alpha, folder.metadata.linear.sublinear_tf)

    def label_index(self, label: str | None) -> int | None:
        if label is None:
            return None
        if label not in self.labels:
            shown = ", ".join(self.labels[:10]) + (", ..." if len(self.labels) > 10 else "")
            raise ConfigError(f"the model has no label {label!r} (its labels: {shown})")
        return self.labels.index(label)

    def run(self, ids: np.ndarray, split: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities of the text and of it without each token (n + 1, classes), and of each token
        alone and of the empty text (n + 1, classes): every token, every label at once (the report's
        per-class words average (removed + alone) / 2 over many texts: textrnn.inference.drivers)."""
        singles = np.concatenate([ids, [UNK_ID]])[:, None]  # the empty text reads as the unknown token
        return self._probabilities(occlusion_batch(ids), split), self.predictor.probabilities(singles)

    def _probabilities(self, batch: np.ndarray, split: bool) -> np.ndarray:
        """One batch's probabilities; with `split`, a large one runs in two halves side by side on the
        predictor's workers (one text's latency on two cores)."""
        if not split or self.predictor.workers == 1 or batch.size < SPLIT_FROM or len(batch) < 2:
            return self.predictor.probabilities(batch)
        half = (len(batch) + 1) // 2
        return np.concatenate(list(self._pool().map(self.predictor.probabilities, [batch[:half], batch[half:]])))

    def weigh(self, ids: np.ndarray, chosen: Callable[[np.ndarray], list[int]],
              split: bool = False) -> tuple[np.ndarray, dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]]:
        """The text's probabilities and, for each label `chosen(probabilities)` names, every token's
        (weight, removed, alone) in log-odds (removed: NaN where not measured). Three rounds of runs:

        1. the text, and each token alone (n + 1 one-token rows: the tokens and the empty text);
        2. the text without each candidate: every token of a text of up to CANDIDATES tokens (run
           with the text), else the CANDIDATE_SHARE of its tokens (at least CANDIDATES_LONG) strongest alone;
        3. the text without the first token (the candidate whose removal lowers the label's log-odds
           most) and without one more token, for the next max(SECOND, SECOND_SHARE * n) tokens by
           weight: each one's fall once the first is gone, `after` (a word whose neighbour says the
           same, "a funny, witty film", falls little while the other is there).

        About n * n / 2 token steps (rows x tokens) for a long text, against about 250 n for LIME's
        500 samples: a 25th at 20 tokens, a 10th at 50 (the model's time follows the token steps).

        Weights follow greedy deletion, which is what removing the top tokens measures: the first
        token is ranked first, the token with the largest `after` second, then the second round's
        others by the mean of `after` and (removed + alone) / 2; the remaining candidates weigh
        (removed + alone) / 2 and the other tokens alone / 2 (removal not measured: taken as 0),
        at most the second round's least positive weight.
        """
        n = len(ids)
        singles = np.concatenate([ids, [UNK_ID]])[:, None]
        short = n <= CANDIDATES  # every token a candidate: the text and its deletions in one batch
        first_batch = occlusion_batch(ids) if short else ids[None, :]
        if split and self.predictor.workers > 1 and first_batch.size >= PARALLEL_FROM:
            probs, singles = self._pool().map(self.predictor.probabilities, [first_batch, singles])
        else:
            probs, singles = self.predictor.probabilities(first_batch), self.predictor.probabilities(singles)
        labels = chosen(probs[:1])
        if not labels:  # a multi-label model that chose none (--min-labels 0)
            return probs[:1], {}
        alone = {c: log_odds(singles[:-1, c]) - log_odds(singles[-1, c]) for c in labels}
        m = n if short else max(CANDIDATES_LONG, int(np.ceil(CANDIDATE_SHARE * n)))
        picks = {c: np.argsort(-alone[c], kind="stable")[:m] for c in labels}
        cands = np.unique(np.concatenate(list(picks.values())))
        deleted = probs[1:] if short else self._probabilities(deletions(ids, [[i] for i in cands]), split)
        probs = probs[:1]
        base = log_odds(probs[0])
        weights, removed, firsts, seconds, rows = {}, {}, {}, {}, []
        for c in labels:
            removed[c] = np.full(n, np.nan)
            removed[c][cands] = base[c] - log_odds(deleted[:, c])
            pick = picks[c]
            weights[c] = w = alone[c] / 2  # removal not measured: taken as 0
            w[pick] = (removed[c][pick] + alone[c][pick]) / 2
            firsts[c] = first = int(pick[np.argmax(removed[c][pick])])
            order = [int(i) for i in np.argsort(-w, kind="stable") if i != first]
            seconds[c] = order[:max(SECOND, int(np.ceil(SECOND_SHARE * n)))]
            rows += [[first, j] for j in seconds[c]]
        again = self._probabilities(deletions(ids, rows), split) if rows else np.zeros((0, len(self.labels)))
        out, at = {}, 0
        for c in labels:
            w, first, second = weights[c], firsts[c], seconds[c]
            if second:
                after = (base[c] - removed[c][first]) - log_odds(again[at: at + len(second), c])
                at += len(second)
                w[second] = (after + w[second]) / 2
                rest = np.ones(n, dtype=bool)
                rest[second + [first]] = False
                w[rest] = np.minimum(w[rest], np.nextafter(max(w[second].min(), 0.0), -np.inf))
                top = second[int(np.argmax(after))]
                if n > 2:
                    w[top] = max(w[top], np.nextafter(np.delete(w, [first, top]).max(), np.inf))
            others = np.delete(w, first)
            w[first] = max((removed[c][first] + w[first]) / 2, np.nextafter(others.max(), np.inf) if n > 1 else -np.inf)
            out[c] = (w, removed[c], alone[c])
        return probs, out

    def explain_one(self, text: str, label: int | None = None, min_labels: int = 1,
                    top_k: int | None = None, split: bool = False) -> TextExplanation:
        """One text: its runs (see `weigh`), then each label's weights."""
        enc = self.predictor.tokenizer.encode(text, add_special_tokens=False)
        ids = np.asarray(enc.ids or [UNK_ID], dtype=np.int64)
        known = ids != UNK_ID
        nothing = EMPTY if not enc.ids else NOTHING if not known.any() else None
        k = top_k or (None if self.kind == "multi_label" else 1)
        found: dict[str, Any] = {}

        def chosen(probs: np.ndarray) -> list[int]:
            found["prediction"] = prediction = self.task.decode([text], probs[:1], k, min_labels)[0]
            return [label] if label is not None else [self.labels.index(name) for name, _ in prediction.top]

        if nothing:
            probs = self.predictor.probabilities(ids[None, :])
            labels, weights = chosen(probs), {}
        else:
            probs, weights = self.weigh(ids, chosen, split)
            labels = list(weights)
        explanations = []
        for c in labels:
            p = float(probs[0, c])
            if nothing:
                explanations.append(Explanation(self.labels[c], p, (), None, nothing))
                continue
            weight, removed, alone = weights[c]
            token_linear, linear = self._linear(text, ids, enc.offsets, c)
            tokens = tuple(TokenWeight(text[a:b], a, b, float(weight[i]),
                                       None if np.isnan(removed[i]) else float(removed[i]), float(alone[i]),
                                       None if token_linear is None else float(token_linear[i]), bool(known[i]))
                           for i, (a, b) in enumerate(enc.offsets))
            explanations.append(Explanation(self.labels[c], p, tokens, linear))
        return TextExplanation(text, found["prediction"], tuple(explanations), bool(enc.overflowing))

    def _linear(self, text: str, ids: np.ndarray, offsets: list[tuple[int, int]],
                c: int) -> tuple[np.ndarray | None, LinearTerms | None]:
        """Each token's exact term of the linear part's logit for label c, and its n-gram terms."""
        if self.linear is None:
            return None, None
        first, last, terms = self.linear.terms(ids)
        d = label_direction(self.kind, len(self.labels), c)
        g = terms @ d
        pair = first != last  # a unigram's term to its token, a bigram's half to each of its two
        half = np.where(pair, g / 2, g)
        per_token = np.bincount(np.concatenate([first, last[pair]]), np.concatenate([half, half[pair]]), len(ids))
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
