import numpy as np
import pytest
import torch

from textrnn.config import ModelConfig, TrainConfig
from textrnn.errors import DeviceError
from textrnn.model import TextClassifier
from textrnn.tasks import Task
from textrnn.training.batches import ema_decay, length_batches, member_seed, plan_epochs
from textrnn.training.devices import native_bf16, resolve_precision
from textrnn.training.loop import fit, fit_members, predict_logits
from textrnn.training.steps import clip_gradients

TASK = Task(["a", "b"])

needs_bf16 = pytest.mark.skipif(not native_bf16(), reason="this CPU has no native bfloat16")


def test_length_batches_cover_every_row_once_and_are_mostly_uniform():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 30, size=1000)
    batches = length_batches(lengths, 32, np.random.default_rng(1))
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1000))
    assert max(len(b) for b in batches) <= 32
    uniform = sum(len(b) for b in batches if len(set(lengths[b])) == 1)
    assert uniform > 900
    again = length_batches(lengths, 32, np.random.default_rng(1))
    assert all((a == b).all() for a, b in zip(batches, again, strict=True))


@pytest.mark.parametrize("precision", ["fp32", pytest.param("bf16", marks=needs_bf16)])
def test_fit_is_deterministic_and_keeps_the_best_epoch(precision):
    rng = np.random.default_rng(0)
    ids = [rng.integers(2, 30, size=rng.integers(1, 9)) for _ in range(120)]
    y = np.array([int(x[0] > 15) for x in ids])  # learnable: the first token decides
    results = []
    for _ in range(2):
        torch.manual_seed(0)
        model = TextClassifier(ModelConfig(embedding_dim=8, hidden_size=8), 30, 2)
        result = fit(model, TASK, ids, y, ids[:40], y[:40], TrainConfig(epochs=4, batch_size=16, lr=1e-2,
                                                                  word_dropout=0.1, patience=4,
                                                                  precision=precision))
        results.append((result, predict_logits(model, ids[:40])))
    (r1, logits1), (r2, logits2) = results
    assert r1.precision == precision
    assert [h.loss for h in r1.history] == [h.loss for h in r2.history]
    np.testing.assert_array_equal(logits1, logits2)
    best = max(r1.history, key=lambda h: (h.val_score, -h.val_loss))
    assert r1.best_epoch == best.epoch
    # the model holds the best epoch's weights: its validation accuracy is that epoch's
    assert (logits1.argmax(1) == y[:40]).mean() == best.val_score


class _InterruptAt:
    """A FitCallback that presses Ctrl-C at a given epoch's first batch."""

    def __init__(self, epoch: int) -> None:
        self.epoch, self.current = epoch, 0

    def on_epoch_start(self, epoch, epochs, batches):
        self.current = epoch

    def on_batch_end(self, loss):
        if self.current == self.epoch:
            raise KeyboardInterrupt

    def on_epoch_end(self, stats, is_best):
        pass

    def on_stage(self, name):
        pass


def _toy():
    rng = np.random.default_rng(0)
    ids = [rng.integers(2, 30, size=rng.integers(1, 9)) for _ in range(60)]
    return ids, np.array([int(x[0] > 15) for x in ids])


def test_ctrl_c_keeps_the_best_finished_epoch():
    ids, y = _toy()
    model = TextClassifier(ModelConfig(embedding_dim=8, hidden_size=8), 30, 2)
    result = fit(model, TASK, ids, y, ids, y, TrainConfig(epochs=5), callback=_InterruptAt(3))
    assert result.stopped == "interrupted" and len(result.history) == 2 and result.best_epoch in (1, 2)


def test_ctrl_c_before_any_epoch_saves_nothing(tmp_path):
    import pytest

    from tests.conftest import ROWS, write_csv
    from textrnn.training.job import train_model

    data = write_csv(tmp_path / "d.csv", ROWS * 2)
    with pytest.raises(KeyboardInterrupt):
        train_model(data, out=tmp_path / "models" / "m", progress=_InterruptAt(1))
    assert not (tmp_path / "models" / "m").exists()
    assert not [p for p in (tmp_path / "models").iterdir()]  # the temporary folder is gone too


def test_precision_names_resolve(monkeypatch):
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == torch.float32
    assert resolve_precision("auto", cpu) == (torch.bfloat16 if native_bf16() else torch.float32)
    monkeypatch.setattr("textrnn.training.devices.native_bf16", lambda: True)
    assert resolve_precision("bf16", cpu) == torch.bfloat16
    assert resolve_precision("auto", cpu) == torch.bfloat16


def test_bf16_on_a_cpu_without_it_is_a_clear_error(monkeypatch):
    monkeypatch.setattr("textrnn.training.devices.native_bf16", lambda: False)
    with pytest.raises(DeviceError, match="no native bfloat16"):
        resolve_precision("bf16", torch.device("cpu"))
    assert resolve_precision("auto", torch.device("cpu")) == torch.float32


def test_epochs_and_patience_stretch_on_small_data_unless_given():
    auto = TrainConfig()
    assert plan_epochs(auto, 200) == (20, 4)  # 5,000+ rows at batch 32: the plain defaults
    assert plan_epochs(auto, 15) == (200, 40)  # 500 rows: 3,000 steps, waiting 600 for a better epoch
    assert plan_epochs(auto, 0) == (3000, 600)
    assert plan_epochs(TrainConfig(epochs=5, patience=2), 15) == (5, 2)  # what the user asked for
    assert plan_epochs(TrainConfig(epochs=5), 15) == (5, 40)


