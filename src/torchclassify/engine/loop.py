"""The training loop: the seed's five steps in `train_step`, wrapped by epochs, validation and callbacks."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ..config import TrainConfig
from ..errors import TrainingError
from ..tasks import Task
from .callbacks import Callback, TrainState
from .optim import make_optimizer, make_scheduler


@dataclass
class TensorData:
    """Prepared rows on the training device: X (n, n_features) float32, y encoded for the task."""

    X: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return self.X.shape[0]


def train_step(model: nn.Module, loss_fn: nn.Module, optimizer: torch.optim.Optimizer,
               X_batch: torch.Tensor, y_batch: torch.Tensor, clip_grad_norm: float | None = None) -> torch.Tensor:
    """One optimisation step on a batch; returns the batch loss as a 0-d tensor (no host sync)."""
    # 1. Forward pass: features (b, n_features) -> logits (b, n_outputs).
    logits = model(X_batch)
    # 2. Loss: the task's criterion (BCEWithLogits or CrossEntropy) against the batch targets.
    loss = loss_fn(logits, y_batch)
    # 3. Zero the gradients left by the previous step (set_to_none frees them instead of writing zeros).
    optimizer.zero_grad(set_to_none=True)
    # 4. Backward pass: d(loss)/d(parameter) for every parameter.
    loss.backward()
    if clip_grad_norm is not None:  # optional: tame exploding gradients before they reach the weights
        nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
    # 5. Step: move the parameters against their gradients.
    optimizer.step()
    return loss.detach()


def epoch_batches(data: TensorData, batch_size: int, generator: torch.Generator):
    """Yield (X_batch, y_batch) views covering a fresh seeded permutation of the rows.

    One gather per epoch, then contiguous slices: no per-sample collation as with a DataLoader.
    A final batch of one row is dropped (BatchNorm cannot train on it; the permutation makes it random).
    """
    n = len(data)
    if batch_size >= n:
        yield data.X, data.y  # full batch: order does not matter, skip the shuffle copy
        return
    perm = torch.randperm(n, generator=generator, device=generator.device).to(data.X.device)
    X, y = data.X[perm], data.y[perm]
    stop = n - 1 if n % batch_size == 1 else n
    for start in range(0, stop, batch_size):
        yield X[start:start + batch_size], y[start:start + batch_size]


@torch.inference_mode()
def predict_logits(model: nn.Module, X: torch.Tensor, batch_size: int = 65536) -> torch.Tensor:
    """Model outputs (n, n_outputs) in eval mode and large batches; the model's mode is restored."""
    was_training = model.training
    model.eval()
    try:
        outputs = [model(X[i:i + batch_size]) for i in range(0, X.shape[0], batch_size)]
        return torch.cat(outputs) if outputs else model(X)
    finally:
        model.train(was_training)


def fit(model: nn.Module, task: Task, train: TensorData, valid: TensorData | None, config: TrainConfig, *,
        n_classes: int, n_epochs: int, batch_size: int, callbacks: list[Callback] = (),
        augment: Callable | None = None, generator: torch.Generator | None = None,
        resume: dict | None = None) -> TrainState:
    """Train `model` for up to n_epochs; returns the TrainState with the per-epoch history.

    train.y / valid.y are the encoded targets ((n,) int64 multiclass, (n,) or (n, L) float 0/1 otherwise).
    Each epoch records train_loss, lr, and, with a validation split, valid_loss and valid_<main metric>;
    train_<main metric> is measured in eval mode on up to 10,000 training rows.
    resume: a checkpoint (engine.checkpoint.read_checkpoint) to continue from, bit-identically on CPU.
    """
    generator = generator or torch.Generator().manual_seed(config.seed)
    weights = task.balanced_weights(train.y, n_classes).to(train.X.device) if config.class_weight == "balanced" else None
    loss_fn = task.make_loss(weights)
    optimizer = make_optimizer(model.parameters(), config)
    steps_per_epoch = max(1, math.ceil(len(train) / batch_size))
    scheduler, schedule_every = make_scheduler(optimizer, config, n_epochs, steps_per_epoch)
    y_train = task.as_training_target(train.y)
    monitor_rows = slice(0, min(len(train), 10_000))

    state = TrainState(model, optimizer, n_epochs, task.main_metric, scheduler=scheduler, generator=generator)
    first_epoch = 1
    if resume is not None:  # weights, optimizer, schedule, RNGs, history, callbacks: as after that epoch
        from .checkpoint import restore_checkpoint

        first_epoch = restore_checkpoint(resume, state, callbacks)
    for callback in callbacks:
        callback.on_train_begin(state)
    for epoch in range(first_epoch, n_epochs + 1):
        state.epoch = epoch
        started = time.perf_counter()
        model.train()
        lr = optimizer.param_groups[0]["lr"]
        losses, sizes = [], []
        for X_batch, y_batch in epoch_batches(TensorData(train.X, y_train), batch_size, generator):
            if augment is not None:
                X_batch, y_batch = augment(X_batch, y_batch)
            losses.append(train_step(model, loss_fn, optimizer, X_batch, y_batch, config.clip_grad_norm))
            sizes.append(X_batch.shape[0])
            if schedule_every == "batch":
                scheduler.step()
        # One host sync per epoch: the batch losses stay on the device until here.
        train_loss = float((torch.stack(losses) * torch.tensor(sizes, device=losses[0].device)).sum() / sum(sizes))
        record = {"epoch": epoch, "train_loss": train_loss, "lr": lr}
        record[f"train_{task.main_metric}"] = score(model, task, TensorData(train.X[monitor_rows], train.y[monitor_rows]),
                                                    loss_fn, n_classes, config.threshold)[1]
        if valid is not None and len(valid):
            record["valid_loss"], record[f"valid_{task.main_metric}"] = score(
                model, task, valid, loss_fn, n_classes, config.threshold)
        record["seconds"] = time.perf_counter() - started
        state.history.append(record)
        if not math.isfinite(train_loss) or not math.isfinite(record.get("valid_loss", 0.0)):
            raise TrainingError(
                f"the loss became {train_loss} at epoch {epoch}: the learning rate ({config.lr}) is probably too "
                "high - lower --lr, or add --clip-grad-norm 1.0")
        if schedule_every == "epoch" and scheduler is not None:
            scheduler.step()
        elif schedule_every == "plateau":
            scheduler.step(record.get("valid_loss", train_loss))
        for callback in callbacks:
            callback.on_epoch_end(state)
        if state.should_stop:
            break
    for callback in callbacks:
        callback.on_train_end(state)
    return state


def score(model: nn.Module, task: Task, data: TensorData, loss_fn: nn.Module, n_classes: int,
          threshold: float) -> tuple[float, float]:
    """(loss, main metric) of the model on data, in eval mode."""
    logits = predict_logits(model, data.X)
    loss = float(loss_fn(logits, task.as_training_target(data.y)))
    y_proba = task.to_proba(task.squeeze_logits(logits))
    metric = task.compute_main_metric(y_proba, data.y, n_classes, threshold)
    return loss, metric
