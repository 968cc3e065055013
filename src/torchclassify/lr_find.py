"""The learning-rate range test: train a fresh model for a few hundred steps while the learning rate grows
exponentially, record the smoothed loss, and suggest a rate from the curve.

The suggestion is fastai's "valley" (the middle of the longest stretch where the loss keeps falling),
capped one decade below the rate of the lowest loss, so that a noisy curve never suggests a rate at the
edge of divergence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from .config import make_config
from .data.prepare import prepare
from .data.tensors import TensorData
from .engine.defaults import large_ensemble_batch, resolve_train_config
from .engine.device import resolve_device, seeded_torch
from .engine.loop import epoch_batches, train_step
from .engine.optim import make_optimizer
from .errors import ConfigError, TrainingError
from .models import make_fitted_model
from .tasks import get_task


@dataclass
class LRFinderResult:
    """lrs and losses (smoothed training loss) per step; suggestion: the rate to train with."""

    lrs: list[float]
    losses: list[float]
    raw_losses: list[float]
    suggestion: float
    lr_min_loss: float  # the rate at the lowest smoothed loss
    config: Any = None  # the RunConfig the test used (its optimizer, model and batch size)
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"suggestion": self.suggestion, "lr_min_loss": self.lr_min_loss, "lrs": self.lrs,
                "losses": self.losses, "raw_losses": self.raw_losses, **self.info}


MAX_STEPS = 20_000  # one batch each; the suggestion's search is quadratic in the steps (~0.5 s here)


def lr_find(config=None, *, data=None, start_lr: float = 1e-7, end_lr: float = 10.0, n_steps: int = 200,
            beta: float = 0.9, diverge: float = 4.0, **settings) -> LRFinderResult:
    """Run the range test with the config's data, model, optimizer and batch size.

    config/settings: as for workflow.train (e.g. lr_find(source="wine", hidden=[64])).
    n_steps: learning rates tried, spaced evenly in log from start_lr to end_lr; batches cycle over the
    training split. Stops early once the smoothed loss exceeds `diverge` times its best.
    beta: smoothing of the loss curve (exponential moving average, bias-corrected).
    """
    if not (0 < start_lr < end_lr and math.isfinite(end_lr)):
        raise ConfigError(f"the range needs 0 < --start-lr < --end-lr, both finite, got {start_lr:g}..{end_lr:g}")
    if not 10 <= n_steps <= MAX_STEPS:
        raise ConfigError(f"the range test takes 10 to {MAX_STEPS:,} --steps, got {n_steps}")
    if isinstance(data, str):
        settings["source"], data = data, None
    config = make_config(config, **settings)
    if config.data.stream:
        raise ConfigError("lr-find holds its training rows in memory: drop --stream (a sample of the file, "
                          "converted with `torchclassify convert`, serves to choose a rate)")
    prepared = prepare(config, data)
    config.data.task = prepared.task_name
    task = get_task(prepared.task_name)
    device = resolve_device(config.train.device)
    asked, members = config.train, config.model.members or 1
    large = large_ensemble_batch(asked, len(prepared.splits["train"]), members)  # what train will take
    config.train = resolve_train_config(config.train, len(prepared.splits["train"]),
                                        len(prepared.splits["valid"]) > 0)
    rows = prepared.training_data(device, task.target_dtype(), config.train.seed)
    train = TensorData(rows.X, task.as_training_target(rows.y))
    with seeded_torch(config.train.seed, device):
        model = make_fitted_model(config.model, prepared.preprocessor, task.n_outputs(prepared.labels.n_classes),
                                  lambda rows: prepared.training_sample(rows, config.train.seed)).to(device)
        lrs, raw, smoothed = _range_test(model, task, train, config, start_lr, end_lr, n_steps, beta, diverge)
    if len(smoothed) < 10:
        raise TrainingError(f"the loss diverged within {len(smoothed)} steps from lr {start_lr:g}: start the range "
                            "lower (--start-lr)")
    suggestion, lr_min_loss = suggest_lr(lrs, smoothed)
    info = {"optimizer": config.train.optimizer, "batch_size": config.train.batch_size or len(train),
            "n_steps_run": len(lrs), "dataset": prepared.name}
    if large is not asked:  # (the rule returns the settings themselves where it does not apply)
        info["train_batch_size"], info["train_lr_factor"] = large.batch_size, large.lr / asked.lr  # (as train will)
    return LRFinderResult(lrs, smoothed, raw, suggestion, lr_min_loss, config, info)


def _range_test(model, task, train: TensorData, config, start_lr: float, end_lr: float, n_steps: int,
                beta: float, diverge: float) -> tuple[list[float], list[float], list[float]]:
    """One batch per rate, the rate growing geometrically; returns (rates, batch losses, smoothed losses)."""
    model.train()
    optimizer = make_optimizer(model.parameters(), config.train)
    loss_fn = task.make_loss(None)
    generator = torch.Generator().manual_seed(config.train.seed)
    batch_size = config.train.batch_size or len(train)
    factor = (end_lr / start_lr) ** (1 / (n_steps - 1))

    lrs, raw, smoothed = [], [], []
    average, best = 0.0, math.inf
    batches = iter(())
    for step in range(n_steps):
        lr = start_lr * factor ** step
        for group in optimizer.param_groups:
            group["lr"] = lr
        batch = next(batches, None)
        if batch is None:  # a new epoch: a fresh seeded shuffle
            batches = epoch_batches(train, batch_size, generator)
            batch = next(batches)
        loss = float(train_step(model, loss_fn, optimizer, batch[0], batch[1])[0])
        if not math.isfinite(loss):
            break
        average = beta * average + (1 - beta) * loss
        value = average / (1 - beta ** (step + 1))  # bias correction: early averages lean towards 0
        lrs.append(lr)
        raw.append(loss)
        smoothed.append(value)
        best = min(best, value)
        if value > diverge * best:
            break
    return lrs, raw, smoothed


def suggest_lr(lrs: list[float], losses: list[float]) -> tuple[float, float]:
    """(suggested rate, rate at the lowest loss) from a range-test curve.

    Valley: the longest run of steps over which the loss keeps reaching new lows (a longest decreasing
    subsequence), and a point 2/3 of the way down it - steep descent, well before the minimum. Capped
    at a tenth of the rate of the lowest loss: beyond that the loss is about to blow up.
    """
    import numpy as np

    values = np.asarray(losses, dtype=np.float64)
    n = len(values)
    i_min = int(np.argmin(values))
    # lds[i]: length of the longest strictly decreasing sequence ending at i; start[i]: where it begins (that
    # of the first earlier step giving the longest). Each step is one vector operation over those before it.
    lds, start = np.ones(n, dtype=np.int64), np.arange(n)
    for i in range(1, n):
        before = np.where(values[:i] > values[i], lds[:i], 0)
        j = int(np.argmax(before))  # the first of the longest
        if before[j]:
            lds[i], start[i] = before[j] + 1, start[j]
    end = int(np.argmax(lds))  # the first step ending a longest run
    first = int(start[end])
    idx = first + (end - first) * 2 // 3
    lr_min_loss = lrs[i_min]
    return min(lrs[idx], lr_min_loss / 10), lr_min_loss


def lr_find_figure(result: LRFinderResult):
    """Smoothed loss against the learning rate (log scale), with the suggestion marked: a matplotlib Figure
    (no pyplot)."""
    from .plots import LRFinderDisplay

    return LRFinderDisplay.from_result(result).figure_
