"""Targets <-> numbers: the classes seen in training, kept as JSON so predictions return the original labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError


def to_json_scalar(value):
    """numpy scalars -> plain Python (int, float, str, bool) so labels survive a JSON round trip."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def _sort_key(value):
    # Mixed label types cannot be compared directly: order numbers first, then text.
    return (0, float(value), "") if isinstance(value, (int, float, np.number)) and not isinstance(value, bool) \
        else (1, 0.0, str(value))


@dataclass
class LabelEncoding:
    """The classes (single label column) or label names (multilabel), in model-output order.

    classes: original label values, e.g. ["basic", "premium"] or [0, 1, 2]; for multilabel the column names.
    multilabel: whether y has several 0/1 columns.
    """

    classes: list
    multilabel: bool = False

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @classmethod
    def fit(cls, y: pd.DataFrame) -> "LabelEncoding":
        """Learn the classes from the training targets; DataError on missing or non-0/1 values."""
        check_target_values(y)
        if y.shape[1] > 1:
            return cls([str(c) for c in y.columns], multilabel=True)
        values = pd.unique(y.iloc[:, 0])
        return cls(sorted((to_json_scalar(v) for v in values), key=_sort_key))

    def encode(self, y: pd.DataFrame) -> np.ndarray:
        """Raw targets -> (n,) int64 class indices, or (n, L) float32 0/1 for multilabel."""
        check_target_values(y)
        if self.multilabel:
            missing = [c for c in self.classes if c not in y.columns]
            if missing:
                raise DataError(f"target label column(s) {missing} are missing from the data")
            return np.array(y[self.classes].to_numpy(dtype=np.float32))  # writable copy for torch
        column = y.iloc[:, 0]
        lookup = {_label_key(c): i for i, c in enumerate(self.classes)}
        codes = np.array([lookup.get(_label_key(to_json_scalar(v)), -1) for v in column], dtype=np.int64)
        unknown = pd.unique(column[codes < 0])
        if len(unknown):
            shown = ", ".join(repr(to_json_scalar(v)) for v in unknown[:5])
            raise DataError(f"label(s) {shown} were not seen in training (known: {self.classes[:10]}); "
                            "evaluate on data with the trained classes only")
        return codes

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """(n,) class indices -> (n,) original labels (object array keeps ints as ints, strings as strings)."""
        return np.asarray(self.classes, dtype=object)[codes]

    def to_dict(self) -> dict:
        return {"classes": list(self.classes), "multilabel": self.multilabel}

    @classmethod
    def from_dict(cls, raw: dict) -> "LabelEncoding":
        return cls(list(raw["classes"]), bool(raw["multilabel"]))


def _label_key(value):
    # 1 and 1.0 and "1" read from different files should still match the trained class 1.
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, (int, float)) and float(value).is_integer():
        return ("n", float(value))
    if isinstance(value, float):
        return ("n", value)
    text = str(value)
    try:
        number = float(text)
        return ("n", number) if np.isfinite(number) else ("s", text)
    except ValueError:
        return ("s", text)


def check_target_values(y: pd.DataFrame) -> None:
    """Refuse missing or infinite targets, and multilabel columns that are not 0/1."""
    if len(y) == 0:
        raise DataError("the target has no rows: the data is empty")
    for column in y.columns:
        values = y[column]
        n_missing = int(values.isna().sum())
        if n_missing:
            raise DataError(f"target column {column!r} has {n_missing} missing value(s): drop or fill those rows")
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            if not np.isfinite(values.to_numpy(dtype=np.float64)).all():
                raise DataError(f"target column {column!r} has infinite values: fix or drop those rows")
    if y.shape[1] > 1:
        for column in y.columns:
            values = y[column]
            ok = pd.api.types.is_bool_dtype(values) or (
                pd.api.types.is_numeric_dtype(values) and values.isin([0, 1]).all())
            if not ok:
                raise DataError(f"multilabel target column {column!r} must hold only 0/1 values; "
                                "for a single label column name just that column")
