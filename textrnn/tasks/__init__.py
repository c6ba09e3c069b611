"""The task head: everything that depends on the kind of problem, in one object.

A Task turns labels into training targets, owns the loss and how ensemble members combine (for the
training stage, torch imported when called), turns the model's logits into probabilities and
predicted labels (numpy only: the prediction path never imports torch), computes the validation
score that picks the kept epoch, tunes decision thresholds, computes the metrics and analysis
stored in the model folder, and names the result sections `textrnn report` shows. Training,
export and inference call the task and know nothing of softmax, argmax or accuracy.

Two kinds: single-label (textrnn.tasks.single: one label per text) and multi-label
(textrnn.tasks.multi: any number of labels per text), which subclasses it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textrnn.errors import ModelFolderError
from textrnn.tasks.multi import MultiLabelTask
from textrnn.tasks.single import Prediction, ScoreCounter, Task

if TYPE_CHECKING:
    from textrnn.data import Dataset

__all__ = ["TASKS", "MultiLabelTask", "Prediction", "ScoreCounter", "Task", "task_for", "task_from_dict"]

TASKS: dict[str, type[Task]] = {Task.kind: Task, MultiLabelTask.kind: MultiLabelTask}


def task_for(data: Dataset, metric: str | None = None, balanced: bool = False) -> Task:
    """The task a training set defines: multi-label for multi-label data, else single-label."""
    kind = MultiLabelTask if data.multi_label else Task
    return kind.from_training_data(data, metric, balanced)


def task_from_dict(data: Any, where: str = "task") -> Task:
    """The task a model folder records (kind, labels, metric, thresholds), checked."""
    if not isinstance(data, dict):
        raise ModelFolderError(f"{where} must be an object (got {type(data).__name__})")
    kind = data.get("kind")
    if kind not in TASKS:
        raise ModelFolderError(f"{where}.kind {kind!r} is not one this textrnn knows ({', '.join(TASKS)}): "
                               "upgrade textrnn")
    return TASKS[kind].from_dict(data, where)
