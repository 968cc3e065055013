"""Raw feature columns -> one float32 matrix, with every statistic fitted on the training split only.

Numbers: +-inf treated as missing, median-imputed (plus a 0/1 "was missing" column), standardised; or, for
the tabular recipe ("robust_clip"), centred on the median, divided by a robust scale and smoothly clipped.
Free text: TF-IDF over the training rows' words and word pairs (data/text.py).
Dates: year, month, day of week, day of year and days since the earliest training date, each a number
as above. Categories (text, bool, category dtype): one-hot over the most frequent training values; values
never seen in training, or rarer than the cut, share one "other" column. Identifiers, row numbers and
constant columns are left out (data/columns.py). The state is plain JSON (no pickle).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..config import NUMERIC_SCALINGS
from ..errors import DataError
from .columns import ColumnDecision, decide_columns, parse_dates
from .text import TextColumn

OTHER = "__other__"
MISSING = "__missing__"
DATE_PARTS = ("year", "month", "day_of_week", "day_of_year", "days_since_start")
# Scaled values are clipped here: a value a million standard deviations out is already "very large", and
# float32 logits stay finite (a raw -1e39 used to give NaN probabilities).
SCALED_LIMIT = 1e6
# numeric_scaling (NUMERIC_SCALINGS): "standard" (z = (x - mean) / std) or "robust_clip" (mean holds the median,
# std the robust scale of _robust_scale, and z / sqrt(1 + (z / CLIP)^2) bends values past a few scales
# smoothly toward +-CLIP, so an outlier cannot dominate a layer's input while the order of values is kept).
CLIP = 3.0


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
class DateColumn:
    """A date column as DATE_PARTS numbers; `parts` holds each part's NumericColumn statistics."""

    name: str
    format: str  # how the training rows were read (data.columns.parse_dates)
    start: str  # the earliest training date (ISO), day 0 of days_since_start
    parts: list[NumericColumn]


@dataclass
class DroppedColumn:
    name: str
    reason: str


