"""The training loop: the five steps work, loss falls, early stopping restores the best weights."""

import math
from unittest import mock

import pytest
import torch
from torch import nn

import torchclassify as tc
from torchclassify.config import TrainConfig
from torchclassify.engine.callbacks import EarlyStopping
from torchclassify.engine.loop import TensorData, _epoch_loss, epoch_batches, fit, train_step
from torchclassify.models import MLP
from torchclassify.tasks import get_task


def test_train_step_overfits_a_tiny_batch():
    torch.manual_seed(0)
    X = torch.randn(16, 5)
    y = torch.randint(0, 3, (16,))
    model = MLP(5, 3, [64, 64])
    loss_fn = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = [float(train_step(model, loss_fn, optimizer, X, y)[0]) for _ in range(300)]
    assert losses[-1] < 0.01 < losses[0]
    assert (model(X).argmax(1) == y).all()


def test_loss_falls_on_moons():
    run = tc.train(data="moons", epochs=30, early_stopping=False, progress="quiet")
    losses = [h["train_loss"] for h in run.history]
    assert len(losses) == 30
    assert losses[-1] < 0.5 * losses[0]
    assert run.metrics["test"]["accuracy"] >= 0.95


def test_batches_cover_every_row_once():
    data = TensorData(torch.arange(10.0).reshape(10, 1), torch.arange(10))
    batches = list(epoch_batches(data, 4, torch.Generator().manual_seed(0)))
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    assert sorted(torch.cat([b[1] for b in batches]).tolist()) == list(range(10))
    assert len(list(epoch_batches(data, 10, torch.Generator()))) == 1  # full batch


def test_early_stopping_restores_best_weights():
    torch.manual_seed(0)
    task = get_task("binary")
    X = torch.randn(200, 2)
    y = (X[:, 0] > 0).float()
    train, valid = TensorData(X[:20], y[:20]), TensorData(X[100:], (torch.rand(100) > 0.5).float())  # noise
    model = MLP(2, 1, [32])
    stopper = EarlyStopping(patience=5)
    state = fit(model, task, train, valid, TrainConfig(lr=0.05), n_classes=2, n_epochs=200, batch_size=8,
                callbacks=[stopper])
    assert state.should_stop and state.epoch < 200
    best = min(h["valid_loss"] for h in state.history)
    assert state.history[state.best_epoch - 1]["valid_loss"] == best
    for key, value in model.state_dict().items():
        assert torch.equal(value, stopper.best_state[key])


def test_nan_loss_stops_with_a_clear_message():
    with pytest.raises(tc.TrainingError, match="lower --lr"):
        tc.train(data="circles", lr=10.0, optimizer="sgd", momentum=0.99, hidden=[256, 256], epochs=40,
                 early_stopping=False, progress="quiet", batch_size=0)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "rmsprop"])
@pytest.mark.parametrize("schedule", ["none", "step", "cosine", "onecycle", "plateau"])
def test_optimizers_and_schedules_train(optimizer, schedule):
    lr = 0.1 if optimizer == "sgd" else 0.01
    run = tc.train(data="blobs", optimizer=optimizer, schedule=schedule, lr=lr, epochs=8, progress="quiet")
    assert math.isfinite(run.history[-1]["train_loss"])
    assert run.metrics["test"]["accuracy"] > 0.8
    if schedule in ("step", "cosine", "onecycle"):
        assert run.history[-1]["lr"] != run.history[0]["lr"]


@pytest.mark.parametrize("extra", [dict(norm="batch", dropout=0.2), dict(norm="layer", activation="gelu"),
                                   dict(class_weight="balanced", clip_grad_norm=1.0),
                                   dict(augment="noise"), dict(augment="mixup"), dict(batch_size=0)])
def test_options_train_all_tasks(extra, task_table):
    task, frame, target = task_table
    run = tc.train(data=frame, target=target, epochs=10, progress="quiet", **extra)
    assert math.isfinite(run.history[-1]["train_loss"])


class _Chunks:
    """A ChunkedData over in-memory tensors, recording the order its chunks were visited in."""

    def __init__(self, X, y, chunk_rows):
        self.X, self.y, self.device = X, y, X.device
        self.bounds = [(i, min(i + chunk_rows, len(X))) for i in range(0, len(X), chunk_rows)]
        self.chunk_sizes = [b - a for a, b in self.bounds]
        self.visits = []

    def __len__(self):
        return len(self.X)

    def chunks(self, generator):
        order = torch.randperm(len(self.bounds), generator=generator).tolist()
        self.visits.append(order)
        for i in order:
            a, b = self.bounds[i]
            yield TensorData(self.X[a:b], self.y[a:b])


