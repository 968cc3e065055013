"""The hand-derived backward pass gives autograd's loss and gradients, and fit() uses it only where it applies."""

import copy

import pytest
import torch
from torch import nn

from conftest import TEST_DEVICE
from torchclassify.config import ACTIVATIONS, TrainConfig
from torchclassify.engine.loop import TensorData, fit, train_step
from torchclassify.engine.manual_backward import TALL_ROWS, ManualBackwardMLP
from torchclassify.models import MLP
from torchclassify.tasks import get_task

N_CLASSES = 4
DEVICE = torch.device(TEST_DEVICE)


def _batch(task_name: str, soft: bool, weighted: bool = False, n: int = 32, seed: int = 0):
    """(task, features (n, 6), targets as the loss wants them, loss): hard or soft (mixup) targets, weighted or not."""
    task = get_task(task_name)
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 6, generator=g)
    if task_name == "multiclass":
        y = torch.randint(0, N_CLASSES, (n,), generator=g)
    else:
        y = (torch.rand(n, 1 if task_name == "binary" else N_CLASSES, generator=g) > 0.6).float()
    # balanced weights, nudged so that no weight is exactly 1 and every term of the formula matters
    weights = task.balanced_weights(y.squeeze(-1) if task_name == "binary" else y, N_CLASSES) + 0.25
    loss_fn = task.make_loss(weights if weighted else None)
    if soft:
        y = task.to_soft_targets(y, N_CLASSES)
        y = 0.7 * y + 0.3 * y.flip(0)
    return task, X.to(DEVICE), y.to(DEVICE), loss_fn.to(DEVICE)


def _grads(model: nn.Module) -> list[torch.Tensor]:
    return [p.grad.clone() for p in model.parameters()]


def _both_paths(model: nn.Module, loss_fn: nn.Module, X, y, clip=None):
    """(loss, grads) from loop.train_step with autograd and from the hand-derived step, on copies of model."""
    model = model.to(DEVICE)
    auto, manual = copy.deepcopy(model), copy.deepcopy(model)
    auto_loss, auto_logits = train_step(auto, loss_fn, torch.optim.SGD(auto.parameters(), lr=0.0), X, y, clip)
    step = ManualBackwardMLP.build(manual, loss_fn)
    assert step is not None
    manual_logits = step(torch.optim.SGD(manual.parameters(), lr=0.0), X, y, clip)
    torch.testing.assert_close(manual_logits, auto_logits)
    manual_loss = loss_fn(manual_logits, y)
    return (auto_loss, _grads(auto)), (manual_loss, _grads(manual))


