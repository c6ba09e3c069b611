"""Inference stage: the prediction record, one shape for every way out: `predict --json` and `--csv`
(textrnn.views.predictions), `serve`'s /predict and the Open Inference Protocol's `top` output
(textrnn.serving.protocol), and the same with explanations.

A single-label record is {text, label, probability} with `top` ([{label, probability}, ...]) when
more than one label is asked for; a multi-label record is {text, labels: [{label, probability}, ...]}.
Probabilities are rounded to 6 places. No torch, no rich.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any


def top_record(top: Sequence[tuple[str, float]]) -> list[dict[str, Any]]:
    """The `top` (and multi-label `labels`) shape: [{"label", "probability"}, ...]."""
    return [{"label": lab, "probability": round(pr, 6)} for lab, pr in top]


def prediction_record(p: Any, top_k: int | None, multi: bool = False) -> dict[str, Any]:
    """One Prediction as `predict --json` and /predict write it: text, label, probability (and `top`
    when top_k > 1); multi-label: text and `labels`, every chosen label with its probability."""
    if multi:
        return {"text": p.text, "labels": top_record(p.top)}
    out: dict[str, Any] = {"text": p.text, "label": p.label, "probability": round(p.probability, 6)}
    if (top_k or 1) > 1:
        out["top"] = top_record(p.top)
    return out


def top_strings(predictions: Sequence[Any]) -> list[str]:
    """Each prediction's `top` as the JSON text json.dumps writes for top_record(p.top) (built by hand:
    5x faster, and this is per text)."""
    quoted: dict[str, str] = {}
    out = []
    for p in predictions:
        items = []
        for label, probability in p.top:
            q = quoted.get(label)
            if q is None:
                q = quoted[label] = json.dumps(label, ensure_ascii=False)
            items.append(f'{{"label": {q}, "probability": {float(round(probability, 6))!r}}}')
        out.append("[" + ", ".join(items) + "]")
    return out


def json_lines(predictions: Sequence[Any], top_k: int | None, multi: bool = False) -> str:
    """One JSON object per prediction (see `prediction_record`)."""
    return "".join(json.dumps(prediction_record(p, top_k, multi), ensure_ascii=False) + "\n" for p in predictions)


def csv_header(top_k: int | None, multi: bool = False) -> list[str]:
    """The CSV columns: text,label,probability[,label_2,probability_2,...]; multi-label:
    text,labels,probabilities."""
    if multi:
        return ["text", "labels", "probabilities"]
    extra = [f"{name}_{i}" for i in range(2, (top_k or 1) + 1) for name in ("label", "probability")]
    return ["text", "label", "probability", *extra]


def csv_rows(predictions: Sequence[Any], top_k: int | None, header: bool, multi: bool = False) -> str:
    """CSV rows under `csv_header`; multi-label: the chosen labels and their probabilities joined by '|'."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if header:
        writer.writerow(csv_header(top_k, multi))
    for p in predictions:
        if multi:
            writer.writerow([p.text, "|".join(lab for lab, _ in p.top), "|".join(f"{pr:.6f}" for _, pr in p.top)])
        else:
            writer.writerow([p.text, *(x for lab, pr in p.top for x in (lab, f"{pr:.6f}"))])
    return buf.getvalue()


def token_record(t: Any) -> dict[str, Any]:
    """One explained token: token, start, end, weight, removed (null: not measured), alone (linear;
    known=False when unknown)."""
    out: dict[str, Any] = {"token": t.token, "start": t.start, "end": t.end, "weight": round(t.weight, 6),
                           "removed": None if t.removed is None else round(t.removed, 6),
                           "alone": round(t.alone, 6)}
    if t.linear is not None:
        out["linear"] = round(t.linear, 6)
    if not t.known:
        out["known"] = False
    return out


def explanation_record(e: Any) -> dict[str, Any]:
    """One label's Explanation as JSON: label, probability, tokens (token_record), the linear part
    (share, logit, bias, n-grams) and a note when there is nothing to explain."""
    out: dict[str, Any] = {"label": e.label, "probability": round(e.probability, 6),
                           "tokens": [token_record(t) for t in e.tokens]}
    if e.linear is not None:
        lin = e.linear
        out["linear"] = {"share": lin.share, "logit": round(lin.logit, 6), "bias": round(lin.bias, 6),
                         "ngrams": [{"ngram": g.ngram, "start": g.start, "end": g.end, "weight": round(g.weight, 6)}
                                    for g in lin.ngrams]}
    if e.note:
        out["note"] = e.note
    return out


def explained_record(item: Any, top_k: int | None, multi: bool) -> dict[str, Any]:
    """A TextExplanation's record: its prediction's record with `explanations` (and `truncated` when cut)."""
    out = prediction_record(item.prediction, top_k, multi)
    out["explanations"] = [explanation_record(e) for e in item.explanations]
    if item.truncated:
        out["truncated"] = True
    return out
