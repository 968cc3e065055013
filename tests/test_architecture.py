"""The house's promises: one source of settings, the fast path refusing what it cannot honour and training the
same model as autograd, a library that leaves the caller's random state alone, partial_fit that continues."""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.utils.parametrizations
import torch.nn.utils.prune
from torch import nn

import torchclassify as tc
from torchclassify.config import SETTINGS, TrainConfig, spec
from torchclassify.data.tensors import TensorData
from torchclassify.engine.distributed import SingleProcess
from torchclassify.engine.loop import choose_step, fit, make_loss
from torchclassify.engine.optim import direct_step, make_optimizer, torch_checked
from torchclassify.models import MLP
from torchclassify.tasks import get_task

SRC = Path(tc.__file__).parent


def test_cli_choices_are_derived_from_the_config():
    """Every choice flag offers exactly the setting's choices, and no command restates a list of them."""
    from torchclassify.cli import build_parser

    for command, parser in build_parser()[2].items():
        for action in parser._actions:
            if action.dest in SETTINGS and action.choices is not None:
                assert tuple(action.choices) == spec(action.dest).choices, (command, action.dest)
    for path in (SRC / "commands").glob("*.py"):
        for choices in re.findall(r"choices=\(?\[?([^)\]]*)", path.read_text()):
            for name, (_, field) in SETTINGS.items():
                values = field.metadata["setting"].choices
                assert not (values and all(f'"{v}"' in choices for v in values)), (path.name, name)


def test_the_library_never_imports_the_command_line():
    for path in SRC.rglob("*.py"):
        if path.parent.name == "commands" or path.name in ("cli.py", "__main__.py"):
            continue
        text = path.read_text()
        assert "commands" not in re.findall(r"from \.+(\w+)", text), path
        assert "from .cli" not in text and "from ..cli" not in text, path


def test_no_source_file_is_a_warehouse():
    sizes = {path.relative_to(SRC): len(path.read_text().splitlines()) for path in SRC.rglob("*.py")}
    assert max(sizes.values()) <= 420, max(sizes.items(), key=lambda kv: kv[1])


def _mlp(dropout=0.0, seed=0):
    torch.manual_seed(seed)
    return MLP(4, 3, [16, 16], "relu", dropout)


def _data(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 4, generator=g)
    y = (X[:, 0] > 0).long() + (X[:, 1] > 0.5).long()
    return TensorData(X, y)


def _path(model, config=TrainConfig(backward="auto")):
    task = get_task("multiclass")
    loss_fn = make_loss(task, config, torch.zeros(4, dtype=torch.long), 3)
    optimizer = make_optimizer(model.parameters(), config)
    return choose_step(model, loss_fn, optimizer, config, SingleProcess(), torch.device("cpu"))[1]


def test_the_fast_path_refuses_hooks_parametrizations_and_computed_weights():
    assert _path(_mlp()) == "hand-derived"
    hooked = _mlp()
    hooked.layers[0].register_forward_hook(lambda module, args, output: output * 2)
    assert _path(hooked) == "autograd"
    pre_hooked = _mlp()
    pre_hooked.layers[2].register_forward_pre_hook(lambda module, args: None)
    assert _path(pre_hooked) == "autograd"
    pruned = _mlp()
    torch.nn.utils.prune.l1_unstructured(pruned.layers[0], "weight", amount=0.5)
    assert _path(pruned) == "autograd"
    normed = _mlp()
    torch.nn.utils.parametrizations.weight_norm(normed.layers[0])
    assert _path(normed) == "autograd"
    handle = torch.nn.modules.module.register_module_forward_hook(lambda module, args, output: None)
    try:
        assert _path(_mlp()) == "autograd"
    finally:
        handle.remove()
    assert _path(_mlp(), TrainConfig(backward="autograd")) == "autograd"


def _train(model, backward: str, n_epochs=3, seed=0):
    config = TrainConfig(backward=backward, seed=seed, lr=1e-2)
    torch.manual_seed(seed + 1)  # dropout's stream: the same for both paths
    return fit(model, get_task("multiclass"), _data(), None, config, n_classes=3, n_epochs=n_epochs,
               batch_size=32)


