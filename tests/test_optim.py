"""optim.direct_step: the fused kernels called directly give optimizer.step()'s parameters and state, bit for bit."""

import copy
import math
import warnings

import pytest
import torch

from conftest import TEST_DEVICE
from torchclassify.config import TrainConfig
from torchclassify.engine.optim import _DirectFusedStep, direct_step, make_optimizer, make_scheduler
from torchclassify.models import MLP

DEVICE = torch.device(TEST_DEVICE)

SETTINGS = [dict(optimizer="sgd", momentum=0.0, weight_decay=0.0), dict(optimizer="sgd", momentum=0.9, weight_decay=1e-3),
            dict(optimizer="adam", weight_decay=0.0), dict(optimizer="adam", weight_decay=1e-3),
            dict(optimizer="adamw", weight_decay=1e-2)]


def _twins(setting: dict, schedule: str = "none"):
    """Two identical models with an optimizer and scheduler each (make_optimizer's, as fit builds them)."""
    torch.manual_seed(0)
    model = MLP(5, 3, [16, 8]).to(DEVICE)
    twins = []
    for m in (model, copy.deepcopy(model)):
        config = TrainConfig(lr=0.01, schedule=schedule, **setting)
        optimizer = make_optimizer(m.parameters(), config)
        twins.append((m, optimizer, make_scheduler(optimizer, config, n_epochs=4, steps_per_epoch=3)[0]))
    return twins


def _give_gradients(models, seed: int):
    """The same fresh gradients (new tensors, as the hand-derived backward assigns them) on every model."""
    g = torch.Generator().manual_seed(seed)
    for params in zip(*(m.parameters() for m in models)):
        grad = torch.randn(params[0].shape, generator=g).to(DEVICE)
        for p in params:
            p.grad = grad.clone()


def _step_both(plain, direct, step, seeds) -> None:
    """For each seed: the same fresh gradients on both twins, then plain's optimizer.step() and the direct step."""
    for seed in seeds:
        _give_gradients([plain[0], direct[0]], seed=seed)
        plain[1].step()
        step()


def _assert_identical(a, b):
    (model_a, opt_a, _), (model_b, opt_b, _) = a, b
    for pa, pb in zip(model_a.parameters(), model_b.parameters()):
        assert torch.equal(pa, pb)
        sa, sb = opt_a.state[pa], opt_b.state[pb]
        assert sa.keys() == sb.keys()
        for key in sa:
            assert torch.equal(sa[key], sb[key]), key


@pytest.mark.parametrize("schedule", ["none", "cosine", "onecycle"])
@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: f"{s['optimizer']}-wd{s['weight_decay']}")
def test_direct_step_equals_optimizer_step_bit_for_bit(setting, schedule):
    plain, direct = _twins(setting, schedule)
    step = direct_step(direct[1])
    assert isinstance(step, _DirectFusedStep)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. a scheduler's "lr_scheduler.step() before optimizer.step()"
        for i in range(12):
            _give_gradients([plain[0], direct[0]], seed=i)
            plain[1].step()
            step()
            for _, _, scheduler in (plain, direct):
                if scheduler is not None:
                    scheduler.step()
            _assert_identical(plain, direct)
    assert plain[1].param_groups[0]["lr"] == direct[1].param_groups[0]["lr"]
    if schedule != "none":
        assert direct[1].param_groups[0]["lr"] != 0.01  # the schedule moved it, and the direct step used it
    assert step.state_read is direct[1].state  # past the first step it really ran the kernels itself


def test_direct_step_follows_a_reloaded_state():
    """load_state_dict replaces the state tensors (a resume): the direct step must update the new ones."""
    plain, direct = _twins(dict(optimizer="adam", weight_decay=0.0))
    step = direct_step(direct[1])
    _step_both(plain, direct, step, range(3))
    saved = copy.deepcopy(direct[1].state_dict())
    direct[1].load_state_dict(saved)
    _step_both(plain, direct, step, range(3, 6))
    _assert_identical(plain, direct)
    assert int(direct[1].state[next(direct[0].parameters())]["step"]) == 6
    assert step.state_read is direct[1].state  # the kernels ran on the reloaded tensors, not step() alone


