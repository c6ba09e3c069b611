"""Inference stage: why the model said what it said, on the exported ONNX model, without torch.

Greedy deletion, in three rounds (`Explainer.weigh`): each token alone (one-token texts, run once per
token id and kept: textrnn.inference.alone), then the text and, in the same ONNX Runtime batch, the
text without each candidate token (every token of a text of up to 8, else the quarter strongest
alone, at least 5), then, once the first token (whose deletion lowers the label most) is gone, the
deletion of each of the next tokens by weight (30% of them, at least 3): two runs a text once its
tokens have been seen. In the label's log-odds, ln(p / (1 - p)), a token's `removed` is how much
they fall when it is deleted from the text (None where not measured), its `alone` how much they rise
from the empty text to the token alone. Its `weight` ranks the tokens as deleting them one after the
other would (see `weigh`): positive, the token pushes the model towards the label; negative, away.
Removing the top-ranked tokens is what ERASER's comprehensiveness measures: on 200 test texts of
SST-2 and of TREC it lost at least as much of the label's probability as LIME's 5,000 samples
(benchmarks/results-explain.md).

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
from typing import TYPE_CHECKING, Any

import numpy as np

from textrnn.errors import ConfigError
from textrnn.folder.store import ONNX_FILE, ONNX_INPUT
from textrnn.inference.alone import AloneCache
from textrnn.inference.linear import LinearTables, LinearTerms, NgramTerm, label_direction
from textrnn.inference.sessions import open_session
from textrnn.tokenizer import UNK_ID

if TYPE_CHECKING:
    from textrnn.tasks import Prediction

EPS = 1e-7  # probabilities are clipped to [EPS, 1 - EPS] before their log-odds
NOTHING = "no known token: nothing to explain"
EMPTY = "empty text: nothing to explain"
PARALLEL_ALONE = True  # a short text's new tokens run alone on the second worker, beside the text
FILL_AFTER = 1  # texts explained before the whole vocabulary runs alone in the background (Explainer.filling)
SPLIT_FROM = 400  # until `threaded` is built (after the first text), one text's batch this large is split by
# rows on two workers (below, handing a batch to a thread cost more than it saved, measured)
CANDIDATES = 8  # tokens whose removal is measured: every token of a text this short
CANDIDATES_LONG = 5  # a longer one: at least this many,
CANDIDATE_SHARE = 0.25  # or this share of its tokens, the strongest alone
SECOND = 3  # tokens whose removal is measured again once the first token is gone: at least this many
SECOND_SHARE = 0.3  # and this share of a longer text's tokens


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


def max_without(w: np.ndarray, *positions: int) -> float:
    """The largest of `w` but at `positions` (-inf when none is left)."""
    rest = w.copy()
    rest[list(positions)] = -np.inf
    return float(rest.max())


def padded(batch: np.ndarray, width: int) -> np.ndarray:
    """`batch` right-padded with 0 to `width` tokens (the text's deletions, in the text's batch)."""
    out = np.zeros((len(batch), width), dtype=np.int64)
    out[:, : batch.shape[1]] = batch
    return out


class Explainer:
    """Explanations of a Predictor's model; the linear part's tables are read once, and each token's
    probabilities alone are kept once run (`alone`, textrnn.inference.alone)."""

    def __init__(self, predictor: Any, background: bool = True) -> None:  # a textrnn.inference.predictor.Predictor
        self.predictor = predictor
        # with two workers, once it has explained more than FILL_AFTER texts, the whole vocabulary runs
        # alone on a thread of its own (`filling`), so that later texts run no one-token rows
        self.background, self.filling, self.explained = background, None, 0
        self.threaded: Any = None  # one text's batches: the model on a session with the workers' threads
        self.task = predictor.task
        self.labels = list(predictor.labels)
        self.kind = self.task.kind
        self.alone = AloneCache(predictor.probabilities, predictor.tokenizer.get_vocab_size(), len(self.labels))
        folder = predictor.folder
        self.linear: LinearTables | None = None
        if folder.metadata.linear is not None:
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
        return self._probabilities(occlusion_batch(ids), split), self.alone(np.append(ids, UNK_ID))

    def _probabilities(self, batch: np.ndarray, split: bool) -> np.ndarray:
        """One batch's probabilities; with `split` (one text's latency on two cores), on `threaded` once
        built, else a large one in two halves side by side on the predictor's workers."""
        if split and self.threaded is not None:
            return self.task.probabilities(self.threaded.run(None, {ONNX_INPUT: batch})[0])
        if not split or self.predictor.workers == 1 or batch.size < SPLIT_FROM or len(batch) < 2:
            return self.predictor.probabilities(batch)
        half = (len(batch) + 1) // 2
        return np.concatenate(list(self._pool().map(self.predictor.probabilities, [batch[:half], batch[half:]])))

    def guess(self, z: np.ndarray, terms: np.ndarray | None) -> np.ndarray:
        """Probabilities (1, classes) guessed before any run, to choose a long text's candidates: the
        linear part's own (free), else the empty text's log-odds plus each token's rise alone (z: the
        log-odds of each token alone, then of the empty text). Only a guess: a wrong one costs one
        more run, never a different explanation (see `weigh`)."""
        if terms is not None and self.linear is not None:
            logits = self.linear.bias + terms.sum(axis=0)
        else:
            logits = z[:-1].sum(axis=0) - (len(z) - 2) * z[-1]
        return self.task.probabilities(logits[None, :])

    def weigh(self, ids: np.ndarray, chosen: Callable[[np.ndarray], list[int]], terms: np.ndarray | None = None,
              split: bool = False) -> tuple[np.ndarray, dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]]:
        """The text's probabilities and, for each label `chosen(probabilities)` names, every token's
        (weight, removed, alone) in log-odds (removed: NaN where not measured). Three rounds:

        1. each token alone, and the empty text: one-token rows, read from `alone` (run once per token
           id: a text of tokens seen before runs none);
        2. the text and, in the same batch (lengths n and n - 1: hardly any padding), the text without
           each candidate: every token of a text of up to CANDIDATES tokens, else the CANDIDATE_SHARE of
           its tokens (at least CANDIDATES_LONG) strongest alone for its label. That label is known
           only from this batch's first row, so a long text's candidates are those of the label
           `guess` gives; when the text's own label differs, the missing deletions run in one more
           batch (the same explanation, to ONNX Runtime's rounding of a row in another batch);
        3. the text without the first token (the candidate whose removal lowers the label's log-odds
           most) and without one more token, for the next max(SECOND, SECOND_SHARE * n) tokens by
           weight: each one's fall once the first is gone, `after` (a word whose neighbour says the
           same, "a funny, witty film", falls little while the other is there).

        About n * n / 2 token steps (rows x tokens) for a long text, against about 250 n for LIME's
        500 samples: a 25th at 20 tokens, a 10th at 50 (the model's time follows the token steps).

        Weights follow greedy deletion, which is what removing the top tokens measures: the first
        token is ranked first, then the second round's tokens by `after` (their weight); the
        remaining candidates weigh (removed + alone) / 2 and the other tokens alone / 2 (removal not
        measured: taken as 0), all shifted down together (their order kept) below the second round's
        least positive weight: a token shifted that far can weigh less than 0.
        """
        n = len(ids)
        singles = np.append(ids, UNK_ID)  # the empty text reads as the unknown token
        m = n if n <= CANDIDATES else max(CANDIDATES_LONG, int(np.ceil(CANDIDATE_SHARE * n)))
        if m == n and split and self.predictor.workers > 1 and PARALLEL_ALONE and self.alone.unseen(singles):
            # tokens not seen before run alone on the other worker while the text runs with its deletions
            pending = self._pool().submit(self.alone, singles)
            first_probs = self._probabilities(occlusion_batch(ids), split)
            z = log_odds(pending.result())
        else:
            first_probs = None
            z = log_odds(self.alone(singles))  # (n + 1, classes)
        alone_all = z[:-1] - z[-1]  # (n, classes)

        def candidates(labels: list[int]) -> tuple[dict[int, np.ndarray], np.ndarray]:
            picks = {c: np.argsort(-alone_all[:, c], kind="stable")[:m] for c in labels}
            if len(picks) == 1:
                return picks, np.sort(picks[labels[0]])
            return picks, (np.unique(np.concatenate(list(picks.values()))) if picks else np.zeros(0, np.int64))

        guessed = None
        if m == n:  # every token a candidate, whatever the label
            ran = np.arange(n)
            first_batch = occlusion_batch(ids) if first_probs is None else None
        else:
            guessed = chosen(self.guess(z, terms))
            ran = candidates(guessed)[1]
            first_batch = np.concatenate([ids[None, :], padded(deletions(ids, ran[:, None]), n)])
        probs = self._probabilities(first_batch, split) if first_probs is None else first_probs
        labels = chosen(probs[:1])
        if not labels:  # a multi-label model that chose none (--min-labels 0)
            return probs[:1], {}
        picks, cands = candidates(labels)
        lo = log_odds(probs)
        missing = [] if guessed is None or guessed == labels else sorted(set(cands.tolist()) - set(ran.tolist()))
        if missing:  # the guess missed: the deletions it did not run
            missing = np.asarray(missing, dtype=np.int64)
            ran = np.concatenate([ran, missing])
            lo = np.concatenate([lo, log_odds(self._probabilities(deletions(ids, missing[:, None]), split))])
        base = lo[0]
        fall = np.full((n, len(self.labels)), np.nan)
        fall[ran] = base - lo[1:]
        weights, removed, firsts, seconds, rows = {}, {}, {}, {}, []
        for c in labels:
            removed[c] = np.full(n, np.nan)
            removed[c][cands] = fall[cands, c]  # the union of the labels' candidates, as before the guess
            pick, alone = picks[c], alone_all[:, c]
            weights[c] = w = alone / 2  # removal not measured: taken as 0
            w[pick] = (removed[c][pick] + alone[pick]) / 2
            firsts[c] = first = int(pick[np.argmax(removed[c][pick])])
            order = np.argsort(-w, kind="stable")
            seconds[c] = order[order != first][:max(SECOND, int(np.ceil(SECOND_SHARE * n)))].tolist()
            rows += [[first, j] for j in seconds[c]]
        again = log_odds(self._probabilities(deletions(ids, rows), split)) if rows else None
        out, at = {}, 0
        for c in labels:
            w, first, second = weights[c], firsts[c], seconds[c]
            if second:
                after = (base[c] - removed[c][first]) - again[at: at + len(second), c]
                at += len(second)
                w[second] = after
                rest = np.ones(n, dtype=bool)
                rest[second + [first]] = False
                if rest.any():  # below the round, in their order
                    w[rest] -= max(0.0, w[rest].max() - np.nextafter(max(w[second].min(), 0.0), -np.inf))
                top = second[int(np.argmax(after))]
                if n > 2:
                    w[top] = max(w[top], np.nextafter(max_without(w, first, top), np.inf))
            w[first] = max((removed[c][first] + w[first]) / 2, np.nextafter(max_without(w, first), np.inf))
            out[c] = (w, removed[c], alone_all[:, c])
        return probs[:1], out

    def explain_one(self, text: str, label: int | None = None, min_labels: int = 1,
                    top_k: int | None = None, split: bool = False) -> TextExplanation:
        """One text: its runs (see `weigh`), then each label's weights."""
        enc = self.predictor.tokenizer.encode(text, add_special_tokens=False)
        ids = np.asarray(enc.ids or [UNK_ID], dtype=np.int64)
        known = ids != UNK_ID
        nothing = EMPTY if not enc.ids else NOTHING if not known.any() else None
        k = top_k or (None if self.kind == "multi_label" else 1)

        found: dict[str, Any] = {}

        def chosen(probs: np.ndarray) -> list[int]:  # called last on the text's own probabilities
            if label is not None:
                return [label]
            found["prediction"] = prediction = self.task.decode([text], probs[:1], k, min_labels)[0]
            return [self.labels.index(name) for name, _ in prediction.top]

        terms = self.linear.terms(ids) if self.linear is not None and not nothing else None
        if nothing:
            probs = self.predictor.probabilities(ids[None, :])
            weights = dict.fromkeys(chosen(probs))
        else:
            probs, weights = self.weigh(ids, chosen, None if terms is None else terms[2], split)
        prediction = found["prediction"] if label is None else self.task.decode([text], probs[:1], k, min_labels)[0]
        explanations = []
        spans = [text[a:b] for a, b in enc.offsets]
        starts, ends = [a for a, _ in enc.offsets], [b for _, b in enc.offsets]
        known_list = known.tolist()
        for c, weighed in weights.items():
            p = float(probs[0, c])
            if weighed is None:
                explanations.append(Explanation(self.labels[c], p, (), None, nothing))
                continue
            weight, removed, alone = weighed
            token_linear, linear = self._linear(text, enc.offsets, terms, c)
            removed_list = [None if r != r else r for r in removed.tolist()]  # NaN: not measured
            lin = [None] * len(ids) if token_linear is None else token_linear.tolist()
            tokens = tuple(map(TokenWeight, spans, starts, ends, weight.tolist(), removed_list, alone.tolist(),
                               lin, known_list))
            explanations.append(Explanation(self.labels[c], p, tokens, linear))
        return TextExplanation(text, prediction, tuple(explanations), bool(enc.overflowing))

    def _linear(self, text: str, offsets: list[tuple[int, int]], terms: tuple | None,
                c: int) -> tuple[np.ndarray | None, LinearTerms | None]:
        """Each token's exact term of the linear part's logit for label c, and its n-gram terms."""
        if self.linear is None or terms is None:
            return None, None
        first, last, table = terms
        d = label_direction(self.kind, len(self.labels), c)
        g = table @ d
        pair = first != last  # a unigram's term to its token, a bigram's half to each of its two
        half = np.where(pair, g / 2, g)
        per_token = np.bincount(np.concatenate([first, last[pair]]), np.concatenate([half, half[pair]]),
                                len(offsets))
        bias = float(self.linear.bias @ d)
        ngrams = tuple(NgramTerm(text[offsets[i][0]: offsets[j][1]], offsets[i][0], offsets[j][1], w)
                       for i, j, w in zip(first.tolist(), last.tolist(), g.tolist(), strict=True) if w != 0.0)
        return per_token, LinearTerms(self.linear.share, bias + float(g.sum()), bias, ngrams)

    def explain(self, texts: Sequence[str], label: str | None = None, min_labels: int = 1,
                top_k: int | None = None) -> list[TextExplanation]:
        """Explanations of `texts`, in order (texts run side by side on the predictor's workers): of
        `label`, else of each label the prediction gives (the top_k, or a multi-label model's chosen ones)."""
        c = self.label_index(label)
        self.explained += len(texts)
        if self.background and self.filling is None and self.explained > FILL_AFTER and self.predictor.workers > 1:
            self.filling = self.alone.fill_in_background(then=self.build_threaded)
        if self.predictor.workers == 1 or len(texts) < 2:
            return [self.explain_one(t, c, min_labels, top_k, split=True) for t in texts]
        return list(self._pool().map(lambda t: self.explain_one(t, c, min_labels, top_k), texts))

    def explain_stream(self, texts: Iterable[str], label: str | None = None, min_labels: int = 1,
                       top_k: int | None = None, chunk_size: int = 256) -> Iterator[list[TextExplanation]]:
        """Explanations of any number of texts, a chunk at a time, in input order (one worker: from the
        second chunk on, every token of the vocabulary not yet seen runs alone first)."""
        it = iter(texts)
        self.label_index(label)  # refuse an unknown label before reading anything
        for i, chunk in enumerate(iter(lambda: list(islice(it, chunk_size)), [])):
            if i == 1 and self.predictor.workers == 1:  # (two workers: filled in the background)
                self.prefill()
            yield self.explain(chunk, label, min_labels, top_k)

    def prefill(self, rows: int = 2048) -> None:
        """Run every token of the vocabulary not seen yet alone (batches of `rows`, on the workers)."""
        new = np.flatnonzero(~self.alone.seen)
        parts = [new[i: i + rows] for i in range(0, len(new), rows)]
        if self.predictor.workers > 1 and len(parts) > 1:
            list(self._pool().map(self.alone, parts))
        else:
            for part in parts:
                self.alone(part)

    def build_threaded(self) -> None:
        """The model on a session with the workers' intra-op threads, for one text's batches (ONNX Runtime
        splits each step's products and spins between steps: the same bits as one thread, measured)."""
        if self.threaded is None:
            self.threaded = open_session(self.predictor.onnx_path, "cpu", threads=self.predictor.workers)

    def _pool(self):  # a ThreadPoolExecutor, made on first use
        if getattr(self, "_executor", None) is None:
            from concurrent.futures import ThreadPoolExecutor

            self._executor = ThreadPoolExecutor(self.predictor.workers, thread_name_prefix="textrnn-explain")
        return self._executor
