"""Multi-label and imbalanced data: formats, targets, thresholds, class weights, the metrics people
compare (checked against scikit-learn), and a multi-label model end to end."""

from __future__ import annotations

import csv
import io
import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.conftest import ROWS, TINY, metadata, write_csv
from textrnn.cli import app
from textrnn.data import Dataset, load_dataset
from textrnn.errors import ConfigError, DataError, ModelFolderError
from textrnn.tasks import MultiLabelTask, Task, task_for

runner = CliRunner()
TAGGED = [("a wonderful and moving film about love", "drama|romance"), ("explosions , chases and a heist", "action"),
          ("a tender love story in paris", "romance"), ("a heist that goes wrong , then a chase", "action|crime"),
          ("a detective hunts a killer", "crime"), ("the film runs two hours", ""),
          ("grief and family in a small town", "drama"), ("a murder , a trial , a verdict", "crime|drama")]


def write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_fasttext_lines_are_read_single_or_multi_label(tmp_path):
    single = load_dataset(write_lines(tmp_path / "s.txt", ["__label__pos great film", "__label__neg  dull , slow"]))
    assert not single.multi_label and single.labels == ["pos", "neg"] and single.texts[1] == "dull , slow"
    multi = load_dataset(write_lines(tmp_path / "m.txt", ["__label__a __label__b both", "__label__a one", "none here"]))
    assert multi.multi_label and multi.labels == [("a", "b"), ("a",), ()] and multi.texts[2] == "none here"
    assert multi.label_counts() == {"a": 2, "b": 1} and multi.cardinality == 1.0
    forced = load_dataset(tmp_path / "s.txt", multi_label=True)
    assert forced.multi_label and forced.labels == [("pos",), ("neg",)]


def test_json_label_lists_and_csv_separators_are_multi_label(tmp_path):
    rows = [{"text": "a", "labels": ["x", "y"]}, {"text": "b", "labels": []}, {"text": "c", "labels": "x"}]
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    data = load_dataset(path)
    assert data.multi_label and data.labels == [("x", "y"), (), ("x",)]
    data = load_dataset(write_csv(tmp_path / "d.csv", [("a", "x|y"), ("b", ""), ("c", " y ")]), label_sep="|")
    assert data.multi_label and data.labels == [("x", "y"), (), ("y",)]


@pytest.mark.parametrize("make, kwargs, message", [
    (lambda p: p.with_suffix(".jsonl").write_text('{"text": "a", "label": {"x": 1}}\n'), {},
     "must be a string, a number or a list"),
    (lambda p: p.with_suffix(".csv").write_text("text,label\na,x||y\n"), {"label_sep": "|"}, "an empty label"),
    (lambda p: p.with_suffix(".txt").write_text("__label__ text\n"), {}, "an empty label"),
    (lambda p: p.with_suffix(".txt").write_text("__label__a\n"), {}, "no text after the labels"),
    (lambda p: p.with_suffix(".txt").write_text("no labels at all\n"), {}, "has no '__label__' on any line"),
])
def test_bad_multi_label_data_is_one_clear_error(tmp_path, make, kwargs, message):
    make(tmp_path / "bad")
    path = next(tmp_path.glob("bad.*"))
    with pytest.raises(DataError, match=message):
        load_dataset(path, **kwargs)


def test_targets_leave_unknown_labels_out_and_count_them():
    task = MultiLabelTask(["a", "b", "c"])
    data = Dataset(["t1", "t2", "t3"], [("a", "c"), (), ("b", "zz")], "x", multi_label=True)
    np.testing.assert_array_equal(task.targets(data), [[1, 0, 1], [0, 0, 0], [0, 1, 0]])
    assert task.unknown(data) == (["zz"], 1)
    with pytest.raises(DataError, match="single-label data but the model is multi-label"):
        task.targets(Dataset(["t"], ["a"], "s.csv"))
    with pytest.raises(DataError, match="multi-label data but the model is single-label"):
        Task(["a", "b"]).targets(data)


