"""Optimizers and learning-rate schedules by name."""

from __future__ import annotations

import torch

from ..config import TrainConfig


def make_optimizer(params, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD (with momentum), Adam, AdamW or RMSprop at config.lr with config.weight_decay.

    SGD, Adam and AdamW use the fused kernels (one native call updates every parameter) on CPU and CUDA;
    RMSprop, and parameters elsewhere, use foreach. On small models the per-parameter Python loop of the
    default implementation is a large share of each step (Adam: ~2x slower per step on the circles net).
    """
    params = list(params)
    fused_ok = config.optimizer != "rmsprop" and all(
        p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    kw = {"lr": config.lr, "weight_decay": config.weight_decay}
    kw.update({"fused": True} if fused_ok else {"foreach": True})
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, momentum=config.momentum, **kw)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, **kw)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, **kw)
    return torch.optim.RMSprop(params, momentum=config.momentum, **kw)


def make_scheduler(optimizer, config: TrainConfig, n_epochs: int, steps_per_epoch: int):
    """The LR schedule and when it steps: returns (scheduler or None, "batch" | "epoch" | "plateau")."""
    name = config.schedule
    if name == "none":
        return None, "epoch"
    if name == "step":
        step_size = max(1, n_epochs // 3)
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=0.1), "epoch"
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=n_epochs), "epoch"
    if name == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr,
                                                   total_steps=n_epochs * steps_per_epoch), "batch"
    patience = max(2, (config.patience or 10) // 3)
    return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.3, patience=patience), "plateau"
