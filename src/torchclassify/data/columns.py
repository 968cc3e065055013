"""Which raw columns a model learns from, decided on the training rows: identifiers, row numbers and constant
columns are left out, dates become numbers, and every automatic decision can be overridden.

A customer table often carries an id, a row number and a signup date beside its real features. One-hot
encoding an id over its most frequent values, or scaling a row number, hands the network noise that looks
like signal; a date read as text is a category per day. `decide_columns` names each such column and what is
done with it, in one sentence a user can read (printed before training, stored in model.json).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError
from .number_text import numbers_in_text, parse_numbers
from .text import looks_like_text

# Free text is not an identifier even when every row differs: ids are short codes without spaces.
ID_MAX_LENGTH = 40
ID_NAME = re.compile(r"(^|[^a-z])(id|ids|uuid|guid|key|index|idx|num|number|no|nr)$", re.IGNORECASE)
KEY_NAME = re.compile(r"(^|[^a-z])(id|ids|uuid|guid|key)$", re.IGNORECASE)  # (not no / num: room_num counts)
# customerId, userID; not a word that merely ends in "id" (paid, bid, valid, fluid: a hostile pass lost the
# one predictive column, amount_paid, to a lower-case "[a-z]id$").
CAMEL_ID = re.compile(r"[a-z0-9](Id|ID|Ids|IDs)$")
# customerid, USERID: written as one word, the id of whom or what is named
OWNER_ID = re.compile(r"(customer|client|user|account|member|order|product|item|session|transaction|employee|"
                      r"student|patient|person|device|invoice|ticket|record|row)ids?$", re.IGNORECASE)
DATE_SHARE = 0.95  # a text column is a date column when this share of its values parses as dates
MIN_ROWS = 20  # below this many training rows, "unique per row" says nothing


@dataclass(frozen=True)
class ColumnDecision:
    """What happens to one raw column, and why: action "drop", "date", "text" or "number" (a text column
    whose values are numbers: data/number_text.py)."""

    name: str
    action: str
    reason: str

    def sentence(self) -> str:
        verb = {"drop": "left out", "date": "turned into date features", "text": "read as text",
                "number": "read as numbers"}[self.action]
        return f"column {self.name!r} {verb}: {self.reason}"


def decide_columns(X: pd.DataFrame, drop=(), keep=(), auto: bool = True, text=(), no_text=(),
                   targets=()) -> list[ColumnDecision]:
    """The decisions for the training rows X (n, columns), in column order; columns not named are used as
    they are (numbers scaled, the rest one-hot encoded).

    drop: columns the user leaves out; keep: columns exempt from the automatic rules; auto=False applies no
    automatic rule at all (the scikit-learn estimator takes the columns it is given); text / no_text: columns
    read as free text (TF-IDF, data/text.py) whatever the rules say, or never. targets: the label column(s),
    which none of those may name (they are not features).
    """
    columns, targets = [str(c) for c in X.columns], set(map(str, targets))
    for flag, names in (("--drop", drop), ("--keep", keep), ("--text", text), ("--no-text", no_text)):
        named = [name for name in names if name in targets]
        if named:
            raise ConfigError(f"{flag} names {', '.join(map(repr, named))}, the target: name feature columns only")
        unknown = [n for n in names if n not in columns]
        if unknown:
            shown = ", ".join(columns[:12]) + (", ..." if len(columns) > 12 else "")
            raise DataError(f"{flag} names column(s) {unknown} the data does not have; the columns are: {shown}")
    for first, second, a, b in (("--drop", "--keep", drop, keep), ("--drop", "--text", drop, text),
                                ("--text", "--no-text", text, no_text)):
        both = sorted(set(a) & set(b))
        if both:
            raise ConfigError(f"column(s) {both} are both in {first} and {second}: name each in one of them")
    complex_columns = [str(c) for c in X.columns if pd.api.types.is_complex_dtype(X[c].dtype)]
    if complex_columns:
        raise DataError(f"column(s) {complex_columns} hold complex numbers, which a network's inputs cannot: give "
                        "their real and imaginary parts (or magnitude and angle) as columns of their own")
    decisions = []
    for name in columns:
        if name in drop:
            decisions.append(ColumnDecision(name, "drop", "named in --drop"))
            continue
        if name in text:
            decisions.append(ColumnDecision(name, "text", "named in --text"))
            continue
        _check_single_values(name, X[name])
        if name in keep:
            continue
        if not auto:  # the columns as given, read as their types say; free text is still read as text
            typed = _typed(name, X[name])
            if typed is not None:
                decisions.append(typed)
            elif name not in no_text and not pd.api.types.is_numeric_dtype(X[name]) and looks_like_text(X[name]):
                decisions.append(ColumnDecision(name, "text", "free text (several words per cell, most cells "
                                                              "differ): TF-IDF over its words and word pairs"))
            continue
        decision = _automatic(name, X[name], allow_text=name not in no_text)
        if decision is not None:
            decisions.append(decision)
    if len([d for d in decisions if d.action == "drop"]) == len(columns):
        raise DataError("every feature column was left out (" + "; ".join(d.sentence() for d in decisions)
                        + "): keep one with --keep COLUMN")
    return decisions


def _check_single_values(name: str, column: pd.Series) -> None:
    """DataError when a column's cells hold lists, arrays or records (Parquet list, map or struct columns):
    a feature is one value per row. Looks at the first non-missing cell: such columns hold nothing else."""
    if column.dtype != object:
        return
    values = column.dropna()
    if len(values) and isinstance(values.iloc[0], (list, tuple, dict, set, np.ndarray)):
        kind = "record" if isinstance(values.iloc[0], dict) else "list"
        raise DataError(f"column {name!r} holds a {kind} in each cell (e.g. {_short(values.iloc[0])}), not one value: "
                        f"leave it out with --drop {name}, or spread it into columns of its own")


def _automatic(name: str, column: pd.Series, allow_text: bool = True) -> ColumnDecision | None:
    values = column.dropna()
    if column.nunique(dropna=False) <= 1:
        shown = "missing" if values.empty else repr(_short(values.iloc[0]))
        return ColumnDecision(name, "drop", f"constant (every training row holds {shown}); --keep {name} to use it")
    typed = _typed(name, column)
    if typed is not None and typed.action == "number" and not pd.api.types.is_timedelta64_dtype(column):
        return _automatic(name, parse_numbers(column), allow_text) or typed  # ids held as Python ints are ids
    if typed is not None:
        return typed
    if len(values) < MIN_ROWS or pd.api.types.is_bool_dtype(column):
        return None
    all_distinct = values.nunique() == len(values)
    if pd.api.types.is_integer_dtype(column) or _whole_floats(column):
        if all_distinct and (_increasing(values) or _id_name(name)):
            kind = "a running integer (row number)" if _increasing(values) else "a different whole number in every row"
            return ColumnDecision(name, "drop", f"identifier: {kind}; --keep {name} to use it as a number")
        # (a key, not a code of a few categories: most values cover a handful of rows)
        if _id_name(name, KEY_NAME) and values.nunique() > 50 and values.value_counts().median() < 5:
            return ColumnDecision(name, "drop", f"identifier: a key shared by rows ({values.nunique():,} values, as "
                                                f"a customer's id in a table of purchases), not a quantity; --keep "
                                                f"{name} to use it as a number")
        if _yyyymmdd(values):
            return ColumnDecision(name, "date", "whole numbers written as dates (YYYYMMDD): " + _date_reason(name))
        return None
    if pd.api.types.is_numeric_dtype(column):
        return None
    reason = numbers_in_text(name, values)
    if reason is not None:  # an identifier or a constant written as text is still one
        return _automatic(name, parse_numbers(column), allow_text) or ColumnDecision(name, "number", reason)
    text = values.astype(str)
    if looks_like_dates(text):
        return ColumnDecision(name, "date", _date_reason(name))
    if allow_text and looks_like_text(values):
        return ColumnDecision(name, "text", f"free text (several words per cell, most cells differ): TF-IDF "
                                            f"over its words and word pairs; --no-text {name} to one-hot it")
    if all_distinct and text.str.len().median() <= ID_MAX_LENGTH and text.str.contains(r"\s").mean() <= 0.1:
        return ColumnDecision(name, "drop", f"identifier: a different value in every row (e.g. {_short(text.iloc[0])!r});"
                                            f" --keep {name} to use it")
    return None


def _typed(name: str, column: pd.Series) -> ColumnDecision | None:
    """What a column's type says, with or without the automatic rules: datetimes are dates, durations and
    numbers held as Python objects (decimal.Decimal) are numbers. (The estimator's DataFrame had its datetime
    column one-hot encoded over 32 days, a duration read as words, in a hostile pass.)"""
    if pd.api.types.is_datetime64_any_dtype(column):
        return ColumnDecision(name, "date", _date_reason(name))
    if pd.api.types.is_timedelta64_dtype(column):
        return ColumnDecision(name, "number", f"a duration, as its length in seconds; --drop {name} to leave it out")
    if column.dtype == object and pd.api.types.infer_dtype(column, skipna=True) in (
            "decimal", "integer", "floating", "mixed-integer-float"):
        return ColumnDecision(name, "number", f"numbers held as Python objects; --drop {name} to leave it out")
    return None


def _id_name(name: str, words: re.Pattern = ID_NAME) -> bool:
    """An id-like name: the id words after a separator (ID_NAME; KEY_NAME for a key), camel case or one word."""
    return bool(words.search(name) or CAMEL_ID.search(name) or OWNER_ID.search(name))


def _yyyymmdd(values: pd.Series) -> bool:
    """Whole numbers that are dates written as YYYYMMDD (20210315), DATE_SHARE of them, years 1800-2200."""
    numbers = values.astype("float64")
    if not ((numbers >= 18000101) & (numbers <= 22001231)).all():
        return False
    text = numbers.astype("int64").astype(str)
    return bool(pd.to_datetime(text, format="%Y%m%d", errors="coerce").notna().mean() >= DATE_SHARE)


def _date_reason(name: str) -> str:
    return (f"year, month, day of week, day of year and days since the earliest training date; --drop {name} "
            "to leave it out")


def _short(value, width: int = 24) -> str:
    text = str(value)
    return text if len(text) <= width else text[:width - 3] + "..."


def _whole_floats(column: pd.Series) -> bool:
    """A float column holding only whole numbers (an integer column with missing values reads as float)."""
    if not pd.api.types.is_float_dtype(column):
        return False
    values = column.dropna().to_numpy()
    return len(values) > 0 and bool(np.all(np.isfinite(values)) and np.all(values == np.round(values)))


def _increasing(values: pd.Series) -> bool:
    """Strictly increasing in file order: a row number or an auto-increment key."""
    array = values.to_numpy()
    return len(array) > 1 and bool(np.all(np.diff(array.astype(np.float64)) > 0))


def looks_like_dates(text: pd.Series, sample: int = 500) -> bool:
    """Whether a text column holds dates: most values parse as dates and do not parse as plain numbers."""
    values = text.iloc[:sample]
    if values.empty or pd.to_numeric(values, errors="coerce").notna().mean() > 0.5:
        return False
    if not values.str.contains(r"\d").all() or not values.str.contains(r"[-/.:]|[A-Za-z]{3}").all():
        return False
    return parse_dates(values, quiet=True)[1] is not None


def parse_dates(values: pd.Series, fmt: str | None = None, quiet: bool = False,
                local: bool = True) -> tuple[pd.Series, str | None]:
    """(datetimes without time zone, the format that read them); NaT where a value is not a date.

    fmt None: find the format on training rows: "datetime" for a datetime column, else ISO 8601, the format
    pandas guesses from the first value, or "mixed" (each value on its own), whichever reads DATE_SHARE of
    the values; None as the format when none does. fmt given (at prediction): read with it, and a column
    that arrives as text although it was a datetime column in training is read as ISO 8601 / mixed.
    quiet: no warning that day and month could be swapped (a look at a sample, before the fit warns).
    local: a date with a UTC offset or time zone keeps the writer's date and time (where people's days are);
    False converts it to UTC, as models fitted before 3 December 2026 read it (their DateColumn.local).
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = (parsed if local else parsed.dt.tz_convert("UTC")).dt.tz_localize(None)
        return parsed, "datetime"
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        # dates written as whole numbers (20210315), read as float when a value is missing: "20210315.0"
        # would read as no date at all
        numbers = pd.to_numeric(values, errors="coerce").astype("float64")
        values = numbers.where((numbers == numbers.round()) & (numbers.abs() < 1e15)).astype("Int64")
    # A time's UTC offset dropped: year, month, weekday and hour as the writer's clock read them (converted to UTC,
    # local midnight on 1 January 2020 at +01:00 was a Tuesday of 2019).
    text = values.astype("string")
    if local:
        text = text.str.replace(_OFFSET, r"\1", regex=True)
    if fmt is None:
        guessed = _guessed_format(text)  # from the first value: "01/02/2021" could be either order
        candidates = ["ISO8601", guessed, guessed and _swapped(guessed), _MIXED_ORDER]
        required = DATE_SHARE * int(text.notna().sum())
    else:
        candidates, required = (["ISO8601", "mixed"] if fmt == "datetime" else [fmt]), 0
    best = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    for candidate in candidates:
        if candidate is None:
            continue
        if candidate == _MIXED_ORDER:  # (looked at only when no single format reads the column)
            candidate = _mixed_order(text, quiet)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                parsed = _read_dates(text, candidate)
            except (ValueError, TypeError, OverflowError):
                continue
        if parsed.notna().sum() > best.notna().sum():
            best = parsed
        if required and parsed.notna().sum() >= required:
            if candidate not in ("ISO8601", "mixed", "mixed" + DAY_FIRST) and not quiet:
                _warn_if_ambiguous(text, candidate, required)
            return parsed, candidate
    return best, (fmt if fmt is not None else None)


