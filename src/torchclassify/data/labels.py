"""Targets <-> numbers: the classes seen in training, kept as JSON so predictions return the original labels."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

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
    positive_reason: str = field(default="", compare=False)  # binary: why classes[1] is the positive class

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @classmethod
    def fit(cls, y: pd.DataFrame) -> "LabelEncoding":
        """Learn the classes from the training targets; DataError on missing or non-0/1 values."""
        check_target_values(y)
        if y.shape[1] > 1:
            _warn_constant_labels(y)
            return cls([str(c) for c in y.columns], multilabel=True)
        classes = {}
        for value in pd.unique(y.iloc[:, 0]):  # "yes" and "yes " (or 1 and "1.0") are one class
            value = to_json_scalar(value)
            classes.setdefault(label_key(value), value.strip() if isinstance(value, str) else value)
        _warn_case_only(list(classes.values()))
        return cls(sorted(classes.values(), key=_sort_key))

    def encode(self, y: pd.DataFrame) -> np.ndarray:
        """Raw targets -> (n,) int64 class indices, or (n, L) float32 0/1 for multilabel."""
        check_target_values(y)
        if self.multilabel:
            missing = [c for c in self.classes if c not in y.columns]
            if missing:
                raise DataError(f"target label column(s) {missing} are missing from the data")
            return np.array(y[self.classes].to_numpy(dtype=np.float32))  # writable copy for torch
        column = y.iloc[:, 0]
        lookup = self._lookup()
        codes = np.array([_find(lookup, v) for v in column], dtype=np.int64)
        unknown = pd.unique(column[codes < 0])
        if len(unknown):
            shown = ", ".join(repr(to_json_scalar(v)) for v in unknown[:5])
            raise DataError(f"label(s) {shown} were not seen in training (known: {self.classes[:10]}); "
                            "evaluate on data with the trained classes only")
        return codes

    def index_of(self, label) -> int | None:
        """The position of `label` among the classes, matching 1, 1.0 and "1" alike; None when absent."""
        index = _find(self._lookup(), label)
        return None if index < 0 else index

    def _lookup(self) -> tuple[dict, bool]:
        """({label_key: class index}, whether every class is a number) for _find."""
        numbers = all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in self.classes)
        return {label_key(c): i for i, c in enumerate(self.classes)}, numbers

    def with_positive(self, codes: np.ndarray, positive_index: int) -> tuple["LabelEncoding", np.ndarray]:
        """For two classes: the encoding whose second class (code 1, the positive one) is classes[positive_index],
        and `codes` re-encoded to match."""
        if positive_index == 1:
            return self, codes
        return LabelEncoding([self.classes[1], self.classes[0]], self.multilabel, self.positive_reason), 1 - codes

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """(n,) class indices -> (n,) original labels (object array keeps ints as ints, strings as strings)."""
        return np.asarray(self.classes, dtype=object)[codes]

    def to_dict(self) -> dict:
        return {"classes": list(self.classes), "multilabel": self.multilabel}

    @classmethod
    def from_dict(cls, raw: dict) -> "LabelEncoding":
        return cls(list(raw["classes"]), bool(raw["multilabel"]))


_NUMBER_TEXT = r"-?(?:0|[1-9]\d*)(?:\.\d+)?"  # "1", "-2", "1.0", "0.5": a number as a file writes one


def label_key(value):
    # 1 and 1.0 and "1" read from different files should still match the trained class 1; True and "True" too.
    # Numbers compare exactly (2**53 and 2**53 + 1 are two classes; 1 == 1.0 as keys), and text is a number
    # only as a number is plainly written: "01", "1_000" and "1e3" are codes, not the classes 1, 1000, 1000.
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, (int, float)):
        return ("n", value) if not isinstance(value, float) or np.isfinite(value) else ("s", str(value))
    text = str(value)
    if text.strip().lower() in ("true", "false"):  # a bool class read back as text (a CSV, a string column)
        return ("b", text.strip().lower() == "true")
    if re.fullmatch(_NUMBER_TEXT, text.strip()):
        number = text.strip()
        return ("n", float(number) if "." in number else int(number))
    return ("s", text.strip())


def _find(lookup: tuple[dict, bool], label) -> int:
    """label's class index by label_key in LabelEncoding._lookup's, -1 when absent. Where every class is a
    number, text that Python reads as that number matches it too ("01", "+1", "1e0" for 1): a model whose CSV
    labels 01, 02 were read as the numbers 1, 2 evaluates on the same file, read as text since leading-zero
    codes are kept."""
    keys, numbers = lookup
    value = to_json_scalar(label)
    index = keys.get(label_key(value), -1)
    if index < 0 and numbers and isinstance(value, str):
        try:
            index = keys.get(("n", float(value)), -1)
        except ValueError:
            pass
    return index


def _warn_constant_labels(y: pd.DataFrame) -> None:
    """Warn about a multilabel column that is 0 (or 1) on every row: the network can only learn to say so, and
    its F1 of 0 (nothing to find) pulls every macro average down without saying why."""
    for column in y.columns:
        values = y[column].astype(bool)
        if values.all() or not values.any():
            warnings.warn(f"label {str(column)!r} is {'1' if values.all() else '0'} on every row: there is nothing "
                          "to learn for it, and its F1 counts in the macro averages; drop it from the target, or "
                          "add rows where it differs", stacklevel=4)


def _warn_case_only(classes: list) -> None:
    """Warn when text labels differ only in case ("Yes", "yes"): most likely one class written two ways."""
    groups: dict[str, list] = {}
    for label in classes:
        if isinstance(label, str):
            groups.setdefault(label.lower(), []).append(label)
    alike = sorted(sorted(group) for group in groups.values() if len(group) > 1)
    if alike:
        shown = "; ".join(" and ".join(map(repr, group)) for group in alike[:3])
        warnings.warn(f"labels that differ only in case are separate classes: {shown} - write each class one way "
                      "if they are one", stacklevel=3)


def check_looks_like_classes(y: pd.DataFrame, task: str) -> None:
    """Refuse a single numeric target with many distinct values, unless --task multiclass asks for classes.

    A continuous target (a price, a duration) read as classes becomes hundreds of one-row classes and a test
    accuracy near 0. Limits: more than 20 distinct values some of which are fractional, or more than 50
    whole numbers that are also more than a tenth of the rows.
    """
    if y.shape[1] != 1 or task == "multiclass":
        return
    column = y.iloc[:, 0]
    if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return
    values = column.to_numpy(dtype=np.float64)
    distinct = np.unique(values)
    fractional = not np.all(distinct == np.round(distinct))
    if (fractional and len(distinct) > 20) or (len(distinct) > 50 and len(distinct) > 0.1 * len(values)):
        shown = ", ".join(f"{v:g}" for v in distinct[:4])
        raise DataError(f"target {column.name!r} holds {len(distinct)} distinct numbers ({shown}, ...): it looks "
                        "like a quantity to predict (regression), not classes - bin it into classes, or pass "
                        "--task multiclass to treat every value as a class")


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
