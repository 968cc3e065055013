"""Train / validation / test splits: seeded, stratified on single-label targets when possible."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..config import RunConfig
from ..errors import DataError
from ..tasks import detect_task
from .labels import LabelEncoding


def split_indices(n_samples: int, y_codes: np.ndarray | None, valid_size: float, test_size: float,
                  seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices for train, validation and test.

    y_codes: (n,) class indices to stratify on, or None (multilabel) for a plain shuffle.
    valid_size, test_size: fractions of all rows; 0 gives an empty split.
    Stratification is dropped, with a warning, when a class is too rare to appear in every split.
    """
    from sklearn.model_selection import train_test_split

    indices = np.arange(n_samples)
    n_test = int(round(n_samples * test_size))
    n_valid = int(round(n_samples * valid_size))
    if test_size > 0:
        n_test = max(n_test, 1)
    if valid_size > 0:
        n_valid = max(n_valid, 1)
    if n_samples - n_test - n_valid < 2:
        raise DataError(f"only {n_samples} row(s): too few to split into train/validation/test - "
                        "add rows or use --valid-size 0 --test-size 0")

    def cut(idx, size, seed_offset):
        if size == 0:
            return idx, idx[:0]
        strat = y_codes[idx] if y_codes is not None else None
        if strat is not None:
            _, counts = np.unique(strat, return_counts=True)
            n_classes = len(counts)
            if counts.min() < 2 or size < n_classes or len(idx) - size < n_classes:
                warnings.warn("a class is too rare to stratify the split; splitting without stratification",
                              stacklevel=3)
                strat = None
        return train_test_split(idx, test_size=size, random_state=seed + seed_offset, stratify=strat)

    rest, test = cut(indices, n_test, 0)
    train, valid = cut(rest, n_valid, 1)
    return np.sort(train), np.sort(valid), np.sort(test)


def split_targets(y: pd.DataFrame, config: RunConfig):
    """Labels, task, encoded targets and the seeded (stratified) split, from the targets alone.

    y: (n, n_targets) raw targets of every row. Returns (task name, LabelEncoding, codes (n,) or (n, L),
    {"train", "valid", "test": sorted row indices}); in-memory and streamed runs share it, so they split alike.
    """
    labels = LabelEncoding.fit(y)
    task_name = detect_task(y.shape[1], labels.n_classes, config.data.task)
    codes = labels.encode(y)
    strat = None if labels.multilabel else codes
    train_idx, valid_idx, test_idx = split_indices(len(codes), strat, config.data.valid_size,
                                                   config.data.test_size, config.train.seed)
    if not labels.multilabel and len(np.unique(codes[train_idx])) < 2:
        raise DataError("the training split holds a single class: add rows of the other classes")
    return task_name, labels, codes, {"train": train_idx, "valid": valid_idx, "test": test_idx}