def test_fit_records_its_plan_and_runs_the_auto_epochs_on_small_data():
    rng = np.random.default_rng(0)
    ids = [rng.integers(2, 30, size=4) for _ in range(50)]
    y = rng.integers(0, 2, size=50)  # unlearnable: validation (other rows) stops improving early
    torch.manual_seed(0)
    model = TextClassifier(ModelConfig(embedding_dim=8, hidden_size=8), 30, 2)
    seen = []
    result = fit(model, TASK, ids[:40], y[:40], ids[40:], y[40:], TrainConfig(batch_size=20, patience=2),
                 callback=_Record(seen))
    assert (result.epochs, result.patience) == (1500, 2)  # 2 steps an epoch; patience as given
    assert set(seen) == {1500}  # the callback (progress bar) is told the planned epochs
    assert result.stopped == "early_stopping" and len(result.history) == result.best_epoch + 2


class _Record:
    def __init__(self, seen: list) -> None:
        self.seen = seen

    def on_epoch_start(self, epoch: int, epochs: int, batches: int) -> None:
        self.seen.append(epochs)

    def on_batch_end(self, loss: float) -> None:
        pass

    def on_epoch_end(self, stats, is_best: bool) -> None:
        pass


def test_ema_decay_is_capped_on_small_data():
    assert ema_decay(0.995, 4000) == 0.995
    assert ema_decay(0.995, 180) == pytest.approx(1 - 10 / 180)
    assert ema_decay(0.0, 4000) == 0.0 and ema_decay(0.9, 5) == 0.0


def test_ema_keeps_the_averaged_weights_not_the_last_steps(monkeypatch):
    from textrnn.training import loop

    monkeypatch.setattr(loop, "ema_decay", lambda ema, steps: ema)  # no small-data cap here
    rng = np.random.default_rng(0)
    ids = [rng.integers(2, 30, size=rng.integers(1, 9)) for _ in range(120)]
    y = np.array([int(x[0] > 15) for x in ids])
    moved = {}
    for ema in (0.0, 0.99999):
        torch.manual_seed(0)
        model = TextClassifier(ModelConfig(embedding_dim=8, hidden_size=8), 30, 2)
        start = model.rnn.weight_hh_l0.detach().clone()
        fit(model, TASK, ids, y, ids[:40], y[:40], TrainConfig(epochs=3, batch_size=16, lr=1e-2, ema=ema, patience=3))
        moved[ema] = float((model.rnn.weight_hh_l0.detach() - start).abs().max())
    # an average with decay ~1 barely leaves the starting weights; the raw weights move far
    assert moved[0.99999] < 0.01 < moved[0.0]


@pytest.mark.parametrize("scale", [0.01, 100.0])
def test_gradient_clipping_equals_torch_clip_grad_norm(scale):
    torch.manual_seed(0)
    ours = [torch.nn.Parameter(torch.randn(7, 5)) for _ in range(3)]
    for p in ours:
        p.grad = torch.randn_like(p) * scale
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    for p, q in zip(ours, theirs, strict=True):
        q.grad = p.grad.clone()
    clip_gradients(ours, 1.0)
    torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    for p, q in zip(ours, theirs, strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=0, atol=0)
    norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in ours]))
    assert norm <= 1.0 + 1e-5 and (scale < 1 or norm > 0.99)


class _InterruptMember(_InterruptAt):
    """Presses Ctrl-C in the given epoch of the n-th fit it sees (counting epoch-1 starts)."""

    def __init__(self, member: int, epoch: int) -> None:
        super().__init__(epoch)
        self.member, self.fits = member, 0

    def on_epoch_start(self, epoch, epochs, batches):
        self.fits += epoch == 1
        self.current = epoch if self.fits == self.member else 0


def test_members_train_from_their_own_seeds_and_ctrl_c_keeps_finished_ones():
    ids, y = _toy()
    config = TrainConfig(epochs=2, batch_size=16, seed=1)
    assert [member_seed(1, i, 3) for i in range(3)] == [3, 4, 5] and member_seed(4, 0, 1) == 4

    def make():
        return TextClassifier(ModelConfig(embedding_dim=8, hidden_size=8), 30, 2)

    models, fits = fit_members(make, 3, TASK, ids, y, ids, y, config)
    assert len(models) == len(fits) == 3 and all(not m.training for m in models)
    weights = [m.embedding.weight for m in models]
    assert not torch.equal(weights[0], weights[1]) and not torch.equal(weights[1], weights[2])
    # the same member seed gives the same member: member 2 of 3 from seed 1 is a lone model from seed 4
    (alone,), _ = fit_members(make, 1, TASK, ids, y, ids, y, TrainConfig(epochs=2, batch_size=16, seed=4))
    assert torch.equal(alone.embedding.weight, models[1].embedding.weight)

    seen = []
    models, fits = fit_members(make, 3, TASK, ids, y, ids, y, config, _InterruptMember(2, 2),
                               on_member=lambda i, n: seen.append((i, n)))
    assert seen == [(0, 3), (1, 3)]  # member 3 never started
    assert len(models) == 2 and fits[1].stopped == "interrupted" and len(fits[1].history) == 1
    with pytest.raises(KeyboardInterrupt):  # nothing finished yet: Ctrl-C goes through
        fit_members(make, 3, TASK, ids, y, ids, y, config, _InterruptMember(1, 1))
