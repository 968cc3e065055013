"""Optional augmentation of preprocessed training batches (off by default): Gaussian noise and mixup, and
for images flip, crop, rotate and jitter (data/image_augment.py).

All act on a training batch after scaling, so `noise` strength is in standard deviations.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ..config import IMAGE_AUGMENTATIONS
from ..errors import ConfigError
from .image_augment import make_image_augmenter

Batch = tuple[torch.Tensor, torch.Tensor]


def make_augmenter(kind: str, strength: float | None, to_soft_targets: Callable, n_classes: int,
                   generator: torch.Generator, image_shape: tuple[int, int, int] | None = None,
                   ) -> Callable[[torch.Tensor, torch.Tensor], Batch] | None:
    """Return f(X_batch (b, d), y_batch) -> (X_batch, y_batch), or None for kind "none".

    noise: X + N(0, strength^2), strength 0.1 by default.
    mixup: convex mixes of row pairs with lambda ~ Beta(alpha, alpha), alpha 0.2 by default; targets become
    soft (b, outputs) floats, which BCEWithLogits and CrossEntropy both accept.
    image kinds ("flip,crop"): need image_shape (C, H, W); ConfigError for a table.
    """
    if kind == "none":
        return None
    kinds = kind.split(",")
    if all(k in IMAGE_AUGMENTATIONS for k in kinds):
        if image_shape is None:
            raise ConfigError(f"--augment {kind} applies to images; a table takes noise or mixup")
        return make_image_augmenter(kinds, image_shape, strength, generator)
    if kind == "noise":
        std = 0.1 if strength is None else strength

        def add_noise(X, y):
            noise = torch.randn(X.shape, generator=generator, device=generator.device).to(X.device)
            return X + std * noise, y

        return add_noise
    if kind == "mixup":
        alpha = 0.2 if strength is None else strength
        # torch's Beta sampler takes no generator: a NumPy stream seeded from ours keeps runs reproducible.
        seed = int(torch.randint(2**31 - 1, (1,), generator=generator, device=generator.device).item())
        rng = np.random.default_rng(seed)

        def mixup(X, y):
            lam = float(rng.beta(alpha, alpha))
            perm = torch.randperm(X.shape[0], generator=generator, device=generator.device).to(X.device)
            y_soft = to_soft_targets(y, n_classes)
            return lam * X + (1 - lam) * X[perm], lam * y_soft + (1 - lam) * y_soft[perm]

        return mixup
    raise ValueError(f"unknown augmentation {kind!r}")


def with_label_smoothing(augment: Callable | None, smoothing: float, to_soft_targets: Callable, n_classes: int,
                         n_values: int) -> Callable[[torch.Tensor, torch.Tensor], Batch] | None:
    """`augment` followed by label smoothing: targets become (1 - smoothing) * y + smoothing / K, soft floats
    shaped like the logits (K = n_values: the classes, or 2 for a binary label or each multilabel label). The
    validation loss (early stopping's judge) stays the plain one: only training batches are smoothed."""
    if smoothing == 0:
        return augment
    def smooth(X, y):
        if augment is not None:
            X, y = augment(X, y)
        y_soft = y if y.is_floating_point() else to_soft_targets(y, n_classes)  # (mixup's are soft already)
        return X, (1 - smoothing) * y_soft + smoothing / n_values

    return smooth


def training_augmenter(config, task, n_classes: int, generator: torch.Generator,
                       image_shape: tuple[int, int, int] | None = None) -> Callable | None:
    """What a fit's training batches go through: config.data's augmentation, then config.train's label smoothing
    (None for neither). One place for train_prepared and the estimator's partial_fit continuation.

    config: a RunConfig (label smoothing resolved); task: tasks.Task, whose soft targets both steps build.
    """
    augment = make_augmenter(config.data.augment, config.data.augment_strength, task.to_soft_targets, n_classes,
                             generator, image_shape)
    return with_label_smoothing(augment, config.train.label_smoothing, task.to_soft_targets, n_classes,
                                2 if task.uses_threshold else n_classes)