def test_a_pruned_model_trains_as_autograd_trains_it():
    models = []
    for backward in ("auto", "autograd"):
        model = _mlp()
        torch.nn.utils.prune.l1_unstructured(model.layers[0], "weight", amount=0.5)
        state = _train(model, backward)
        models.append((state, model))
    (fast, fast_model), (slow, slow_model) = models
    assert fast.training_path == slow.training_path == "autograd"
    assert [r["train_loss"] for r in fast.history] == [r["train_loss"] for r in slow.history]
    assert torch.equal(fast_model.layers[0].weight_orig, slow_model.layers[0].weight_orig)


def test_dropout_masks_are_drawn_alike_so_both_paths_train_the_same_model():
    fast_model, slow_model = _mlp(dropout=0.3), _mlp(dropout=0.3)
    fast, slow = _train(fast_model, "auto"), _train(slow_model, "autograd")
    assert (fast.training_path, slow.training_path) == ("hand-derived", "autograd")
    for a, b in zip(fast.history, slow.history):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
    for a, b in zip(fast_model.parameters(), slow_model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)  # rounding only: the same units were dropped
    other = _mlp(dropout=0.3)
    _train(other, "auto", seed=1)  # another dropout stream: clearly another model
    assert not torch.allclose(other.layers[0].weight, fast_model.layers[0].weight, atol=1e-3)


def test_fit_leaves_the_callers_random_state_alone():
    from torchclassify import TorchClassifier

    X = np.random.default_rng(0).normal(size=(120, 3))
    y = (X[:, 0] > 0).astype(int)
    TorchClassifier(epochs=1, hidden=[8]).fit(X, y)  # first imports (rich draws a random id when imported)
    np.random.seed(123)
    random.seed(123)
    torch.manual_seed(123)
    expected = (np.random.rand(), random.random(), torch.rand(1).item())
    np.random.seed(123)
    random.seed(123)
    torch.manual_seed(123)
    TorchClassifier(epochs=2, hidden=[8]).fit(X, y)
    tc.train(data="moons", epochs=2, hidden=[8], progress="quiet")
    assert (np.random.rand(), random.random(), torch.rand(1).item()) == expected


def test_partial_fit_continues_with_the_same_optimizer_state():
    from torchclassify import TorchClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] > 0).astype(int)
    clf = TorchClassifier(epochs=1, batch_size=50, hidden=[8])
    clf.partial_fit(X[:100], y[:100], classes=[0, 1])
    optimizer = clf._optimizer
    parameter = next(clf.classifier_.model.parameters())
    steps = float(optimizer.state[parameter]["step"])
    clf.partial_fit(X[100:], y[100:])
    assert clf._optimizer is optimizer  # Adam's moments carried on, not reset
    assert float(optimizer.state[parameter]["step"]) == steps + 2  # 100 rows in batches of 50
    assert clf.n_iter_ == 2


def test_resume_is_refused_on_every_rank_under_torchrun(monkeypatch, tmp_path):
    monkeypatch.setenv("WORLD_SIZE", "2")
    for rank in ("0", "1"):
        monkeypatch.setenv("RANK", rank)
        with pytest.raises(tc.ConfigError, match="not supported under torchrun"):
            tc.train(resume=tmp_path / "run")


def test_direct_step_only_on_checked_torch_releases(monkeypatch):
    model = _mlp()
    optimizer = make_optimizer(model.parameters(), TrainConfig(optimizer="adam"))
    assert torch_checked("2.13.0+cpu") and not torch_checked("2.99.1")
    monkeypatch.setattr(torch, "__version__", "2.99.1")
    assert direct_step(optimizer) == optimizer.step


def test_the_sklearn_floor_in_pyproject_covers_the_estimators_api():
    """estimator.py uses validate_data and __sklearn_tags__, both new in scikit-learn 1.6."""
    text = (SRC.parents[1] / "pyproject.toml").read_text()
    floor = re.search(r'"scikit-learn>=([\d.]+)"', text).group(1)
    assert tuple(map(int, floor.split("."))) >= (1, 6)
    from sklearn.utils.validation import validate_data  # noqa: F401  (the API the floor is for)


def test_a_hooked_custom_layer_still_runs_its_hook_in_training():
    calls = []
    model = _mlp()
    model.layers[0].register_forward_hook(lambda module, args, output: calls.append(1))
    _train(model, "auto", n_epochs=1)
    assert len(calls) >= 8  # 256 rows in batches of 32: the hook ran on every training batch
    assert isinstance(model, nn.Module)