def test_direct_step_defers_to_step_for_hooks_missing_gradients_and_other_optimizers():
    (model, optimizer, _), _ = _twins(dict(optimizer="sgd", momentum=0.9, weight_decay=0.0))
    step = direct_step(optimizer)
    calls = []
    handle = optimizer.register_step_post_hook(lambda *args: calls.append(1))
    for i in range(3):
        _give_gradients([model], seed=i)
        step()
    assert calls == [1, 1, 1]  # every step went through step(), which runs the hook
    handle.remove()
    _give_gradients([model], seed=3)
    next(model.parameters()).grad = None  # step() skips such a parameter; so must the direct step
    before = next(model.parameters()).detach().clone()
    step()
    assert torch.equal(next(model.parameters()), before)

    rmsprop = make_optimizer(model.parameters(), TrainConfig(optimizer="rmsprop"))
    assert direct_step(rmsprop) == rmsprop.step
    unfused = torch.optim.Adam(model.parameters(), foreach=True)
    assert direct_step(unfused) == unfused.step


def test_direct_step_falls_back_to_step_when_the_private_kernel_refuses_its_arguments(monkeypatch):
    """Another torch version's kernel signature: the first refused call is undone and step() takes over."""
    plain, direct = _twins(dict(optimizer="adam", weight_decay=0.0))
    step = direct_step(direct[1])
    _step_both(plain, direct, step, range(2))
    kernel, refused = torch._fused_adam_, []

    def refuse_once(*args, **kwargs):
        if not refused:
            refused.append(1)
            raise TypeError("_fused_adam_() got an unexpected keyword argument")
        return kernel(*args, **kwargs)

    monkeypatch.setattr(torch, "_fused_adam_", refuse_once)
    for i in range(2, 5):
        _give_gradients([plain[0], direct[0]], seed=i)
        step()  # (first: the refusal is meant for the direct call)
        plain[1].step()
    assert refused == [1] and step.direct_failed
    _assert_identical(plain, direct)  # step counts included: the refused step was counted once


def test_direct_step_follows_options_changed_mid_run_and_older_adamw_groups():
    """Momentum switched on after some steps needs state the direct step had not read: step() makes it, and
    the direct step carries on from there. An AdamW group without the 'decoupled_weight_decay' option (as
    torch < 2.7 has them) still gets AdamW's kernel."""
    plain, direct = _twins(dict(optimizer="sgd", momentum=0.0, weight_decay=0.0))
    step = direct_step(direct[1])
    for i in range(6):
        if i == 3:
            for _, optimizer, _ in (plain, direct):
                optimizer.param_groups[0]["momentum"] = 0.9
        _give_gradients([plain[0], direct[0]], seed=i)
        plain[1].step()
        step()
        _assert_identical(plain, direct)
    assert "momentum_buffer" in direct[1].state[next(direct[0].parameters())]

    plain, direct = _twins(dict(optimizer="adamw", weight_decay=0.1))
    step = direct_step(direct[1])
    for i in range(4):
        _give_gradients([plain[0], direct[0]], seed=i)
        plain[1].step()
        step()
        direct[1].param_groups[0].pop("decoupled_weight_decay", None)  # (after step(), which reads it)
    _assert_identical(plain, direct)
    assert step.state_read is direct[1].state


def test_the_first_adam_step_makes_the_state_itself_without_step():
    """Adam's state made by the direct step equals step()'s, so even the first step skips step() (which
    imports torch._dynamo); with an LR scheduler counting step() calls, step() still takes the first."""
    plain, direct = _twins(dict(optimizer="adamw", weight_decay=1e-2))
    step = direct_step(direct[1])
    assert step != direct[1].step  # the direct kernel call, not step() itself (which would pass trivially)
    calls = []
    direct[1].step = lambda *args, **kwargs: calls.append(1)  # (the instance attribute shadows the method)
    _step_both(plain, direct, step, range(3))
    assert calls == []
    _assert_identical(plain, direct)
    assert int(direct[1].state[next(direct[0].parameters())]["step"]) == 3

    plain, direct = _twins(dict(optimizer="adam", weight_decay=0.0), schedule="cosine")
    step = direct_step(direct[1])
    _step_both(plain, direct, step, range(1))
    assert direct[1]._opt_called  # the scheduler's wrapper saw step() run
    _assert_identical(plain, direct)