@dataclass
class Preprocessor:
    """Fitted feature transformation; `transform(X)` returns (n_samples, n_features_out) float32."""

    numeric: list[NumericColumn] = field(default_factory=list)
    categorical: list[CategoricalColumn] = field(default_factory=list)
    max_categories: int = 32
    dates: list[DateColumn] = field(default_factory=list)
    dropped: list[DroppedColumn] = field(default_factory=list)
    text: list[TextColumn] = field(default_factory=list)
    numeric_scaling: str = "standard"  # one of NUMERIC_SCALINGS, for numbers and date parts alike
    order: list[str] = field(default_factory=list)  # the input columns in the training table's order; [] before

    @property
    def input_columns(self) -> list[str]:
        """The raw columns the model reads (left-out columns are not needed at prediction)."""
        return ([c.name for c in self.numeric] + [c.name for c in self.dates] + self.categorical_columns
                + [c.name for c in self.text])

    @property
    def categorical_columns(self) -> list[str]:
        return [c.name for c in self.categorical]

    @property
    def feature_names_out(self) -> list[str]:
        names = []
        for col in self.numeric:
            names += [col.name] + ([f"{col.name}_missing"] if col.indicator else [])
        for date in self.dates:
            for part in date.parts:
                names += [part.name] + ([f"{part.name}_missing"] if part.indicator else [])
        for col in self.categorical:
            names += [f"{col.name}={c}" for c in col.categories] + [f"{col.name}={OTHER}"]
        for col in self.text:
            names += col.feature_names
        return names

    @property
    def n_features_out(self) -> int:
        return len(self.feature_names_out)

    def decisions(self) -> list[str]:
        """One sentence per column that is not used as it came: left out, or turned into date features."""
        return ([f"column {d.name!r} left out: {d.reason}" for d in self.dropped]
                + [f"column {d.name!r} turned into date features: {', '.join(DATE_PARTS)} (read as {d.format})"
                   for d in self.dates]
                + [f"column {t.name!r} read as text: TF-IDF over {len(t.vocabulary):,} words and word pairs of "
                   "the training rows" for t in self.text])

    @classmethod
    def fit(cls, X: pd.DataFrame, max_categories: int = 32, drop=(), keep=(), auto: bool = True, text=(),
            no_text=(), numeric_scaling: str = "standard", targets=()) -> "Preprocessor":
        """Learn medians, means, scales, date origins, category lists and text vocabularies from the training
        rows X (n, columns).

        drop, keep, auto, text, no_text: which columns to leave out, exempt from the automatic rules, or read
        as free text (data/columns.py), naming none of the `targets`. numeric_scaling: one of NUMERIC_SCALINGS.
        """
        robust = numeric_scaling == "robust_clip"
        if X.shape[1] == 0:
            raise DataError("there are no feature columns to learn from")
        decided = {d.name: d for d in decide_columns(X, drop, keep, auto, text, no_text, targets)}
        numeric, categorical, dates, dropped, texts = [], [], [], [], []
        block = _numeric_block(X, list(X.columns))  # (n, columns) float64 when every column is a plain number
        for j, name in enumerate(X.columns):
            column, decision = X[name], decided.get(str(name))
            if decision is not None and decision.action == "drop":
                dropped.append(DroppedColumn(str(name), decision.reason))
            elif decision is not None and decision.action == "date":
                dates.append(_fit_date(str(name), column, robust))
            elif decision is not None and decision.action == "text":
                texts.append(TextColumn.fit(str(name), column))
            elif block is not None or is_numeric(column):
                numeric.append(_fit_numeric(str(name), _as_float(column) if block is None else block[:, j], robust))
            else:
                counts = _as_text(column).value_counts(sort=True)
                # Keep the most frequent categories; ties broken by name so the order is reproducible.
                ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                categorical.append(CategoricalColumn(str(name), [k for k, _ in ranked[:max_categories]]))
        left_out = {d.name for d in dropped}
        order = [str(name) for name in X.columns if str(name) not in left_out]
        return cls(numeric, categorical, max_categories, dates, dropped, texts, numeric_scaling, order)

    def check_columns(self, X: pd.DataFrame) -> None:
        """DataError naming the input columns X lacks."""
        missing = [c for c in self.input_columns if c not in X.columns]
        if missing:
            shown = ", ".join(repr(c) for c in missing[:8]) + (" ..." if len(missing) > 8 else "")
            raise DataError(f"the data lacks {len(missing)} column(s) the model was trained on: {shown}")

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Raw rows (n, columns) -> (n, n_features_out) float32. Extra and left-out columns are ignored."""
        self.check_columns(X)
        n = len(X)
        out = np.empty((n, self.n_features_out), dtype=np.float32)  # filled block by block, no float64 copy
        at = 0
        block = _numeric_block(X, [col.name for col in self.numeric])
        if block is not None:
            at = _put_numeric_block(out, self.numeric, block, self.numeric_scaling)
        for col in self.numeric if block is None else ():
            at = _put_numeric(out, at, col, _as_float(X[col.name]), self.numeric_scaling)
        for date in self.dates:
            values = _date_parts(parse_dates(X[date.name], date.format)[0], date.start)
            for part, column in zip(date.parts, values.T):
                at = _put_numeric(out, at, part, column, self.numeric_scaling)
        for col in self.categorical:
            text = _as_text(X[col.name]).to_numpy()
            index = {c: i for i, c in enumerate(col.categories)}
            codes = np.fromiter((index.get(v, len(col.categories)) for v in text), dtype=np.int64, count=n)
            block = out[:, at:at + len(col.categories) + 1]
            block[:] = 0.0
            block[np.arange(n), codes] = 1.0
            at += len(col.categories) + 1
        for col in self.text:
            width = len(col.vocabulary)
            out[:, at:at + width] = col.transform(X[col.name])
            at += width
        return out

    def invalid_values(self, X: pd.DataFrame) -> dict[str, int]:
        """{column: rows whose value is there but unusable}: text, +-inf or a magnitude beyond 1e150 in a
        numeric column, a value that is not a date in a date column. transform treats them as missing;
        `predict` warns about them (and refuses them with --strict)."""
        self.check_columns(X)
        names = [col.name for col in self.numeric]
        numbers = _plain_numbers(X, names)  # (n, columns) float64, or None: read a column at a time
        if numbers is not None:  # (as transform reads them: _numeric_block)
            bad_counts = (~np.isnan(numbers) & np.isnan(_usable(numbers))).sum(axis=0)
        else:
            bad_counts = [(X[name].notna().to_numpy() & np.isnan(_as_float(X[name]))).sum() for name in names]
        counts = {name: int(bad) for name, bad in zip(names, bad_counts) if bad}
        for date in self.dates:
            raw = X[date.name]
            bad = int((raw.notna() & parse_dates(raw, date.format)[0].isna()).sum())
            if bad:
                counts[date.name] = bad
        return counts

    def to_dict(self) -> dict:
        return {
            "max_categories": self.max_categories,
            "numeric": [vars(c) for c in self.numeric],
            "categorical": [vars(c) for c in self.categorical],
            "dates": [{"name": d.name, "format": d.format, "start": d.start, "parts": [vars(p) for p in d.parts]}
                      for d in self.dates],
            "dropped": [vars(d) for d in self.dropped],
            "text": [t.to_dict() for t in self.text],
            "numeric_scaling": self.numeric_scaling,
            "order": list(self.order),
        }

    @classmethod
    def from_dict(cls, raw: dict) -> "Preprocessor":
        preprocessor = cls(
            numeric=[_numeric_from_dict(c) for c in raw["numeric"]],
            categorical=[CategoricalColumn(str(c["name"]), [str(v) for v in c["categories"]])
                         for c in raw["categorical"]],
            max_categories=int(raw["max_categories"]),
            dates=[DateColumn(str(d["name"]), str(d["format"]), str(d["start"]),
                              [_numeric_from_dict(p) for p in d["parts"]]) for d in raw.get("dates", [])],
            dropped=[DroppedColumn(str(d["name"]), str(d["reason"])) for d in raw.get("dropped", [])],
            text=[TextColumn.from_dict(t) for t in raw.get("text", [])],
            numeric_scaling=_scaling_from_dict(raw.get("numeric_scaling", "standard")),
            order=[str(name) for name in raw.get("order", [])],
        )
        if preprocessor.order and sorted(preprocessor.order) != sorted(preprocessor.input_columns):
            raise DataError("preprocessing order does not list the input columns once each")
        return preprocessor

    @property
    def array_columns(self) -> list[str] | None:
        """The columns a row given as a plain array holds, by position: the training table's order. None for a
        file from before that order was kept, when the inputs are of several kinds (input_columns groups
        numbers before dates, categories and text, which is not the table's order)."""
        if self.order:
            return list(self.order)
        kinds = [self.numeric, self.dates, self.categorical, self.text]
        return self.input_columns if sum(bool(kind) for kind in kinds) <= 1 else None


def _scaling_from_dict(value) -> str:
    if value not in NUMERIC_SCALINGS:
        raise DataError(f"preprocessing numeric_scaling {value!r} is not one of {', '.join(NUMERIC_SCALINGS)}")
    return value


def _numeric_from_dict(c: dict) -> NumericColumn:
    return NumericColumn(str(c["name"]), float(c["median"]), float(c["mean"]), float(c["std"]), bool(c["indicator"]))


def _fit_numeric(name: str, values: np.ndarray, robust: bool = False) -> NumericColumn:
    """Median, and the centre and scale of the median-imputed values: mean and std, or with robust=True the
    median and _robust_scale (stored in the same two fields, so the state keeps one shape)."""
    finite = values[np.isfinite(values)]
    median = float(np.median(finite)) if finite.size else 0.0
    filled = np.where(np.isfinite(values), values, median)
    if robust:
        return NumericColumn(name, median, median, _robust_scale(filled), bool(finite.size < values.size))
    std = float(filled.std())
    return NumericColumn(name, median, float(filled.mean()), std if std > 1e-12 else 1.0,
                         bool(finite.size < values.size))


def _robust_scale(values: np.ndarray) -> float:
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


def _put_numeric(out: np.ndarray, at: int, col: NumericColumn, values: np.ndarray,
                 scaling: str = "standard") -> int:
    """Write a numeric column's scaled values (and its missing indicator) into out[:, at:]; returns the next."""
    is_missing = ~np.isfinite(values)
    scaled = (np.where(is_missing, col.median, values) - col.mean) / col.std
    if scaling == "robust_clip":
        scaled = smooth_clip(scaled)
    out[:, at] = np.clip(scaled, -SCALED_LIMIT, SCALED_LIMIT)
    if col.indicator:
        out[:, at + 1] = is_missing
        return at + 2
    return at + 1


def _put_numeric_block(out: np.ndarray, columns: list[NumericColumn], block: np.ndarray, scaling: str) -> int:
    """_put_numeric for every numeric column at once: block (n, len(columns)) float64 from _numeric_block.

    The same elementwise float64 arithmetic as column by column (each value meets its own column's median,
    mean and std), so the output is bit-identical; one pass of NumPy instead of a pandas Series per column.
    """
    width = np.array([1 + c.indicator for c in columns])
    at = np.concatenate([[0], np.cumsum(width)[:-1]])  # each column's first output position
    is_missing = np.isnan(block)  # (_numeric_block made +-inf and huge values NaN, as _as_float does)
    median, mean, std = (np.array([getattr(c, name) for c in columns], dtype=np.float64)
                         for name in ("median", "mean", "std"))
    scaled = (np.where(is_missing, median, block) - mean) / std
    if scaling == "robust_clip":
        scaled = smooth_clip(scaled)
    out[:, at] = np.clip(scaled, -SCALED_LIMIT, SCALED_LIMIT)
    flagged = width == 2
    out[:, at[flagged] + 1] = is_missing[:, flagged]
    return int(width.sum())


def _numeric_block(X: pd.DataFrame, names: list) -> np.ndarray | None:
    """X's `names` columns as one (n, len(names)) float64 array, column-major, with +-inf and magnitudes
    past 1e150 as NaN (as _as_float reads a column), when every one is a plain NumPy number column (not
    bool, not a pandas extension type); else None (the caller reads them one by one).

    Why: the estimator's NumPy input arrives as a frame of numbers, and reading it a pandas Series at a
    time cost more than the arithmetic (~0.1 ms a column, on every fit and predict).
    """
    values = _plain_numbers(X, names)
    return None if values is None else _usable(np.asfortranarray(values))  # column-major: each column contiguous


def _plain_numbers(X: pd.DataFrame, names: list) -> np.ndarray | None:
    """X's `names` columns as one (n, len(names)) float64 array as they are (inf and NaN kept), when every one
    is a plain NumPy number column; else None. (_numeric_block's read, and invalid_values'.)"""
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


def _fit_date(name: str, column: pd.Series, robust: bool = False) -> DateColumn:
    parsed, fmt = parse_dates(column)
    start = parsed.min()
    start = pd.Timestamp("1970-01-01") if pd.isna(start) else start.normalize()
    parts = _date_parts(parsed, start.isoformat())
    return DateColumn(name, fmt or "mixed", start.isoformat(),
                      [_fit_numeric(f"{name}_{part}", parts[:, i], robust) for i, part in enumerate(DATE_PARTS)])


def _date_parts(parsed: pd.Series, start: str) -> np.ndarray:
    """(n, 5) float64: year, month, day of week, day of year, days since `start`; NaN where there is no date."""
    dt = parsed.dt
    since = (parsed - pd.Timestamp(start)).dt.total_seconds() / 86400.0
    parts = [dt.year, dt.month, dt.day_of_week, dt.day_of_year, since]
    return np.column_stack([np.asarray(p, dtype=np.float64) for p in parts])


def is_numeric(column: pd.Series) -> bool:
    """Numbers (not booleans) are scaled; everything else is treated as a category."""
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _as_float(column: pd.Series) -> np.ndarray:
    # pd.to_numeric with coerce: a stray text value in a numeric column becomes missing, not a crash.
    return _usable(pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan))


def _usable(values: np.ndarray) -> np.ndarray:
    """values with +-inf and magnitudes beyond 1e150 as NaN (missing): means, squares and differences of
    such numbers overflow to inf, and no real measurement is that large."""
    return np.where(np.isfinite(values) & (np.abs(values) <= 1e150), values, np.nan)


def _as_text(column: pd.Series) -> pd.Series:
    # Missing values form their own category so "unknown" can carry information.
    return column.astype(object).where(column.notna(), MISSING).map(str)


__all__ = ["CategoricalColumn", "ColumnDecision", "DateColumn", "DroppedColumn", "NumericColumn", "Preprocessor"]