def test_thresholds_are_tuned_per_label_with_a_global_fallback():
    rng = np.random.default_rng(0)
    n = 400
    gold = np.zeros((n, 3), dtype=bool)
    gold[:, 0] = rng.random(n) < 0.3
    gold[:5, 2] = [True, True, False, False, True]  # label 2: 3 positives, too few for its own threshold
    probs = np.where(gold, 0.35, 0.15) + rng.normal(0, 0.02, (n, 3))  # label 0 separates at about 0.25
    probs[:, 1] = 0.1  # never present
    task = MultiLabelTask(["a", "b", "c"]).calibrate(gold.astype(np.float32), probs)
    assert 0.18 < task.thresholds[0] < 0.32
    assert task.thresholds[1] == task.thresholds[2]  # both on the global threshold
    assert MultiLabelTask.from_dict(task.to_dict()).thresholds.tolist() == task.thresholds.tolist()


def test_decoding_gives_labels_above_threshold_and_at_least_the_top_one():
    task = MultiLabelTask(["a", "b", "c"], thresholds=[0.5, 0.5, 0.2])
    probs = np.array([[0.9, 0.6, 0.1], [0.1, 0.2, 0.15], [0.3, 0.1, 0.25]])
    got = [[lab for lab, _ in p.top] for p in task.decode(["x", "y", "z"], probs)]
    assert got == [["a", "b"], ["b"], ["c"]]  # y: none above threshold, so its most probable one
    assert [len(p.top) for p in task.decode(["x", "y", "z"], probs, min_labels=0)] == [2, 0, 1]
    assert [len(p.top) for p in task.decode(["x", "y", "z"], probs, top_k=1)] == [1, 1, 1]
    assert [lab for lab, _ in task.with_threshold(0.05).decode(["y"], probs[1:2])[0].top] == ["b", "c", "a"]


def test_metrics_agree_with_scikit_learn():
    from sklearn.metrics import f1_score, hamming_loss, precision_score

    rng = np.random.default_rng(1)
    gold = rng.random((200, 6)) < 0.3
    probs = np.clip(gold * 0.5 + rng.random((200, 6)) * 0.6, 0, 1)
    task = MultiLabelTask(list("abcdef"), thresholds=[0.5] * 6)
    pred = task.decide(probs)
    m = task.evaluate(gold.astype(np.float32), probs)
    assert m.micro_f1 == pytest.approx(f1_score(gold, pred, average="micro"))
    assert m.samples_f1 == pytest.approx(f1_score(gold, pred, average="samples", zero_division=1))
    assert m.macro_f1 == pytest.approx(f1_score(gold, pred, average="macro", zero_division=0))
    assert m.micro_precision == pytest.approx(precision_score(gold, pred, average="micro"))
    assert m.hamming_loss == pytest.approx(hamming_loss(gold, pred))
    assert m.subset_accuracy == pytest.approx((gold == pred).all(1).mean())
    top = probs.argmax(1)
    assert m.p_at_1 == pytest.approx(gold[np.arange(200), top].mean())
    assert m.r_at_1 == pytest.approx(gold[np.arange(200), top].sum() / gold.sum())
    assert [c.support for c in m.per_label] == gold.sum(0).tolist() and m.score == m.micro_f1


def test_a_binary_model_picked_by_macro_f1_gets_a_tuned_threshold():
    task = Task(["neg", "pos"], metric="macro_f1")
    rng = np.random.default_rng(0)
    y = (rng.random(500) < 0.1).astype(np.int64)  # 10% positives
    p1 = np.clip(0.25 * y + rng.random(500) * 0.3, 0, 1)  # positives score higher, but mostly below 0.5
    probs = np.stack([1 - p1, p1], axis=1)
    tuned = task.calibrate(y, probs)
    assert tuned.threshold is not None and tuned.threshold < 0.5
    assert tuned.evaluate(y, probs).macro_f1 > task.evaluate(y, probs).macro_f1
    assert Task.from_dict(tuned.to_dict()).threshold == tuned.threshold
    assert Task(["a", "b"]).calibrate(y, probs).threshold is None  # accuracy: the most probable class
    assert [p.label for p in tuned.with_threshold(0.0).decode(["x", "y"], probs[:2])] == ["pos", "pos"]
    with pytest.raises(ConfigError, match="with two classes"):
        Task(["a", "b", "c"]).with_threshold(0.3)


