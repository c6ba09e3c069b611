"""Explanations (textrnn.inference.explain): occlusion weights are what removing a token does, the
linear part's terms add up to its logit, spans point into the original text; `predict --explain`
(text, JSON, --label, multi-label, bad input); serve's explain; the report's section per class."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.conftest import TINY, write_csv
from textrnn.cli import app
from textrnn.inference import explain
from textrnn.inference.explain import (
    CANDIDATE_SHARE,
    CANDIDATES,
    CANDIDATES_LONG,
    EMPTY,
    NOTHING,
    Explainer,
    deletions,
    label_direction,
    log_odds,
    occlusion_batch,
)
from textrnn.inference.predictor import Predictor
from textrnn.inference.records import explained_record
from textrnn.tokenizer import UNK_ID

runner = CliRunner()
TEXT = "a wonderful and moving film"
MESSY = "Naïve —  but “WONDERFUL” and Moving film!!  (a dull plot)"


@pytest.fixture(scope="module")
def predictor(trained_model):
    return Predictor(trained_model, device="cpu")


def test_occlusion_batch_deletes_each_token_in_turn():
    batch = occlusion_batch(np.array([5, 6, 7]))
    assert batch.tolist() == [[5, 6, 7], [6, 7, 0], [5, 7, 0], [5, 6, 0]]
    assert occlusion_batch(np.array([9])).tolist() == [[9], [UNK_ID]]  # as predict reads an empty text


def test_deletions_remove_each_set_of_positions():
    assert deletions(np.array([5, 6, 7, 8]), [[0, 2], [1, 3]]).tolist() == [[6, 8], [5, 7]]
    assert deletions(np.array([5, 6]), [[0, 1]]).tolist() == [[UNK_ID]]  # nothing left: the empty text


def test_a_long_text_measures_the_removal_of_its_strongest_tokens_only(predictor):
    text = LONG
    e = predictor.explain([text])[0].explanations[0]
    n, measured = len(e.tokens), [t for t in e.tokens if t.removed is not None]
    assert n > CANDIDATES and len(measured) == max(CANDIDATES_LONG, int(np.ceil(CANDIDATE_SHARE * n)))
    assert min(t.alone for t in measured) >= max(t.alone for t in e.tokens if t.removed is None)
    assert max(e.tokens, key=lambda t: t.weight).removed == max(t.removed for t in measured)
    record = explained_record(predictor.explain([text])[0], None, False)
    assert sum(t["removed"] is None for t in record["explanations"][0]["tokens"]) == n - len(measured)


LONG = " ".join([TEXT, "and a dull plot with a wonderful cast"] * 2)


def test_the_alone_cache_holds_what_a_run_gives(predictor):
    explainer = Explainer(predictor, background=False)
    ids = np.asarray(predictor.tokenizer.encode(MESSY + " " + TEXT, add_special_tokens=False).ids + [UNK_ID])
    cold = explainer.alone(ids)
    assert explainer.alone.runs == 1 and len(explainer.alone) == len(set(ids.tolist()))
    run_alone = np.stack([predictor.probabilities(np.array([[i]]))[0] for i in ids])  # each one-token text alone
    assert np.array_equal(cold, run_alone)  # bit for bit, whatever batch computed it
    assert np.array_equal(explainer.alone(ids[::-1]), run_alone[::-1]) and explainer.alone.runs == 1  # no new run
    explainer.alone.clear()
    assert len(explainer.alone) == 0
    explainer.prefill(rows=64)  # the whole vocabulary, in large batches on the workers
    vocab = np.arange(predictor.tokenizer.get_vocab_size())
    assert len(explainer.alone) == len(vocab)
    assert np.array_equal(explainer.alone.table, np.concatenate([predictor.probabilities(vocab[i: i + 7, None])
                                                                 for i in range(0, len(vocab), 7)]))


def test_a_long_stream_explains_as_one_text_at_a_time(predictor):
    texts = [TEXT, MESSY, LONG, "a dull plot", "zzzz"] * 2
    fresh = Explainer(predictor)
    streamed = [item for chunk in fresh.explain_stream(texts, chunk_size=3) for item in chunk]
    assert predictor.workers == 1 or fresh.filling is not None  # filled in the background after the first text
    if fresh.filling is not None:
        fresh.filling.join()
        assert fresh.threaded is not None  # then one text's batches run on the workers' threads
    assert len(fresh.alone) == predictor.tokenizer.get_vocab_size()
    assert [_fields(a) for a in streamed] == [_fields(Explainer(predictor).explain([t])[0]) for t in texts]


def test_one_text_on_the_workers_threads_explains_the_same(predictor, monkeypatch):
    monkeypatch.setattr(explain, "SPLIT_FROM", 10**9)  # no batch split by rows (a row's last bits may differ)
    explainer = Explainer(predictor, background=False)
    texts = [TEXT, MESSY, LONG, "zzzz"]
    plain = [explainer.explain([t])[0] for t in texts]
    explainer.build_threaded()
    calls, run = [], explainer.threaded.run
    explainer.threaded = SimpleNamespace(run=lambda names, feed: calls.append(feed) or run(names, feed))
    assert [explainer.explain([t])[0] for t in texts] == plain  # the same bits as one thread
    assert calls and explainer.explain(texts) == plain  # several texts: one thread each, side by side
    assert len(calls) == 3 * 2  # two runs a text (its tokens seen); "zzzz" (nothing to explain): predict


def _fields(item):
    return item.prediction, [(e.label, e.probability, e.tokens, e.linear, e.note) for e in item.explanations]


@pytest.mark.parametrize("label", [None, "neg"])
def test_an_explanation_is_the_same_with_a_cold_or_a_warm_cache(predictor, label, monkeypatch):
    runs, run = [], predictor._run
    monkeypatch.setattr(predictor, "_run", lambda batch: runs.append(batch.shape) or run(batch))  # every model run
    explainer = Explainer(predictor, background=False)
    for text in (LONG, TEXT, MESSY):
        explainer.alone.clear()
        runs.clear()
        cold = explainer.explain([text], label=label)[0]
        cold_runs = len(runs)
        runs.clear()
        warm = explainer.explain([text], label=label)[0]
        assert cold_runs == len(runs) + 1  # the one-token rows, once
        if label is not None:  # the label known before any run: the text and its deletions, then round 3
            assert len(runs) == 2
        assert _fields(cold) == _fields(warm)
        assert _fields(warm) == _fields(predictor.explain([text], label=label)[0])


def test_a_wrong_guess_costs_a_run_not_a_different_explanation(predictor, monkeypatch):
    right = Explainer(predictor, background=False)
    wrong = Explainer(predictor, background=False)
    item = right.explain([LONG])[0]
    wrong.alone = right.alone  # warm: only the text's own rounds run
    runs, run = [], predictor._run
    monkeypatch.setattr(predictor, "_run", lambda batch: runs.append(batch.shape) or run(batch))
    c = predictor.labels.index(item.explanations[0].label)
    other = np.full((1, len(predictor.labels)), 0.5 / (len(predictor.labels) - 1))
    other[0, c] = 0.0
    other[0, (c + 1) % len(predictor.labels)] = 0.5
    wrong.guess = lambda z, terms: other  # a guess of another label: its candidates run first
    missed = wrong.explain([LONG])[0]
    assert missed.prediction == item.prediction
    (a,), (b,) = item.explanations, missed.explanations
    assert [t.removed is None for t in a.tokens] == [t.removed is None for t in b.tokens]
    for x, y in zip(a.tokens, b.tokens, strict=True):  # ONNX Runtime may round a row in its last bits
        # differently in another batch: the same numbers to 1e-5
        assert (x.weight, x.removed or 0.0, x.alone) == pytest.approx((y.weight, y.removed or 0.0, y.alone), abs=1e-5)
    assert len(runs) == 3  # the text with the guessed label's candidates, the missing ones, round 3


def test_label_directions():
    assert label_direction("single_label", 2, 1).tolist() == [-1.0, 1.0]  # the log-odds of two classes
    assert label_direction("single_label", 3, 0).tolist() == [1.0, -0.5, -0.5]
    assert label_direction("multi_label", 3, 2).tolist() == [0.0, 0.0, 1.0]


def test_a_weight_is_what_removing_the_token_does(predictor):
    item = predictor.explain([TEXT], label="pos")[0]
    e = item.explanations[0]
    assert e.label == "pos" and e.probability == pytest.approx(predictor.predict_proba([TEXT])[0, 2], abs=1e-5)
    assert [t.token for t in e.tokens] == TEXT.split()
    empty = predictor.predict_proba([""])[0, 2]
    for t in e.tokens:  # the text without the token, and the token alone, through the ordinary prediction path
        without = (TEXT[: t.start] + TEXT[t.end + 1:]).strip()
        p, alone = predictor.predict_proba([without, t.token])[:, 2]
        assert t.removed == pytest.approx(float(log_odds(e.probability) - log_odds(p)), abs=1e-4)
        assert t.alone == pytest.approx(float(log_odds(alone) - log_odds(empty)), abs=1e-4)
    decisive = max(e.tokens, key=lambda t: t.weight)  # greedy deletion: the largest fall first
    assert decisive.removed == max(t.removed for t in e.tokens)
    rest = [t for t in e.tokens if t is not decisive]  # then the largest fall once that one is gone
    without = [" ".join(x.token for x in e.tokens if x is not decisive and x is not t) for t in rest]
    p_without = log_odds(predictor.predict_proba([" ".join(t.token for t in rest)])[0, 2])
    after = p_without - log_odds(predictor.predict_proba(without)[:, 2])
    ranked = sorted(e.tokens, key=lambda t: -t.weight)
    assert ranked[1] is rest[int(np.argmax(after))]
    assert decisive.weight > 0 and decisive.token in ("wonderful", "moving")
    neg = predictor.explain([TEXT], label="neg")[0].explanations[0]  # the same words push away from neg
    assert {t.token: t.weight for t in neg.tokens}[decisive.token] < 0


def test_the_linear_terms_add_up_to_the_linear_logit(predictor, trained_model):
    torch = pytest.importorskip("torch")
    from textrnn.folder import ModelFolder

    model = ModelFolder.open(trained_model).torch_model()
    assert hasattr(model, "linear"), "the tiny model is expected to mix in the linear part"
    ids = np.asarray(predictor.tokenizer.encode(MESSY, add_special_tokens=False).ids)
    with torch.no_grad():
        logits = model.linear(torch.from_numpy(ids[None, :])).numpy()[0].astype(np.float64)
    for label in predictor.labels:
        e = predictor.explain([MESSY], label=label)[0].explanations[0]
        d = label_direction("single_label", len(predictor.labels), predictor.labels.index(label))
        assert e.linear.logit == pytest.approx(float(logits @ d), abs=1e-4)  # the graph's own linear logit
        assert e.linear.bias + sum(t.linear for t in e.tokens) == pytest.approx(e.linear.logit, abs=1e-6)
        assert e.linear.bias + sum(g.weight for g in e.linear.ngrams) == pytest.approx(e.linear.logit, abs=1e-6)
        assert e.linear.share == pytest.approx(model.alpha)


def test_spans_point_into_the_original_text(predictor):
    e = predictor.explain([MESSY])[0].explanations[0]
    ends = 0
    for t in e.tokens:
        assert MESSY[t.start: t.end] == t.token and t.start >= ends
        ends = t.end
    assert "WONDERFUL" in [t.token for t in e.tokens]
    assert {g.ngram for g in e.linear.ngrams} >= {"WONDERFUL", "Moving film"}  # no bigram across ”
    for g in e.linear.ngrams:
        assert MESSY[g.start: g.end] == g.ngram


def test_nothing_to_explain_is_said_plainly(predictor):
    empty, unknown = predictor.explain(["", "zzzz qqqq"])
    assert empty.explanations[0].note == EMPTY and not empty.explanations[0].tokens
    assert unknown.explanations[0].note == NOTHING and not unknown.explanations[0].tokens
    assert unknown.prediction.label in predictor.labels


def test_predict_explain_text_json_and_label(trained_model):
    model = ["--model", str(trained_model)]
    result = runner.invoke(app, ["predict", *model, "--explain", TEXT, "zzzz qqqq"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("# [w]token")  # the legend, readable without colour
    assert lines[1].startswith("pos ") and "]wonderful [" in lines[1] and "strongest:" in lines[2]
    assert any("zzzz qqqq" in line and NOTHING in line for line in lines)
    result = runner.invoke(app, ["predict", *model, "--explain", "--json", "--label", "neg", "--", MESSY])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["text"] == MESSY and record["label"] in ("pos", "neg", "neutral")
    (e,) = record["explanations"]
    assert e["label"] == "neg"
    assert {"token", "start", "end", "weight", "removed", "alone", "linear"} <= set(e["tokens"][0])
    assert all(MESSY[t["start"]: t["end"]] == t["token"] for t in e["tokens"])


def test_predict_explain_a_file_as_json(trained_model, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text(f"{TEXT}\n\n{MESSY}\n", encoding="utf-8")
    result = runner.invoke(app, ["predict", "--model", str(trained_model), "--file", str(texts), "--explain",
                                 "--json", "--top-k", "2"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in records] == [TEXT, MESSY]
    assert all([e["label"] for e in r["explanations"]] == [t["label"] for t in r["top"]] for r in records)


@pytest.mark.parametrize(("args", "phrase"), [
    (["--explain", "--label", "nope", "x"], "has no label 'nope'"),
    (["--explain", "--csv", "x"], "not --csv"),
    (["--label", "pos", "x"], "add --explain"),
    (["--explain", "--engine", "ray", "--file", "x.parquet", "--out", "y.parquet"], "--engine ray"),
])
def test_explain_with_what_it_cannot_honour_is_one_error_line(trained_model, args, phrase):
    result = runner.invoke(app, ["predict", "--model", str(trained_model), *args])
    assert result.exit_code == 1
    assert phrase in result.stderr and result.stderr.count("error:") == 1 and not result.stdout


def test_a_multi_label_model_explains_each_chosen_label(tmp_path):
    rows = [("a tender love story , a heist", "romance|crime"), ("a heist and a chase", "crime"),
            ("a love story in paris", "romance"), ("a detective and a killer", "crime"),
            ("grief and love in a small town", "romance")] * 8
    data = write_csv(tmp_path / "tags.csv", rows)
    out = tmp_path / "m"
    result = runner.invoke(app, ["train", str(data), "--label-sep", "|", *TINY, "--out", str(out)])
    assert result.exit_code == 0, result.output
    predictor = Predictor(out, device="cpu")
    item = predictor.explain(["a love story and a heist"], min_labels=2)[0]
    assert [e.label for e in item.explanations] == [lab for lab, _ in item.prediction.top]
    assert len(item.explanations) == 2  # its two labels
    for e in item.explanations:
        if e.linear is not None:  # the label's own logit: its log-odds
            assert e.linear.bias + sum(t.linear for t in e.tokens) == pytest.approx(e.linear.logit, abs=1e-6)
    one = predictor.explain(["a love story and a heist"], label="crime")[0]
    assert [e.label for e in one.explanations] == ["crime"]


def test_explain_from_python_imports_no_torch(trained_model):
    code = ("import sys, textrnn\n"
            f"p = textrnn.load_predictor({str(trained_model)!r}, device='cpu')\n"
            f"e = p.explain([{TEXT!r}])[0].explanations[0]\n"
            "print(len(e.tokens), 'torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(len(TEXT.split())), "False"]


def test_report_shows_what_each_class_responds_to(trained_model, tmp_path):
    result = runner.invoke(app, ["report", "--model", str(trained_model)], env={"COLUMNS": "140"})
    assert result.exit_code == 0, result.output
    assert "What each class responds to" in result.stdout and "validation texts" in result.stdout
    result = runner.invoke(app, ["report", "--model", str(trained_model), "--json"])
    drivers = json.loads(result.stdout)["drivers"]
    assert [c["label"] for c in drivers["classes"]] == ["neg", "neutral", "pos"] and drivers["texts"] > 0
    by_label = {c["label"]: c for c in drivers["classes"]}
    positive = {d["ngram"] for d in by_label["pos"]["linear"]}
    assert positive & {"wonderful", "great", "loved", "delight", "best", "brilliant", "joyful", "clever"}
    assert all(d["weight"] > 0 for c in drivers["classes"] for d in c["words"] + c["linear"])
    pytest.importorskip("matplotlib")
    result = runner.invoke(app, ["report", "--model", str(trained_model), "--png", str(tmp_path / "png")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "png" / "drivers.png").stat().st_size > 1000


def test_serve_explains_on_request_within_the_same_limits(trained_model, predictor):
    pytest.importorskip("starlette")
    from tests.servers import Server, post_json

    server = Server("--model", str(trained_model), "--max-texts", "2")
    try:
        status, body = post_json(server.port, "/predict", {"texts": [TEXT, MESSY], "explain": True})
        assert status == 200, body
        offline = predictor.explain([TEXT, MESSY])
        for record, item in zip(body["predictions"], offline, strict=True):
            assert record["text"] == item.text and record["label"] == item.prediction.label
            (e,) = record["explanations"]
            assert [t["weight"] for t in e["tokens"]] == pytest.approx(
                [t.weight for t in item.explanations[0].tokens], abs=1e-5)
        status, body = post_json(server.port, "/predict", {"text": TEXT})
        assert status == 200 and "explanations" not in body["predictions"][0]
        infer = f"/v2/models/{trained_model.name}/infer"
        inputs = [{"name": "text", "shape": [1], "datatype": "BYTES", "data": [TEXT]}]
        status, body = post_json(server.port, infer, {"inputs": inputs, "parameters": {"explain": True}})
        assert status == 200, body
        outputs = {o["name"]: o for o in body["outputs"]}
        assert list(outputs) == ["label", "probabilities", "top", "explanation"]
        (explained,) = json.loads(outputs["explanation"]["data"][0])
        assert explained["label"] == outputs["label"]["data"][0]
        assert [t["token"] for t in explained["tokens"]] == TEXT.split()
        status, body = post_json(server.port, "/predict", {"texts": [TEXT] * 3, "explain": True})
        assert status == 422 and "limit is 2" in body["error"]
        status, body = post_json(server.port, "/predict", {"text": TEXT, "explain": "yes"})
        assert status == 400 and "explain must be true or false" in body["error"]
    finally:
        server.stop()
