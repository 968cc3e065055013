"""Raw feature columns -> one float32 matrix, with every statistic fitted on the training split only.

Numbers: +-inf treated as missing, median-imputed (plus a 0/1 "was missing" column), standardised.
Categories (text, bool, category dtype): one-hot over the most frequent training values; values never
seen in training, or rarer than the cut, share one "other" column. The state is plain JSON (no pickle).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataError

OTHER = "__other__"
MISSING = "__missing__"


@dataclass
class NumericColumn:
    name: str
    median: float
    mean: float
    std: float
    indicator: bool  # add a 0/1 column saying the value was missing


@dataclass
class CategoricalColumn:
    name: str
    categories: list[str]  # one output column each, plus one "other" column


@dataclass
class Preprocessor:
    """Fitted feature transformation; `transform(X)` returns (n_samples, n_features_out) float32."""

    numeric: list[NumericColumn] = field(default_factory=list)
    categorical: list[CategoricalColumn] = field(default_factory=list)
    max_categories: int = 32

    @property
    def input_columns(self) -> list[str]:
        return [c.name for c in self.numeric] + self.categorical_columns

    @property
    def categorical_columns(self) -> list[str]:
        return [c.name for c in self.categorical]

    @property
    def feature_names_out(self) -> list[str]:
        names = []
        for col in self.numeric:
            names.append(col.name)
            if col.indicator:
                names.append(f"{col.name}_missing")
        for col in self.categorical:
            names.extend(f"{col.name}={c}" for c in col.categories)
            names.append(f"{col.name}={OTHER}")
        return names

    @property
    def n_features_out(self) -> int:
        return len(self.feature_names_out)

    @classmethod
    def fit(cls, X: pd.DataFrame, max_categories: int = 32) -> "Preprocessor":
        """Learn medians, means, scales and category lists from the training rows X (n, n_columns)."""
        if X.shape[1] == 0:
            raise DataError("there are no feature columns to learn from")
        numeric, categorical = [], []
        for name in X.columns:
            column = X[name]
            if is_numeric(column):
                values = _as_float(column)
                finite = values[np.isfinite(values)]
                median = float(np.median(finite)) if finite.size else 0.0
                filled = np.where(np.isfinite(values), values, median)
                std = float(filled.std())
                numeric.append(NumericColumn(str(name), median, float(filled.mean()),
                                             std if std > 1e-12 else 1.0, bool(finite.size < values.size)))
            else:
                counts = _as_text(column).value_counts(sort=True)
                # Keep the most frequent categories; ties broken by name so the order is reproducible.
                ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                categorical.append(CategoricalColumn(str(name), [k for k, _ in ranked[:max_categories]]))
        return cls(numeric, categorical, max_categories)

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Raw rows (n, columns) -> (n, n_features_out) float32. Extra columns are ignored."""
        missing = [c for c in self.input_columns if c not in X.columns]
        if missing:
            shown = ", ".join(repr(c) for c in missing[:8]) + (" ..." if len(missing) > 8 else "")
            raise DataError(f"the data lacks {len(missing)} column(s) the model was trained on: {shown}")
        n = len(X)
        blocks = []
        for col in self.numeric:
            values = _as_float(X[col.name], strict_name=col.name)
            is_missing = ~np.isfinite(values)
            filled = np.where(is_missing, col.median, values)
            blocks.append(((filled - col.mean) / col.std).reshape(n, 1))
            if col.indicator:
                blocks.append(is_missing.reshape(n, 1).astype(np.float64))
        for col in self.categorical:
            text = _as_text(X[col.name]).to_numpy()
            index = {c: i for i, c in enumerate(col.categories)}
            codes = np.array([index.get(v, len(col.categories)) for v in text], dtype=np.int64)
            one_hot = np.zeros((n, len(col.categories) + 1))
            one_hot[np.arange(n), codes] = 1.0
            blocks.append(one_hot)
        return np.hstack(blocks).astype(np.float32) if blocks else np.zeros((n, 0), np.float32)

    def to_dict(self) -> dict:
        return {
            "max_categories": self.max_categories,
            "numeric": [vars(c) for c in self.numeric],
            "categorical": [vars(c) for c in self.categorical],
        }

    @classmethod
    def from_dict(cls, raw: dict) -> "Preprocessor":
        return cls(
            numeric=[NumericColumn(str(c["name"]), float(c["median"]), float(c["mean"]), float(c["std"]),
                                   bool(c["indicator"])) for c in raw["numeric"]],
            categorical=[CategoricalColumn(str(c["name"]), [str(v) for v in c["categories"]])
                         for c in raw["categorical"]],
            max_categories=int(raw["max_categories"]),
        )


def is_numeric(column: pd.Series) -> bool:
    """Numbers (not booleans) are scaled; everything else is treated as a category."""
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _as_float(column: pd.Series, strict_name: str | None = None) -> np.ndarray:
    # pd.to_numeric with coerce: a stray text value in a numeric column becomes missing, not a crash.
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    # Clip magnitudes to 1e150 so that means, squares and differences cannot overflow to inf (1e308 values
    # would make the scaled features NaN); no real measurement is that large, and +-inf stays missing.
    return np.where(np.isfinite(values), np.clip(values, -1e150, 1e150), values)


def _as_text(column: pd.Series) -> pd.Series:
    # Missing values form their own category so "unknown" can carry information.
    return column.astype(object).where(column.notna(), MISSING).map(str)
