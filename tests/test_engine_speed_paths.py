"""The speed options behave: fused optimizers, thread choice, mixed precision, their validation."""

import math

import numpy as np
import pytest
import torch

import torchclassify as tc
from torchclassify.config import TrainConfig
from torchclassify.engine import device
from torchclassify.engine.device import (
    AutocastForward,
    choose_threads,
    cpu_threads,
    free_cpus,
    make_training_forward,
    own_load,
)
from torchclassify.engine.loop import TensorData, fit
from torchclassify.engine.optim import make_optimizer
from torchclassify.errors import ConfigError
from torchclassify.models import MLP
from torchclassify.tasks import get_task


@pytest.mark.parametrize("name,fused", [("sgd", True), ("adam", True), ("adamw", True), ("rmsprop", False)])
def test_fused_kernels_where_torch_has_them(name, fused):
    optimizer = make_optimizer(MLP(3, 2, [4]).parameters(), TrainConfig(optimizer=name))
    assert bool(optimizer.defaults.get("fused")) is fused
    assert fused or optimizer.defaults["foreach"]


def test_tiny_models_get_one_thread_and_the_setting_is_restored(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert choose_threads(None, n_parameters=151, batch_size=64) == 1
    monkeypatch.setattr(device, "free_cpus", lambda: 1)  # a busy machine
    assert choose_threads(None, n_parameters=500_000, batch_size=256) == 1
    monkeypatch.setattr(device, "free_cpus", lambda: 10_000)  # idle: never more than torch's own choice
    assert choose_threads(None, n_parameters=500_000, batch_size=256) == torch.get_num_threads()
    assert choose_threads(3, n_parameters=151, batch_size=64) == 3  # --threads wins
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert choose_threads(None, n_parameters=151, batch_size=64) is None  # the user's (or torchrun's) choice
    before = torch.get_num_threads()
    with cpu_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_free_cpus_counts_the_affinity_less_the_others_load(monkeypatch):
    # own=0.0: the load given is all other processes' (by default the test worker's own CPU use since import
    # would be subtracted from it, and the count would depend on how busy this worker has been).
    monkeypatch.setattr(device.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    assert free_cpus(load=0.0, own=0.0) == 4
    assert free_cpus(load=0.3, own=0.0) == 4
    assert free_cpus(load=2.0, own=0.0) == 2  # two busy processes leave two of four CPUs
    assert free_cpus(load=3.7, own=0.0) == 1
    assert free_cpus(load=40.0, own=0.0) == 1  # never fewer than one
    monkeypatch.setattr(device.os, "sched_getaffinity", lambda pid: {3}, raising=False)
    assert free_cpus(load=0.0, own=0.0) == 1  # pinned to one CPU (taskset): one thread, whatever the machine has
    monkeypatch.setattr(device.os, "getloadavg", lambda: (1.0, 1.0, 1.0), raising=False)
    monkeypatch.setattr(device.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert free_cpus(own=0.0) == 1  # the 1.0 is someone else's
    assert free_cpus(own=1.0) == 2  # the 1.0 is this process's own earlier fits: both CPUs are free
    monkeypatch.setattr(device, "own_load", lambda: 0.0)
    assert free_cpus() == 1


def test_own_load_is_this_process_cpu_rate_damped_like_the_load_average():
    import os
    import time

    wall, now = time.monotonic(), os.times()
    assert own_load((wall + 1.0, now)) == 0.0  # (a start still ahead: nothing measured yet)
    then = os.times_result((now.user - 120.0, now.system, now.children_user, now.children_system, now.elapsed))
    # 120 CPU seconds in the last 120 s: one busy thread, which the damped average shows as 1 - e^-2
    assert abs(own_load((wall - 120.0, then)) - (1 - math.exp(-2.0))) < 0.05


def test_bf16_autocast_trains_and_keeps_float32_weights_and_plain_keys():
    torch.manual_seed(0)
    X = torch.randn(256, 4)
    y = (X[:, 0] + X[:, 1] > 0).float()
    model = MLP(4, 1, [16])
    keys = set(model.state_dict())
    forward, scaler = make_training_forward(model, "bf16", False, torch.device("cpu"))
    assert isinstance(forward, AutocastForward) and scaler is None
    assert forward(X).dtype == torch.float32  # logits come back in float32 for the loss
    config = TrainConfig(amp="bf16", lr=0.05, seed=0)
    state = fit(model, get_task("binary"), TensorData(X, y), None, config, n_classes=2, n_epochs=30, batch_size=64)
    assert state.history[-1]["train_loss"] < 0.5 * state.history[0]["train_loss"]
    assert state.history[-1]["train_accuracy"] >= 0.9
    assert set(model.state_dict()) == keys
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_fp16_on_cpu_is_refused_with_a_way_out():
    with pytest.raises(ConfigError, match="--amp fp16 needs --device cuda"):
        make_training_forward(MLP(2, 1, []), "fp16", False, torch.device("cpu"))


@pytest.mark.parametrize("setting,message", [(dict(amp="fp8"), "--amp"), (dict(threads=0), "--threads"),
                                             (dict(compile="yes"), "--compile")])
def test_bad_speed_settings_are_refused(setting, message):
    with pytest.raises(ConfigError, match=message):
        tc.make_config(**setting)


def test_threads_setting_gives_the_same_model():
    runs = [tc.train(data="moons", n_samples=300, hidden=[8], epochs=5, seed=1, threads=n, progress="quiet")
            for n in (1, 2)]
    for key, value in runs[0].classifier.model.state_dict().items():
        torch.testing.assert_close(value, runs[1].classifier.model.state_dict()[key])


def test_rows_are_scored_a_batch_at_a_time_and_read_the_same():
    from torchclassify.engine.inference import SCORING_ROWS, in_batches, predict_logits

    sizes = []
    out = in_batches(lambda rows: sizes.append(len(rows)) or rows * 2, torch.arange(7.0).view(7, 1), batch_size=3)
    assert sizes == [3, 3, 1] and out.flatten().tolist() == [0, 2, 4, 6, 8, 10, 12]
    torch.manual_seed(0)
    model, X = MLP(3, 2, [8]).train(), torch.randn(SCORING_ROWS + 5, 3)
    logits = predict_logits(model, X)
    assert model.training and logits.shape == (SCORING_ROWS + 5, 2)  # (the mode comes back)
    torch.testing.assert_close(logits[-5:], predict_logits(model, X[-5:]))


def test_the_estimator_scores_many_rows_a_batch_at_a_time_as_one_at_a_time(monkeypatch):
    # Its float64 pass held every row's embeddings at once (docs/quality.md, twelfth round).
    import torchclassify.estimator as estimator
    from torchclassify.engine.inference import SCORING_ROWS, in_batches

    rng = torch.Generator().manual_seed(0)
    X = torch.randn(SCORING_ROWS + 7, 4, generator=rng).numpy()
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    model = tc.TorchClassifier(hidden=(8,), epochs=2, random_state=0).fit(X[:300], y[:300])
    passes = []  # the rows of each forward pass of the network
    monkeypatch.setattr(estimator, "in_batches",
                        lambda forward, rows: in_batches(lambda batch: passes.append(len(batch)) or forward(batch), rows))
    proba = model.predict_proba(X)
    assert passes == [SCORING_ROWS, 7] and proba.shape == (len(X), 2)
    rows = [0, SCORING_ROWS - 1, SCORING_ROWS, SCORING_ROWS + 6]
    alone = np.concatenate([model.predict_proba(X[[i]]) for i in rows])
    np.testing.assert_allclose(proba[rows], alone, rtol=0, atol=1e-12)