_OFFSET = r"(\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(?:Z|UTC|[+-]\d{2}(?::?\d{2})?)$"  # "10:30+01:00": the offset
DAY_FIRST = "-dayfirst"  # "mixed-dayfirst": each value on its own format, a day before its month
_DAY_MONTH = r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-]\d{2,4}\b"  # "05/03/2020", "13.01.2020 10:30" (not 2020-01-15)
_MIXED_ORDER = "mixed, in the order the column shows"  # parse_dates' last candidate, before _mixed_order decides


def _read_dates(text: pd.Series, fmt: str) -> pd.Series:
    """text -> datetimes without time zone (NaT where unread) in the format fmt; "mixed-dayfirst" reads the
    ISO 8601 values as such (pandas' dayfirst would turn 2020-02-01 into 2 January) and the rest day first."""
    if not fmt.endswith(DAY_FIRST):
        return pd.to_datetime(text, errors="coerce", format=fmt, utc=True).dt.tz_localize(None)
    iso = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True)
    rest = pd.to_datetime(text.where(iso.isna()), errors="coerce", format="mixed", dayfirst=True, utc=True)
    return iso.fillna(rest).dt.tz_localize(None)


def _mixed_order(text: pd.Series, quiet: bool) -> str:
    """"mixed", or "mixed-dayfirst" when the column's dd/mm-like dates show a day past 12 first ("13/01/2020")
    and none second: pandas' mixed reading puts the month first wherever it can, so "05/03/2020" would be
    May 3 beside "13/01/2020" as 13 January. Both orders in one column is a warning: no reading is right."""
    parts = text.dropna().str.extract(_DAY_MONTH).dropna().astype(int)
    day_first, month_first = bool((parts[0] > 12).any()), bool((parts[1] > 12).any())
    if day_first and month_first and not quiet:
        warnings.warn(f"dates such as {str(text.dropna().iloc[0])!r} mix day-first and month-first orders in one "
                      "column: values such as 05/03 are read month first; write them as YYYY-MM-DD", stacklevel=5)
    return "mixed" + DAY_FIRST if day_first and not month_first else "mixed"