def test_optimizers_are_made_saved_and_loaded_without_importing_dynamo():
    """In a fresh interpreter: construction, state_dict, load_state_dict and direct steps leave torch._dynamo
    unimported, and torch's own wrapping is left as it was (its cache not set) for a later torch.compile."""
    code = """
import sys, torch
from torchclassify.config import TrainConfig
from torchclassify.engine.optim import direct_step, dynamo_unimported, make_optimizer
from torchclassify.models import MLP
model = MLP(3, 2, [4])
optimizer = make_optimizer(model.parameters(), TrainConfig(optimizer="adamw"))
step = direct_step(optimizer)
for _ in range(2):
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    step()
with dynamo_unimported():
    optimizer.load_state_dict(optimizer.state_dict())
assert "torch._dynamo" not in sys.modules, "imported"
for name in ("add_param_group", "state_dict", "load_state_dict", "zero_grad"):
    assert getattr(getattr(torch.optim.Optimizer, name).__wrapped__, "__dynamo_disable", None) is None, name
optimizer.zero_grad()  # outside the block: torch's own path, which imports it
assert "torch._dynamo" in sys.modules
"""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def _rates(schedule: str, n_epochs: int = 9, steps_per_epoch: int = 4, losses=None) -> list[float]:
    """The learning rate each epoch (or each step for a per-batch schedule) begins with, stepped as the loop
    steps it (engine.loop: per batch, per epoch, or per epoch on the validation loss)."""
    model = MLP(2, 2, [3])
    config = TrainConfig(optimizer="sgd", lr=0.1, schedule=schedule, patience=6)
    optimizer = make_optimizer(model.parameters(), config)
    scheduler, every = make_scheduler(optimizer, config, n_epochs, steps_per_epoch)
    rates = []
    for epoch in range(n_epochs if every != "batch" else n_epochs * steps_per_epoch):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if every == "plateau":
            scheduler.step(losses[epoch])
        else:
            scheduler.step()
    return rates


def test_each_schedule_gives_its_rates_at_known_steps():
    # step: a tenth every third of the epochs (9 epochs: 3 at each rate)
    assert _rates("step") == pytest.approx([0.1] * 3 + [0.01] * 3 + [0.001] * 3)
    # cosine over the epochs: lr/2 * (1 + cos(pi * t / T)): half the rate at the middle
    cosine = _rates("cosine", n_epochs=8)
    assert cosine[0] == pytest.approx(0.1) and cosine[4] == pytest.approx(0.05)
    assert cosine[2] == pytest.approx(0.05 * (1 + 2 ** -0.5))
    assert cosine[7] == pytest.approx(0.05 * (1 + math.cos(7 * math.pi / 8)))
    # one cycle over every step (40): from lr/25 up to lr at 30 % of the steps, then down to lr/25/1e4 at the last
    onecycle = _rates("onecycle", n_epochs=10, steps_per_epoch=4)
    assert len(onecycle) == 40 and onecycle[0] == pytest.approx(0.1 / 25)
    assert max(onecycle) == pytest.approx(0.1) and onecycle.index(max(onecycle)) == round(0.3 * 40) - 1
    assert onecycle[-1] == pytest.approx(0.1 / 25 / 1e4)
    # on a plateau: cut to 0.3 once the validation loss has not improved for patience // 3 = 2 epochs past its best
    plateau = _rates("plateau", n_epochs=7, losses=[1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95])
    assert plateau == pytest.approx([0.1] * 5 + [0.03] * 2)
