"""The estimator's targets as scikit-learn checks them: y as given -> an array of labels, before encoding."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from .data.labels import LabelEncoding, label_key, to_json_scalar
from .engine.defaults import choose_class_weight
from .errors import ConfigError, DataError


def checked_targets(y, n_rows: int):
    """y as an array checked as classification targets: (n_rows,) labels, or (n_rows, L) for multilabel; None
    stays None. An (n, 1) column becomes (n,) with scikit-learn's DataConversionWarning. ValueError for a
    length that is not n_rows, or labels that mix strings and numbers."""
    if y is None:
        return None
    y = np.asarray(y.to_numpy() if isinstance(y, (pd.Series, pd.DataFrame)) else y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = column_or_1d(y, warn=True)
    if len(y) != n_rows:
        raise DataError(f"X has {n_rows} rows but y has {len(y)}: they must match")
    if y.dtype.kind in "Of":  # (else a missing label read as "a mix of strings and numbers", or "continuous")
        missing = pd.isna(y) if y.ndim == 1 else pd.isna(y).any(axis=1)
        if missing.any():
            rows = ", ".join(map(str, np.flatnonzero(missing)[:5])) + (", ..." if missing.sum() > 5 else "")
            raise DataError(f"y has {int(missing.sum())} missing label(s) (None or NaN), at row(s) {rows}: drop "
                             "those rows or fill their labels")
    if y.dtype == object and len({isinstance(v, str) for v in y.ravel()}) > 1:  # (sorting them: a TypeError)
        raise DataError("Mix of label input types (string and number) in y: give every label the same type")
    check_classification_targets(y)
    return y


def class_weight_setting(weight, classes: np.ndarray | None, multilabel: bool, y_frame: pd.DataFrame):
    """The estimator's class_weight as the workflow takes it: "none", "balanced" or {code as text: weight}.

    classes: the fitted classes_ (a dict names them); y_frame: the encoded target column, for "auto".
    """
    if weight == "auto":
        return choose_class_weight(None if multilabel else y_frame.iloc[:, 0].to_numpy())
    if weight is None or weight == "balanced":
        return "none" if weight is None else weight
    if not isinstance(weight, dict):
        raise ConfigError(f"class_weight must be None, 'balanced', 'auto' or a dict, got {weight!r}")
    names = {}
    for label, value in weight.items():
        if multilabel:
            names[f"label_{int(label)}"] = float(value)
            continue
        code = np.flatnonzero(classes == label)
        if not len(code):
            raise ConfigError(f"class_weight names {label!r}, which is not a class (classes: {list(classes)})")
        names[str(int(code[0]))] = float(value)
    return names


def named_labels(labels: LabelEncoding, classes: np.ndarray) -> LabelEncoding:
    """The workflow's label encoding of the class indices the estimator trained on, holding the estimator's
    labels (classes_) instead, so that a saved classifier_ predicts and evaluates in them as the estimator
    does. It stays with the indices where model.json could not hold the labels: labels that are not JSON
    scalars, or that torchclassify's label comparison reads as one ("yes" and "yes ", "1" and "1.0"), which
    scikit-learn keeps apart."""
    named = [to_json_scalar(classes[int(code)]) for code in labels.classes]
    if not all(isinstance(label, (str, int, float, bool)) for label in named) or \
            len({label_key(label) for label in named}) < len(named):
        return labels
    return replace(labels, classes=named, positive_reason=(
        "classes_[1], as scikit-learn orders the classes" if len(named) == 2 else labels.positive_reason))
