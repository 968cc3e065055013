"""A number column of the table: its fitted statistics (NumericColumn) and the arithmetic that turns raw
values into the network's input, shared by the fit, the transform and the checks of data/preprocess.py.

Order of work on a value: +-inf and magnitudes past 1e150 count as missing; a skewed column is read on a log
scale (log_values); a missing value takes the median; then (x - mean) / std, smoothly clipped for
"robust_clip"; the result is bounded to +-SCALED_LIMIT and written as float32.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError
from .number_text import parse_numbers

# Scaled values are clipped here: a value a million standard deviations out is already "very large", and
# float32 logits stay finite (a raw -1e39 used to give NaN probabilities).
SCALED_LIMIT = 1e6
# numeric_scaling (NUMERIC_SCALINGS): "standard" (z = (x - mean) / std) or "robust_clip" (mean holds the median,
# std the robust scale of robust_scale, and z / sqrt(1 + (z / CLIP)^2) bends values past a few scales
# smoothly toward +-CLIP, so an outlier cannot dominate a layer's input while the order of values is kept).
CLIP = 3.0
# log_skewed: a column whose training values are all >= 0 with skewness above this (counts, amounts, sizes:
# a long right tail) becomes log(1 + x / s), s the median of its positive values. Why: standardised, a few
# huge rows set the scale and squeeze the bulk of the values into a sliver of it (docs/defaults.md).
SKEW_LIMIT = 2.0
LOG_MIN_VALUES = 20  # fewer known values than this say too little about a tail


@dataclass
class NumericColumn:
    name: str
    median: float
    mean: float
    std: float
    indicator: bool  # add a 0/1 column saying the value was missing
    log_scale: float | None = None  # s: values are read as log_values(x, s) before the centring; None: as they are


def numeric_from_dict(c: dict) -> NumericColumn:
    log_scale = c.get("log_scale")  # (absent in files from before log_skewed)
    # (compared before float(): a huge JSON integer would overflow it; NaN fails both comparisons)
    if log_scale is not None and not (isinstance(log_scale, (int, float)) and not isinstance(log_scale, bool)
                                      and 0 < log_scale <= sys.float_info.max):
        raise DataError(f"preprocessing column {c['name']!r}: log_scale must be a positive number, got "
                        f"{log_scale!r:.40}")
    return NumericColumn(str(c["name"]), float(c["median"]), float(c["mean"]), float(c["std"]), bool(c["indicator"]),
                         None if log_scale is None else float(log_scale))


def skewed_log_scale(values: np.ndarray) -> float | None:
    """s for log_values when the known values (n,) are all >= 0 with skewness above SKEW_LIMIT: the median of
    the positive ones (so the log does not depend on the unit: x and 1000 x give the same features); else None."""
    finite = values[np.isfinite(values)]
    if finite.size < LOG_MIN_VALUES or finite.min() < 0:
        return None
    spread = finite.std()
    if spread <= 1e-12 * max(1.0, abs(finite.mean())):
        return None
    skewness = float(np.mean(((finite - finite.mean()) / spread) ** 3))
    if skewness <= SKEW_LIMIT or np.unique(finite).size <= 2:  # (a rare 0/1 flag is skewed, but a log of two
        return None  # values standardises to the same two numbers)
    scale = float(np.median(finite[finite > 0]))
    return scale if np.isfinite(finite.max() / scale) else None  # (x / s must not overflow for a tiny s)


def raw_median(col: NumericColumn) -> float:
    """The column's training median in its own units (col.median is on the log scale when col.log_scale is set):
    the value whose features are the median's, e.g. to hold a column at while others vary."""
    if col.log_scale is None:
        return col.median
    return float(np.sign(col.median) * col.log_scale * np.expm1(abs(col.median)))


def log_values(values: np.ndarray, scale: float) -> np.ndarray:
    """sign(x) log(1 + |x| / s): about x / s near 0, the log of x far out; monotone and defined for every x
    (a negative value at prediction keeps its order). NaN stays NaN. Written with log, not log1p, so the ONNX
    export (which has no Log1p) computes the same double."""
    return np.sign(values) * np.log(1.0 + np.abs(values) / scale)


def fit_numeric(name: str, values: np.ndarray, robust: bool = False, log_scale: float | None = None) -> NumericColumn:
    """Median, and the centre and scale of the median-imputed values: mean and std, or with robust=True the
    median and robust_scale (stored in the same two fields, so the state keeps one shape); with a log_scale,
    all three of log_values(values, log_scale)."""
    if log_scale is not None:
        values = log_values(values, log_scale)
    finite = values[np.isfinite(values)]
    median = float(np.median(finite)) if finite.size else 0.0
    filled = np.where(np.isfinite(values), values, median)
    if robust:
        return NumericColumn(name, median, median, robust_scale(filled), bool(finite.size < values.size), log_scale)
    std = float(filled.std())
    return NumericColumn(name, median, float(filled.mean()), std if std > 1e-12 else 1.0,
                         bool(finite.size < values.size), log_scale)


