"""The estimator's targets as scikit-learn checks them: y as given -> an array of labels, before encoding."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d


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
        raise ValueError(f"X has {n_rows} rows but y has {len(y)}: they must match")
    if y.dtype.kind in "Of":  # (else a missing label read as "a mix of strings and numbers", or "continuous")
        missing = pd.isna(y) if y.ndim == 1 else pd.isna(y).any(axis=1)
        if missing.any():
            rows = ", ".join(map(str, np.flatnonzero(missing)[:5])) + (", ..." if missing.sum() > 5 else "")
            raise ValueError(f"y has {int(missing.sum())} missing label(s) (None or NaN), at row(s) {rows}: drop "
                             "those rows or fill their labels")
    if y.dtype == object and len({isinstance(v, str) for v in y.ravel()}) > 1:  # (sorting them: a TypeError)
        raise ValueError("Mix of label input types (string and number) in y: give every label the same type")
    check_classification_targets(y)
    return y