def _assert_same(auto, manual):
    (auto_loss, auto_grads), (manual_loss, manual_grads) = auto, manual
    torch.testing.assert_close(manual_loss, auto_loss, rtol=1e-5, atol=1e-7)
    assert len(auto_grads) == len(manual_grads)
    for a, m in zip(auto_grads, manual_grads):
        assert m.shape == a.shape
        torch.testing.assert_close(m, a, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("task_name", ["binary", "multiclass", "multilabel"])
def test_gradients_equal_autograd_for_every_activation_and_task(activation, task_name):
    task, X, y, loss_fn = _batch(task_name, soft=False)
    torch.manual_seed(1)
    # (16 -> 16: that layer's dx is written into its own output's buffer, which the activation's backward
    # has just read; GELU, SiLU, ... read it as their input, not their output)
    model = MLP(6, task.n_outputs(N_CLASSES), [16, 16, 8], activation=activation)
    _assert_same(*_both_paths(model, loss_fn, X, y))


@pytest.mark.parametrize("task_name", ["binary", "multiclass", "multilabel"])
@pytest.mark.parametrize("soft", [False, True], ids=["hard", "soft"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_gradients_equal_autograd_with_class_weights_and_soft_targets(task_name, soft, weighted):
    task, X, y, loss_fn = _batch(task_name, soft=soft, weighted=weighted, seed=3)
    if soft:
        assert y.dtype == torch.float32 and y.shape == (32, task.n_outputs(N_CLASSES))
    torch.manual_seed(2)
    model = MLP(6, task.n_outputs(N_CLASSES), [12])
    _assert_same(*_both_paths(model, loss_fn, X, y))


@pytest.mark.parametrize("task_name", ["binary", "multiclass", "multilabel"])
def test_tall_batches_of_narrow_layers_are_stored_feature_major_and_equal_autograd(task_name):
    """A tall batch's narrow activations and their gradients are stored feature by feature on CPU (MKL's fast
    layout for them); the loss and gradients are still autograd's."""
    rows = TALL_ROWS + 44
    task, X, y, loss_fn = _batch(task_name, soft=False, n=rows)
    torch.manual_seed(4)
    model = MLP(6, task.n_outputs(N_CLASSES), [10, 15, 16])
    _assert_same(*_both_paths(model, loss_fn, X, y))
    square = MLP(6, task.n_outputs(N_CLASSES), [10, 10], activation="gelu")  # dx into a feature-major output
    _assert_same(*_both_paths(square, loss_fn, X, y))

    step = ManualBackwardMLP.build(model, loss_fn)
    linears = [layer for layer in step.layers if type(layer).__name__ == "_Linear"]
    h, strides = X, []
    with torch.no_grad():  # (as in the step)
        for linear in linears[:-1]:
            h = linear.forward(h)[0].relu_()
            strides.append(h.stride())
        short = linears[0].forward(X[:TALL_ROWS - 1])[0]
    mkl = DEVICE.type == "cpu" and torch.backends.mkl.is_available()  # the layout MKL multiplies faster
    assert strides[0] == ((1, rows) if mkl else (10, 1))  # 10 features: narrow
    assert strides[1] == ((1, rows) if mkl else (15, 1))
    assert strides[2] == (16, 1)  # wide enough: row-major as usual
    assert short.stride() == (10, 1)  # a short batch: row-major (the layouts cost the same there)


def test_steps_write_into_the_same_buffers_and_still_equal_autograd():
    """Activations, their gradients and the parameters' gradients are overwritten step after step (no fresh
    memory per step); a batch of another size gets buffers of its own, and every step stays autograd's."""
    task, X, y, loss_fn = _batch("multiclass", soft=False, n=40)
    torch.manual_seed(5)
    model = MLP(6, N_CLASSES, [16, 16, 8]).to(DEVICE)
    auto = copy.deepcopy(model)
    step = ManualBackwardMLP.build(model, loss_fn)
    first_linear, square, narrowing = step.layers[0], step.layers[2], step.layers[4]  # 6->16, 16->16, 16->8

    def pointers():
        return [first_linear.output.data_ptr(), step.head.input_grad.data_ptr(), square.output.data_ptr()] + [
            p.grad.data_ptr() for p in model.parameters()]

    manual_opt, auto_opt = torch.optim.SGD(model.parameters(), lr=0.1), torch.optim.SGD(auto.parameters(), lr=0.1)
    seen = []
    for rows in (40, 40, 25, 40):  # the 25-row batch is an epoch's partial last batch
        step(manual_opt, X[:rows], y[:rows])
        train_step(auto, loss_fn, auto_opt, X[:rows], y[:rows])
        seen.append(pointers())
        for m, a in zip(model.parameters(), auto.parameters()):
            torch.testing.assert_close(m, a, rtol=1e-5, atol=1e-6)
    assert seen[1] == seen[0]  # same memory, step after step
    assert all(a != b for a, b in zip(seen[2][:3], seen[0][:3]))  # other rows: other activation buffers
    assert seen[2][3:] == seen[0][3:]  # the same parameter gradients
    assert square.input_grad is None  # its dx went into its output's buffer, dead by then: no buffer of its own
    assert narrowing.input_grad is not None  # dx (b, 16) does not fit its (b, 8) output, so it has its own


def test_linear_model_and_gradient_clipping_equal_autograd():
    task, X, y, loss_fn = _batch("multiclass", soft=False)
    torch.manual_seed(0)
    linear = MLP(6, N_CLASSES, [])
    _assert_same(*_both_paths(linear, loss_fn, X, y))
    deep = MLP(6, N_CLASSES, [32, 32])
    with torch.no_grad():
        for p in deep.parameters():
            p.mul_(20)  # large weights -> a gradient norm far above the clip
    auto, manual = _both_paths(deep, loss_fn, X, y, clip=0.5)
    _assert_same(auto, manual)
    assert torch.linalg.vector_norm(torch.cat([g.flatten() for g in manual[1]])).item() == pytest.approx(0.5, rel=1e-3)


def test_dropout_gradients_equal_autograd_with_the_same_mask():
    """Dropout draws its mask as models.Dropout does: the model's own autograd forward from the same seed drops the
    same units, so the gradients are the same."""
    task, X, y, loss_fn = _batch("multiclass", soft=False)
    torch.manual_seed(0)
    model = MLP(6, N_CLASSES, [64, 64], dropout=0.3).to(DEVICE)
    undropped = _both_paths(copy.deepcopy(model).eval(), loss_fn, X, y)[1]
    model.train()
    step = ManualBackwardMLP.build(model, loss_fn)
    if X.device.type == "cuda":  # not yet checked on a GPU: the dropout MLP trains through autograd there
        assert step is None
        return
    torch.manual_seed(7)
    manual_loss = loss_fn(step(torch.optim.SGD(model.parameters(), lr=0.0), X, y), y)
    manual_grads = _grads(model)

    torch.manual_seed(7)  # the same draws, through models.Dropout in the model's own forward
    for p in model.parameters():
        p.grad = None
    auto_loss = loss_fn(model(X), y)
    auto_loss.backward()
    _assert_same((auto_loss.detach(), _grads(model)), (manual_loss, manual_grads))
    # and the dropout really acted: the gradient is not the one without it
    assert not torch.allclose(manual_grads[0], undropped[1][0], rtol=1e-2)


def test_dropout_in_eval_mode_is_the_identity():
    task, X, y, loss_fn = _batch("binary", soft=False)
    torch.manual_seed(0)
    model = MLP(6, 1, [16], dropout=0.5).eval()
    _assert_same(*_both_paths(model, loss_fn, X, y))


@pytest.mark.parametrize("model_kwargs", [dict(norm="batch"), dict(norm="layer")])
def test_models_outside_its_scope_are_left_to_autograd(model_kwargs):
    assert ManualBackwardMLP.build(MLP(6, 2, [8], **model_kwargs), nn.CrossEntropyLoss()) is None


def test_losses_outside_its_scope_are_left_to_autograd():
    model = MLP(6, 3, [8])
    assert ManualBackwardMLP.build(model, nn.CrossEntropyLoss(label_smoothing=0.1)) is None
    assert ManualBackwardMLP.build(model, nn.CrossEntropyLoss(reduction="sum")) is None
    assert ManualBackwardMLP.build(model, nn.MSELoss()) is None

    class Custom(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.Sequential(nn.Linear(6, 3))

        def forward(self, X):
            return self.layers(X)

    assert ManualBackwardMLP.build(Custom(), nn.CrossEntropyLoss()) is None


def _count_manual_steps(monkeypatch) -> list:
    calls = []
    original = ManualBackwardMLP.__call__

    def counting(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ManualBackwardMLP, "__call__", counting)
    return calls


def _circles_fit(backward: str, **config):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    X = torch.randn(400, 2, generator=g)
    y = ((X ** 2).sum(1) > 1.2).float()
    X, y = X.to(DEVICE), y.to(DEVICE)
    model = MLP(2, 1, [16, 16]).to(DEVICE)
    state = fit(model, get_task("binary"), TensorData(X[:300], y[:300]), TensorData(X[300:], y[300:]),
                TrainConfig(optimizer="adam", lr=1e-2, backward=backward, seed=0, **config), n_classes=2,
                n_epochs=15, batch_size=32)
    return model, state


def test_fit_trains_the_same_model_with_either_backward(monkeypatch):
    calls = _count_manual_steps(monkeypatch)
    manual_model, manual_state = _circles_fit("auto")
    assert len(calls) == 15 * 10  # 300 rows / batch 32 -> 10 steps (the last 12 rows included), 15 epochs
    calls.clear()
    auto_model, auto_state = _circles_fit("autograd")
    assert calls == []
    for m, a in zip(manual_state.history, auto_state.history):
        assert m["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4)
        assert m["valid_loss"] == pytest.approx(a["valid_loss"], rel=1e-4)
    for m, a in zip(manual_model.parameters(), auto_model.parameters()):
        torch.testing.assert_close(m, a, rtol=1e-3, atol=1e-5)
    assert manual_state.history[-1]["valid_accuracy"] > 0.9


@pytest.mark.parametrize("config", [dict(amp="bf16"), dict(backward="autograd")])
def test_fit_falls_back_to_autograd_for_amp_or_when_asked(monkeypatch, config):
    calls = _count_manual_steps(monkeypatch)
    _circles_fit(**{"backward": "auto", **config})
    assert calls == []