def robust_scale(values: np.ndarray) -> float:
    """The interquartile range / 1.349 (the standard deviation, for normal data); where half the values or
    more are equal (IQR 0: counts, flags), half the 5-95 % range, else half the full range, else 1."""
    for low, high, normal_width in ((25, 75, 1.349), (5, 95, 2 * 1.645), (0, 100, 2.0)):
        q_low, q_high = np.percentile(values, [low, high]) if values.size else (0.0, 0.0)
        if q_high - q_low > 1e-12:
            return float((q_high - q_low) / normal_width)
    return 1.0


def smooth_clip(z: np.ndarray, limit: float = CLIP) -> np.ndarray:
    """z / sqrt(1 + (z / limit)^2): about z near 0, tends to +-limit; monotone, so no two values swap."""
    return z / np.hypot(1.0, z / limit)  # (hypot: no overflow of (z / limit)^2 for huge z)


def put_numeric(out: np.ndarray, at: int, col: NumericColumn, values: np.ndarray,
                scaling: str = "standard") -> int:
    """Write a numeric column's scaled values (and its missing indicator) into out[:, at:]; returns the next."""
    is_missing = ~np.isfinite(values)
    if col.log_scale is not None:
        values = log_values(values, col.log_scale)
    scaled = (np.where(is_missing, col.median, values) - col.mean) / col.std
    if scaling == "robust_clip":
        scaled = smooth_clip(scaled)
    out[:, at] = np.clip(scaled, -SCALED_LIMIT, SCALED_LIMIT)
    if col.indicator:
        out[:, at + 1] = is_missing
        return at + 2
    return at + 1


def put_numeric_block(out: np.ndarray, columns: list[NumericColumn], block: np.ndarray, scaling: str) -> int:
    """put_numeric for every numeric column at once: block (n, len(columns)) float64 from numeric_block.

    The same elementwise float64 arithmetic as column by column (each value meets its own column's median,
    mean and std), so the output is bit-identical; one pass of NumPy instead of a pandas Series per column.
    """
    width = np.array([1 + c.indicator for c in columns])
    at = np.concatenate([[0], np.cumsum(width)[:-1]])  # each column's first output position
    is_missing = np.isnan(block)  # (numeric_block made +-inf and huge values NaN, as as_float does)
    logged = [j for j, c in enumerate(columns) if c.log_scale is not None]
    if logged:  # (in place: numeric_block's array is its own, never the caller's)
        block[:, logged] = log_values(block[:, logged], np.array([columns[j].log_scale for j in logged]))
    median, mean, std = (np.array([getattr(c, name) for c in columns], dtype=np.float64)
                         for name in ("median", "mean", "std"))
    scaled = (np.where(is_missing, median, block) - mean) / std
    if scaling == "robust_clip":
        scaled = smooth_clip(scaled)
    out[:, at] = np.clip(scaled, -SCALED_LIMIT, SCALED_LIMIT)
    flagged = width == 2
    out[:, at[flagged] + 1] = is_missing[:, flagged]
    return int(width.sum())


def numeric_block(X: pd.DataFrame, names: list) -> np.ndarray | None:
    """X's `names` columns as one (n, len(names)) float64 array, column-major, with +-inf and magnitudes
    past 1e150 as NaN (as as_float reads a column), when every one is a plain NumPy number column (not
    bool, not a pandas extension type); else None (the caller reads them one by one).

    Why: the estimator's NumPy input arrives as a frame of numbers, and reading it a pandas Series at a
    time cost more than the arithmetic (~0.1 ms a column, on every fit and predict).
    """
    values = plain_numbers(X, names)
    return None if values is None else usable(np.asfortranarray(values))  # column-major: each column contiguous


def plain_numbers(X: pd.DataFrame, names: list) -> np.ndarray | None:
    """X's `names` columns as one (n, len(names)) float64 array as they are (inf and NaN kept), when every one
    is a plain NumPy number column; else None. (numeric_block's read, and invalid_values'.)"""
    if not names or X.columns.has_duplicates:
        return None
    positions = X.columns.get_indexer(names)
    plain = [isinstance(dtype, np.dtype) and dtype.kind in "iuf" for dtype in X.dtypes.to_numpy()]
    if (positions < 0).any() or not all(plain[i] for i in positions):
        return None
    if all(plain):  # (a frame of numbers: one array, often a view, then the columns wanted)
        values = X.to_numpy(dtype=np.float64)
        values = values if len(positions) == values.shape[1] and (positions == np.arange(len(positions))).all() \
            else values[:, positions]
    else:
        values = X.iloc[:, positions].to_numpy(dtype=np.float64)
    return values


def is_numeric(column: pd.Series) -> bool:
    """Numbers (not booleans) are scaled; everything else is treated as a category."""
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def as_float(column: pd.Series) -> np.ndarray:
    # A stray text value in a numeric column becomes missing, not a crash; "$1,200" and "53%" are numbers
    # (a text column read as numbers, data/number_text.py).
    return usable(parse_numbers(column).to_numpy(dtype=np.float64, na_value=np.nan))


def usable(values: np.ndarray) -> np.ndarray:
    """values with +-inf and magnitudes beyond 1e150 as NaN (missing): means, squares and differences of
    such numbers overflow to inf, and no real measurement is that large."""
    return np.where(np.isfinite(values) & (np.abs(values) <= 1e150), values, np.nan)