def test_balanced_class_weights():
    from sklearn.utils.class_weight import compute_class_weight

    data = Dataset(["t"] * 10, ["a"] * 7 + ["b"] * 2 + ["c"], "x")
    task = task_for(data, balanced=True)
    expected = compute_class_weight("balanced", classes=np.array(["a", "b", "c"]), y=np.array(data.labels))
    np.testing.assert_allclose(task.weights, expected, rtol=1e-6)
    multi = Dataset(["t"] * 10, [("a",)] * 8 + [("a", "b"), ()], "x", multi_label=True)
    np.testing.assert_allclose(task_for(multi, balanced=True).weights, [1 / 9, 9.0], rtol=1e-6)  # negatives/positives
    with pytest.raises(ConfigError, match="--metric accuracy does not fit multi-label data"):
        task_for(multi, metric="accuracy")


@pytest.fixture(scope="module")
def tagged(tmp_path_factory):
    root = tmp_path_factory.mktemp("tagged")
    data = write_csv(root / "train.csv", TAGGED * 6)
    test = write_csv(root / "test.csv", TAGGED)
    result = runner.invoke(app, ["train", str(data), "--label-sep", "|", "--test", str(test), *TINY,
                                 "--members", "2", "--int8", "--out", str(root / "m")])
    assert result.exit_code == 0, result.output
    return root


def test_a_multi_label_model_end_to_end(tagged):
    model = tagged / "m"
    meta = metadata(model)
    assert meta.task.kind == "multi_label" and meta.task.labels == ("action", "crime", "drama", "romance")
    assert len(meta.task.thresholds) == 4 and meta.training.metric == "micro_f1"
    assert 1.1 < meta.data["train"].cardinality < 1.4 and meta.export.parity_max_diff < 1e-4  # 10 labels, 8 texts
    assert "Average of 2 members' probabilities" in [row.layer for row in meta.network.layers]
    assert meta.int8.status in ("kept", "refused") and "micro-f1" in meta.int8.reason
    result = runner.invoke(app, ["predict", "--model", str(model), "--json", "a heist and a chase"])
    record = json.loads(result.stdout)
    assert set(record) == {"text", "labels"} and record["labels"] and all(0 <= x["probability"] <= 1
                                                                          for x in record["labels"])
    result = runner.invoke(app, ["predict", "--model", str(model), "--csv", "--threshold", "0", "a love story"])
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["text", "labels", "probabilities"] and len(rows[1][1].split("|")) == 4
    evaluated = runner.invoke(app, ["evaluate", str(tagged / "test.csv"), "--model", str(model), "--json"])
    scores = json.loads(evaluated.stdout)
    assert {"micro_f1", "macro_f1", "samples_f1", "p_at_1", "r_at_1", "hamming_loss", "subset_accuracy"} <= set(scores)
    report = runner.invoke(app, ["report", "--model", str(model)], env={"COLUMNS": "120"})
    for phrase in ("per label", "threshold", "Labels given together", "labels per text", "P@1", "Hamming loss"):
        assert phrase in report.stdout, phrase
    assert runner.invoke(app, ["inspect", "--model", str(model), "a heist"]).exit_code == 0


def test_pictures_adapt_to_multi_label(tagged, tmp_path):
    result = runner.invoke(app, ["report", "--model", str(tagged / "m"), "--png", str(tmp_path)])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["curves.png", "drivers.png", "labels-test.png", "labels-val.png"]


@pytest.mark.parametrize("args, message", [
    (["evaluate", "{single}", "--model", "{multi}"], "are not the model's"),
    (["evaluate", "{single_txt}", "--model", "{multi}"], "single-label data but the model is multi-label"),
    (["evaluate", "{multi_data}", "--model", "{single_model}", "--label-sep", "|"],
     "multi-label data but the model is single-label"),
    (["predict", "--model", "{single_model}", "--threshold", "0.3", "x"], "applies to multi-label models"),
    (["predict", "--model", "{no_thresholds}", "x"], "thresholds must be a list of 4 numbers"),
    (["predict", "--model", "{bad_thresholds}", "x"], "thresholds must be a list of 4 numbers"),
    (["train", "{single}", "--metric", "micro_f1"], "--metric micro_f1 does not fit single-label data"),
])
def test_mismatches_are_one_clear_line(tagged, trained_model, tmp_path, args, message):
    values = {"single": str(write_csv(tmp_path / "s.csv", ROWS)), "multi": str(tagged / "m"),
              "single_txt": str(write_lines(tmp_path / "s.txt", ["__label__crime a killer", "__label__drama grief"])),
              "multi_data": str(tagged / "test.csv"), "single_model": str(trained_model)}
    for name, change in (("no_thresholds", lambda t: t.pop("thresholds")),
                         ("bad_thresholds", lambda t: t.update(thresholds=[0.5, "x", 0.5, 0.5]))):
        shutil.copytree(tagged / "m", tmp_path / name)
        meta = json.loads((tmp_path / name / "metadata.json").read_text())
        change(meta["task"])
        (tmp_path / name / "metadata.json").write_text(json.dumps(meta))
        values[name] = str(tmp_path / name)
    result = runner.invoke(app, [a.format(**values) for a in args])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.output