def _guessed_format(text: pd.Series) -> str | None:
    first = text.dropna()
    if first.empty:
        return None
    try:
        with warnings.catch_warnings():  # (pandas' own "dayfirst" advice: not the user's concern)
            warnings.simplefilter("ignore")
            return pd.tseries.api.guess_datetime_format(str(first.iloc[0]))
    except (ValueError, TypeError):
        return None


def _swapped(fmt: str) -> str | None:
    """fmt with day and month swapped (%d/%m/%Y <-> %m/%d/%Y); None when it has not both."""
    if "%d" not in fmt or "%m" not in fmt:
        return None
    return fmt.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")


def _warn_if_ambiguous(text: pd.Series, fmt: str, required: float) -> None:
    """Warn when dates read with a day-month format would read as well with day and month swapped (every
    day <= 12): which comes first is then a guess (a hostile pass: dd/mm dates read as mm/dd, silently)."""
    swapped = _swapped(fmt)
    if swapped is None:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        read = pd.to_datetime(text, errors="coerce", format=swapped).notna().sum()
    if read >= required:
        warnings.warn(f"dates such as {str(text.dropna().iloc[0])!r} read as {fmt}; as {swapped} they would read "
                      "too (no day past 12): if that is their order, write them as YYYY-MM-DD", stacklevel=4)
