"""The task head (single-label): targets, loss, ensemble combination, probabilities, decoding, scores."""

import numpy as np
import pytest
import torch

from textrnn.data import Dataset
from textrnn.errors import DataError, ModelFolderError
from textrnn.tasks import Task, task_from_dict


def test_labels_come_sorted_from_training_data_and_unknown_ones_are_refused():
    task = Task.from_training_data(Dataset(["a", "b", "c"], ["pos", "neg", "pos"], "train.csv"))
    assert task.labels == ("neg", "pos")
    np.testing.assert_array_equal(task.targets(Dataset(["x", "y"], ["pos", "neg"])), [1, 0])
    with pytest.raises(DataError, match="dev.csv has labels not in the training data: 'meh'"):
        task.targets(Dataset(["x"], ["meh"], "dev.csv"))


def test_probabilities_decode_and_scores():
    task = Task(["a", "b", "c"])
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 0.0, 5.0]], dtype=np.float32)
    probs = task.probabilities(logits)
    np.testing.assert_allclose(probs.sum(1), 1, rtol=1e-6)
    top = task.decode(["t1", "t2"], probs, top_k=2)
    assert [p.label for p in top] == ["a", "c"] and [len(p.top) for p in top] == [2, 2]
    assert top[0].top[1][0] == "b" and top[0].probability == pytest.approx(probs[0, 0])
    assert [p.top for p in task.decode(["t1"], probs[:1])] == [(("a", pytest.approx(probs[0, 0])),)]
    loss, score = task.validation(np.array([0, 0]), logits)
    assert score == 0.5
    assert loss == pytest.approx(torch.nn.functional.cross_entropy(torch.from_numpy(logits),
                                                                   torch.tensor([0, 0])).item())
    assert task.evaluate(np.array([0, 2]), probs).score == 1.0


def test_the_ensemble_combination_is_the_log_of_the_mean_probability():
    task = Task(["a", "b"])
    members = [torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 3.0]])]
    mean = torch.stack([m.softmax(-1) for m in members]).mean(0)
    torch.testing.assert_close(task.combine(members).exp(), mean)


def test_a_recorded_task_is_checked():
    assert task_from_dict({"kind": "single_label", "labels": ["x", "y"]}).labels == ("x", "y")
    for bad, message in [({"kind": "single_label", "labels": ["x"]}, "at least 2"),
                         ({"kind": "single_label", "labels": ["x", "x"]}, "at least 2 different"),
                         ({"kind": "other", "labels": ["x", "y"]}, "not one this textrnn knows"),
                         ([], "must be an object")]:
        with pytest.raises(ModelFolderError, match=message):
            task_from_dict(bad)


def test_the_analysis_reads_the_confusion_matrix_the_metrics_counted(monkeypatch):
    from textrnn.evaluation import analysis

    task = Task(["a", "b", "c"])
    y = np.array([0, 0, 1, 2, 2])
    probs = task.probabilities(np.array([[0, 3, 0], [3, 0, 0], [0, 3, 0], [0, 3, 0], [0, 0, 3]], dtype=np.float32))
    metrics = task.evaluate(y, probs)
    assert metrics.confusion == ((1, 1, 0), (0, 1, 0), (0, 1, 1))
    monkeypatch.setattr(analysis, "confusion_counts", lambda *a: pytest.fail("the confusion matrix counted twice"))
    pairs = task.analyze(["t"] * 5, y, probs, metrics).confused_pairs
    assert {(p.true, p.pred, p.count) for p in pairs} == {("a", "b", 1), ("c", "b", 1)}