def test_fit_trains_from_chunks_in_a_seeded_order_with_exact_step_count():
    torch.manual_seed(0)
    X = torch.randn(1000, 2)
    y = (X[:, 0] * X[:, 1] > 0).float()  # xor: needs the hidden layer
    chunks = _Chunks(X[:800], y[:800], chunk_rows=300)  # chunks of 300, 300, 200 rows
    model = MLP(2, 1, [32, 32])
    config = TrainConfig(optimizer="adam", lr=1e-2, schedule="onecycle", seed=3)
    state = fit(model, get_task("binary"), chunks, TensorData(X[800:], y[800:]), config, n_classes=2,
                n_epochs=25, batch_size=64)
    # onecycle knows the exact step count (5 + 5 + 4 per epoch) or it would raise past its last step
    assert state.scheduler.total_steps == 25 * 14
    assert len(chunks.visits) == 25 and sorted(chunks.visits[0]) == [0, 1, 2]
    assert len({tuple(v) for v in chunks.visits}) > 1  # the order changes between epochs
    assert state.history[-1]["valid_accuracy"] > 0.9
    again = _Chunks(X[:800], y[:800], chunk_rows=300)
    fit(MLP(2, 1, [32, 32]), get_task("binary"), again, None, config, n_classes=2, n_epochs=25, batch_size=64)
    assert again.visits == chunks.visits  # seeded: the same order on a rerun


@pytest.mark.parametrize("task_name", ["binary", "multiclass", "multilabel"])
@pytest.mark.parametrize("backward", ["auto", "autograd"])
def test_epoch_train_figures_are_those_of_every_training_row(task_name, backward):
    """With the weights frozen (lr 0), the epoch's train loss and metric equal one pass over all its rows."""
    from torchclassify.tasks import metric_from_counts

    task = get_task(task_name)
    g = torch.Generator().manual_seed(0)
    X = torch.randn(203, 5, generator=g)  # 203 rows at batch 32: six full batches and a short one
    y = {"binary": (torch.rand(203, generator=g) > 0.5).float(),
         "multiclass": torch.randint(0, 3, (203,), generator=g),
         "multilabel": (torch.rand(203, 3, generator=g) > 0.5).float()}[task_name]
    torch.manual_seed(0)
    model = MLP(5, task.n_outputs(3), [16])
    state = fit(model, task, TensorData(X, y), None, TrainConfig(optimizer="sgd", lr=0.0, momentum=0.0,
                                                                  backward=backward),
                n_classes=3, n_epochs=2, batch_size=32)
    with torch.no_grad():
        logits = model(X)
        expected_loss = float(task.make_loss()(logits, task.as_training_target(y)))
    expected_metric = metric_from_counts(task.logit_counts(logits, y))
    for record in state.history:
        assert record["train_loss"] == pytest.approx(expected_loss, rel=1e-6)
        assert record[f"train_{task.main_metric}"] == pytest.approx(expected_metric, abs=1e-12)


def test_large_features_are_gathered_a_batch_at_a_time_in_the_same_order(monkeypatch):
    """Past GATHER_PER_BATCH_BYTES the epoch gathers each batch's rows instead of permuting the whole matrix:
    the batches (features, targets, weights) are the same rows in the same order."""
    from torchclassify.engine import loop

    data = TensorData(torch.randn(100, 3), torch.arange(100), torch.rand(100))
    whole = list(epoch_batches(data, 16, torch.Generator().manual_seed(0)))
    monkeypatch.setattr(loop, "GATHER_PER_BATCH_BYTES", 0)
    per_batch = list(epoch_batches(data, 16, torch.Generator().manual_seed(0)))
    assert len(whole) == len(per_batch) == 7
    for a, b in zip(whole, per_batch):
        assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert torch.equal(per_batch[0][0], data.X[per_batch[0][1]])  # each row with its own target
    assert sorted(torch.cat([b[1] for b in per_batch]).tolist()) == list(range(100))


@pytest.mark.parametrize("n_classes", [3, 10, 15, 16, 40])
def test_epoch_loss_is_the_loss_functions_value(n_classes):
    """The epoch's reported loss (cross-entropy over few classes taken from the transposed logits) is
    loss_fn's own value, weighted or not; soft targets and label smoothing go to loss_fn itself."""
    g = torch.Generator().manual_seed(n_classes)
    logits = torch.randn(1437, n_classes, generator=g) * 4
    y = torch.randint(0, n_classes, (1437,), generator=g)
    weight = torch.rand(n_classes, generator=g) + 0.5
    for loss_fn in (nn.CrossEntropyLoss(), nn.CrossEntropyLoss(weight=weight), nn.CrossEntropyLoss(reduction="sum"),
                    nn.CrossEntropyLoss(label_smoothing=0.1)):
        torch.testing.assert_close(_epoch_loss(loss_fn, logits, y), loss_fn(logits, y), rtol=1e-6, atol=0)
    soft = torch.softmax(torch.randn(1437, n_classes, generator=g), 1)
    assert torch.equal(_epoch_loss(nn.CrossEntropyLoss(), logits, soft), nn.CrossEntropyLoss()(logits, soft))
    # And which path ran: the transposed one for 3-15 classes of plain class-index cross-entropy only.
    calls = []
    real = nn.CrossEntropyLoss.forward
    with mock.patch.object(nn.CrossEntropyLoss, "forward", lambda self, *a: calls.append(1) or real(self, *a)):
        _epoch_loss(nn.CrossEntropyLoss(), logits, y)
        assert bool(calls) == (not 3 <= n_classes < 16)
        calls.clear()
        _epoch_loss(nn.CrossEntropyLoss(label_smoothing=0.1), logits, y)
        assert calls
