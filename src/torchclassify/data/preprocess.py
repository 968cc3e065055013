"""Raw feature columns -> one float32 matrix, with every statistic fitted on the training split only.

Numbers: +-inf treated as missing, median-imputed (plus a 0/1 "was missing" column), standardised; or, with
numeric_scaling="robust_clip", centred on the median, divided by a robust scale and smoothly clipped. A
non-negative column skewed past SKEW_LIMIT (counts, amounts) is first put on a log scale (log_skewed).
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
from .numbers import (
    SCALED_LIMIT,
    NumericColumn,
    as_float,
    fit_numeric,
    is_numeric,
    numeric_block,
    numeric_from_dict,
    plain_numbers,
    put_numeric,
    put_numeric_block,
    skewed_log_scale,
    smooth_clip,
    usable,
)
from .text import TextColumn

OTHER = "__other__"
MISSING = "__missing__"
DATE_PARTS = ("year", "month", "day_of_week", "day_of_year", "days_since_start")


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
    local: bool = False  # dates with a UTC offset read in the writer's time (fits from 3 December 2026), else in UTC


@dataclass
class DroppedColumn:
    name: str
    reason: str


@dataclass
class TextNumbers:
    """A text column read as numbers (data/number_text.py): its name, and what was read how."""

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
    text_numbers: list[TextNumbers] = field(default_factory=list)  # numeric columns that were text; [] before
    decimal: str | None = None  # "," when the training CSV wrote decimal commas; None: a point, or not a CSV
    # {number column: its training rows' +-inf or magnitudes past 1e150, read as missing}: said with the
    # decisions of the fit, not saved
    unusable_in_training: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

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
    def number_inputs(self) -> list[int]:
        """Where the number columns' values sit among the features_out (not their missing indicators, which
        follow them; not date parts, categories or text)."""
        at, positions = 0, []
        for col in self.numeric:
            positions.append(at)
            at += 1 + col.indicator
        return positions

    @property
    def n_features_out(self) -> int:
        return len(self.feature_names_out)

    def decisions(self) -> list[str]:
        """One sentence per column that is not used as it came: left out, turned into date features, read as
        text, as numbers (it was text) or on a log scale."""
        return ([f"column {d.name!r} left out: {d.reason}" for d in self.dropped]
                + [f"column {d.name!r} turned into date features: {', '.join(DATE_PARTS)} (read as {d.format})"
                   for d in self.dates]
                + [f"column {t.name!r} read as text: TF-IDF over {len(t.vocabulary):,} words and word pairs of "
                   "the training rows" for t in self.text]
                + [f"column {c.name!r} read as numbers: {c.reason}" for c in self.text_numbers]
                + [f"column {name!r}: {count:,} value(s) infinite or past 1e150 in size, read as missing"
                   for name, count in self.unusable_in_training.items()]
                + _logged_sentence([c.name for c in self.numeric if c.log_scale]))

    @classmethod
    def fit(cls, X: pd.DataFrame, max_categories: int = 32, drop=(), keep=(), auto: bool = True, text=(),
            no_text=(), numeric_scaling: str = "standard", targets=(), log_skewed: bool = False) -> "Preprocessor":
        """Learn medians, means, scales, date origins, category lists and text vocabularies from the training
        rows X (n, columns).

        drop, keep, auto, text, no_text: which columns to leave out, exempt from the automatic rules, or read
        as free text (data/columns.py), naming none of the `targets`. numeric_scaling: one of NUMERIC_SCALINGS.
        log_skewed: read non-negative columns skewed past SKEW_LIMIT on a log scale (skewed_log_scale).
        """
        robust = numeric_scaling == "robust_clip"
        if X.shape[1] == 0:
            raise DataError("there are no feature columns to learn from")
        decided = {d.name: d for d in decide_columns(X, drop, keep, auto, text, no_text, targets)}
        numeric, categorical, dates, dropped, texts, text_numbers, unusable = [], [], [], [], [], [], {}
        block = numeric_block(X, list(X.columns))  # (n, columns) float64 when every column is a plain number
        for j, name in enumerate(X.columns):
            column, decision = X[name], decided.get(str(name))
            if decision is not None and decision.action == "drop":
                dropped.append(DroppedColumn(str(name), decision.reason))
            elif decision is not None and decision.action == "date":
                dates.append(_fit_date(str(name), column, robust))
            elif decision is not None and decision.action == "text":
                texts.append(TextColumn.fit(str(name), column))
            elif block is not None or is_numeric(column) or (decision is not None and decision.action == "number"):
                if decision is not None:
                    text_numbers.append(TextNumbers(str(name), decision.reason))
                values = as_float(column) if block is None else block[:, j]
                bad = 0 if decision is not None else int((column.notna().to_numpy() & np.isnan(usable(values))).sum())
                if bad:  # (a text column read as numbers says what it read instead)
                    unusable[str(name)] = bad
                numeric.append(fit_numeric(str(name), values, robust,
                                            skewed_log_scale(values) if log_skewed else None))
            else:
                counts = _as_text(column).value_counts(sort=True)
                # Keep the most frequent categories; ties broken by name so the order is reproducible.
                ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                categorical.append(CategoricalColumn(str(name), [k for k, _ in ranked[:max_categories]]))
        left_out = {d.name for d in dropped}
        order = [str(name) for name in X.columns if str(name) not in left_out]
        decimal = X.attrs.get("decimal")  # (data/tables.read_table's, carried through the split)
        return cls(numeric, categorical, max_categories, dates, dropped, texts, numeric_scaling, order, text_numbers,
                   "," if decimal == "," else None, unusable)

    def check_columns(self, X: pd.DataFrame) -> None:
        """DataError naming the input columns X lacks."""
        missing = [c for c in self.input_columns if c not in X.columns]
        if missing:
            shown = ", ".join(repr(c) for c in missing[:8]) + (" ..." if len(missing) > 8 else "")
            given = {str(c).strip().casefold(): str(c) for c in X.columns}
            near = [f"{given[c.strip().casefold()]!r} for {c!r}" for c in missing if c.strip().casefold() in given]
            hint = f" (the data has {', '.join(near[:4])}: rename them as in training)" if near else ""
            raise DataError(f"the data lacks {len(missing)} column(s) the model was trained on: {shown}{hint}")

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Raw rows (n, columns) -> (n, n_features_out) float32. Extra and left-out columns are ignored."""
        self.check_columns(X)
        n = len(X)
        out = np.empty((n, self.n_features_out), dtype=np.float32)  # filled block by block, no float64 copy
        at = 0
        block = numeric_block(X, [col.name for col in self.numeric])
        if block is not None:
            at = put_numeric_block(out, self.numeric, block, self.numeric_scaling)
        for col in self.numeric if block is None else ():
            at = put_numeric(out, at, col, as_float(X[col.name]), self.numeric_scaling)
        for date in self.dates:
            values = _date_parts(parse_dates(X[date.name], date.format, local=date.local)[0], date.start)
            for part, column in zip(date.parts, values.T):
                at = put_numeric(out, at, part, column, self.numeric_scaling)
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
        numbers = plain_numbers(X, names)  # (n, columns) float64, or None: read a column at a time
        if numbers is not None:  # (as transform reads them: numeric_block)
            bad_counts = (~np.isnan(numbers) & np.isnan(usable(numbers))).sum(axis=0)
        else:
            bad_counts = [(X[name].notna().to_numpy() & np.isnan(as_float(X[name]))).sum() for name in names]
        counts = {name: int(bad) for name, bad in zip(names, bad_counts) if bad}
        for date in self.dates:
            raw = X[date.name]
            bad = int((raw.notna() & parse_dates(raw, date.format, local=date.local)[0].isna()).sum())
            if bad:
                counts[date.name] = bad
        return counts

    def unseen_categories(self, X: pd.DataFrame) -> dict[str, dict[str, int]]:
        """{column: {value: rows}} of category values the training rows never held, which transform reads as
        the "other" category. Only for columns that kept every training value (fewer than max_categories):
        past that, "other" also holds rare training values, and unseen cannot be told from rare."""
        found = {}
        for col in self.categorical:
            if len(col.categories) >= self.max_categories or col.name not in X.columns:
                continue
            text = _as_text(X[col.name])
            new = text[~text.isin(col.categories) & (text != MISSING)].value_counts()
            if len(new):
                found[col.name] = {str(value): int(count) for value, count in new.items()}
        return found

    def to_dict(self) -> dict:
        return {
            "max_categories": self.max_categories,
            "numeric": [vars(c) for c in self.numeric],
            "categorical": [vars(c) for c in self.categorical],
            "dates": [{"name": d.name, "format": d.format, "start": d.start, "parts": [vars(p) for p in d.parts],
                       "local": d.local} for d in self.dates],
            "dropped": [vars(d) for d in self.dropped],
            "text": [t.to_dict() for t in self.text],
            "numeric_scaling": self.numeric_scaling,
            "order": list(self.order),
            "text_numbers": [vars(c) for c in self.text_numbers],
            "decimal": self.decimal,
        }

    @classmethod
    def from_dict(cls, raw: dict) -> "Preprocessor":
        preprocessor = cls(
            numeric=[numeric_from_dict(c) for c in raw["numeric"]],
            categorical=[CategoricalColumn(str(c["name"]), [str(v) for v in c["categories"]])
                         for c in raw["categorical"]],
            max_categories=int(raw["max_categories"]),
            dates=[DateColumn(str(d["name"]), str(d["format"]), str(d["start"]),
                              [numeric_from_dict(p) for p in d["parts"]], d.get("local") is True)
                   for d in raw.get("dates", [])],
            dropped=[DroppedColumn(str(d["name"]), str(d["reason"])) for d in raw.get("dropped", [])],
            text=[TextColumn.from_dict(t) for t in raw.get("text", [])],
            numeric_scaling=_scaling_from_dict(raw.get("numeric_scaling", "standard")),
            order=[str(name) for name in raw.get("order", [])],
            text_numbers=[TextNumbers(str(c["name"]), str(c["reason"])) for c in raw.get("text_numbers", [])],
            decimal="," if raw.get("decimal") == "," else None,
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


def _logged_sentence(names: list[str]) -> list[str]:
    """[one sentence naming the columns read on a log scale] (the first 6), or [] for none."""
    if not names:
        return []
    shown = ", ".join(repr(n) for n in names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    return [f"{len(names)} column(s) read on a log scale, log(1 + x / s) with s the median positive value, as "
            f"their values are >= 0 with a long right tail (--no-log-skewed: as they are): {shown}"]


def _scaling_from_dict(value) -> str:
    if value not in NUMERIC_SCALINGS:
        raise DataError(f"preprocessing numeric_scaling {value!r} is not one of {', '.join(NUMERIC_SCALINGS)}")
    return value


def _fit_date(name: str, column: pd.Series, robust: bool = False) -> DateColumn:
    parsed, fmt = parse_dates(column)
    start = parsed.min()
    start = pd.Timestamp("1970-01-01") if pd.isna(start) else start.normalize()
    parts = _date_parts(parsed, start.isoformat())
    return DateColumn(name, fmt or "mixed", start.isoformat(),
                      [fit_numeric(f"{name}_{part}", parts[:, i], robust) for i, part in enumerate(DATE_PARTS)],
                      local=True)


def _date_parts(parsed: pd.Series, start: str) -> np.ndarray:
    """(n, 5) float64: year, month, day of week, day of year, days since `start`; NaN where there is no date."""
    dt = parsed.dt
    since = (parsed - pd.Timestamp(start)).dt.total_seconds() / 86400.0
    parts = [dt.year, dt.month, dt.day_of_week, dt.day_of_year, since]
    return np.column_stack([np.asarray(p, dtype=np.float64) for p in parts])


def _as_text(column: pd.Series) -> pd.Series:
    # Missing values form their own category so "unknown" can carry information.
    return column.astype(object).where(column.notna(), MISSING).map(str)


__all__ = ["SCALED_LIMIT", "CategoricalColumn", "ColumnDecision", "DateColumn", "DroppedColumn", "NumericColumn",
           "Preprocessor", "is_numeric", "smooth_clip"]