def test_a_corrupt_task_record_is_refused_at_open(tagged, tmp_path):
    from textrnn.folder import ModelFolder

    shutil.copytree(tagged / "m", tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "metadata.json").read_text())
    meta["task"]["thresholds"] = [2.0] * 4
    (tmp_path / "m" / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFolderError, match=r"numbers in \[0, 1\]"):
        ModelFolder.open(tmp_path / "m")


def test_serving_a_multi_label_model(tagged):
    from tests.servers import Server, request

    pytest.importorskip("starlette")
    server = Server("--model", str(tagged / "m"), "--precision", "fp32")  # int8 depends on the batch a text is in
    try:
        status, _, body = request(server.port, "POST", "/predict", {"texts": ["a heist and a chase", "grief"]})
        records = json.loads(body)["predictions"]
        assert status == 200 and all(set(r) == {"text", "labels"} and r["labels"] for r in records)
        offline = runner.invoke(app, ["predict", "--model", str(tagged / "m"), "--json", "--precision", "fp32",
                                      "a heist and a chase"])
        assert records[0] == json.loads(offline.stdout)  # the same records as predict --json
        infer = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["a love story"]}]}
        status, _, body = request(server.port, "POST", "/v2/models/m/infer", infer)
        outputs = {o["name"]: o for o in json.loads(body)["outputs"]}
        assert status == 200 and outputs["probabilities"]["shape"] == [1, 4]
        assert json.loads(outputs["top"]["data"][0])  # the chosen labels, at least one
    finally:
        assert server.stop() == 0


def test_evaluate_multi_label_reads_one_label_lines_as_multi_label(tagged, tmp_path):
    """Every line with one tag: single-label data to the reader (refused for a multi-label model)
    unless --multi-label, which scores it as the same texts with one-tag lists would be scored."""
    single = [(text, tags) for text, tags in TAGGED if tags and "|" not in tags]
    lines = write_lines(tmp_path / "one.txt", [f"__label__{tags} {text}" for text, tags in single])
    as_lists = write_csv(tmp_path / "lists.csv", single)  # the same, read with --label-sep: multi-label
    model = str(tagged / "m")
    refused = runner.invoke(app, ["evaluate", str(lines), "--model", model, "--json"])
    assert refused.exit_code == 1 and "single-label data but the model is multi-label" in refused.output
    flagged = runner.invoke(app, ["evaluate", str(lines), "--model", model, "--json", "--multi-label"])
    assert flagged.exit_code == 0, flagged.output
    reference = runner.invoke(app, ["evaluate", str(as_lists), "--model", model, "--json", "--label-sep", "|"])
    scores, expected = json.loads(flagged.stdout), json.loads(reference.stdout)
    assert scores["micro_f1"] == expected["micro_f1"] and scores["p_at_1"] == expected["p_at_1"]
    assert "subset_accuracy" in scores and "accuracy" not in scores


def test_the_linear_models_labels_fit_in_threads_give_the_same_weights(monkeypatch):
    import scipy.sparse as sp

    from textrnn.tasks import multi

    rng = np.random.default_rng(0)
    x = sp.random(400, 300, density=0.02, format="csr", random_state=0, dtype=np.float32)
    y = (rng.random((400, 12)) < 0.1).astype(np.float32)
    y[:, 3] = 0  # a label never present keeps weight 0 and bias -20
    task = multi.MultiLabelTask([f"l{i}" for i in range(12)])
    weight, bias = task.fit_linear(x, y, 4.0, 0)
    monkeypatch.setattr(multi, "LINEAR_THREADS", 1)
    alone = task.fit_linear(x, y, 4.0, 0)
    assert np.array_equal(weight, alone[0]) and np.array_equal(bias, alone[1])
    assert bias[3] == -20.0 and not weight[:, 3].any() and weight[:, 0].any()
