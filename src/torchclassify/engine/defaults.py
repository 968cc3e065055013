"""Settings left as None are chosen from the data here, once, and stored resolved in config.json."""

from __future__ import annotations

import math
from dataclasses import replace

from ..config import TrainConfig


def resolve_train_config(config: TrainConfig, n_train: int, has_valid: bool) -> TrainConfig:
    """Fill batch_size, epochs, patience and early_stopping from the training-set size.

    Small tables get small batches and many epochs (enough optimisation steps to converge); large ones
    get large batches and fewer epochs. Early stopping is on whenever there is a validation split, with
    patience generous enough that small datasets are not starved.
    """
    batch_size = config.batch_size
    if batch_size is None:
        batch_size = int(min(512, max(32, 2 ** round(math.log2(max(n_train, 1) / 64)))))
    effective = n_train if batch_size == 0 else min(batch_size, n_train)
    steps_per_epoch = max(1, math.ceil(n_train / max(effective, 1)))
    epochs = config.epochs
    if epochs is None:
        # Aim for ~6000 optimisation steps, within 20..1000 epochs; early stopping ends most runs sooner.
        epochs = int(min(1000, max(20, math.ceil(6000 / steps_per_epoch))))
    early_stopping = has_valid if config.early_stopping is None else (config.early_stopping and has_valid)
    patience = config.patience if config.patience is not None else int(min(50, max(10, epochs // 10)))
    return replace(config, batch_size=batch_size, epochs=epochs, early_stopping=early_stopping, patience=patience)
