"""Numbers a CSV writes as text: "1,234", "$1,200", "53%", or plain numbers with a few stray markers ("-",
"?", "unknown") among them.

pandas reads such a column as text, and text is one-hot encoded over its most frequent values: one "-" in a
column of amounts turned the column a table's label depended on into 32 categories, silently (a hostile
pass: test accuracy 0.54 against 0.97 on the clean file). A text column whose values read as numbers, at
least NUMBER_SHARE of them, is read as numbers instead (`parse_numbers`, at fit and at prediction alike);
what does not read is missing, which the column's "was missing" input then says.
"""

from __future__ import annotations

import pandas as pd

NUMBER_SHARE = 0.9  # of a text column's known values that must read as numbers
CURRENCY = "$€£¥₹"
_LEADING = rf"^([+-]?)\s*[{CURRENCY}]\s*"  # "$1,200", "-$5"
_TRAILING = rf"\s*[%{CURRENCY}]$"  # "53%", "12 €"
# "1,234", "12,345.5", "1,60,025" (Indian grouping), "160 026" (a no-break space); not "0,126" (a decimal comma)
_THOUSANDS = r"[+-]?[1-9]\d{0,2}(?:(?:,\d{3})+|(?:,\d{2})+,\d{3}|(?:[\u00a0\u202f]\d{3})+)(?:\.\d+)?"
_TIME = r"(\d{1,2}):([0-5]\d)(?::([0-5]\d(?:\.\d+)?))?"  # a time of day: minutes since midnight
LEADING_ZERO_CODE = r"0\d+"  # "02134", "007": a code that keeps its leading zero (a ZIP code), not a number
CODE_SHARE = 0.1  # the share of a column's rows written so that makes it a column of codes


def parse_numbers(column: pd.Series) -> pd.Series:
    """(n,) float64: each value as a number where it reads as one (also with a currency sign, a percent sign,
    thousands separators, a minus sign or accounting brackets: "$1,200" -> 1200, "53%" -> 53, "(5)" -> -5),
    NaN where it does not. A time of day reads as minutes since midnight ("08:07" -> 487), a duration as its
    seconds."""
    if pd.api.types.is_timedelta64_dtype(column.dtype):
        return column.dt.total_seconds().astype("float64")
    numbers = pd.to_numeric(column, errors="coerce")
    if pd.api.types.is_numeric_dtype(column.dtype):
        return numbers.astype("float64")
    numbers = numbers.astype("float64")
    unread = numbers.isna().to_numpy() & column.notna().to_numpy()
    if unread.any():
        text = column[unread].astype(str).str.strip().str.replace("\u2212", "-", regex=False)  # (a minus sign)
        text = text.str.replace(r"^\((.+)\)$", r"-\1", regex=True)  # accounting: "($1,203.97)" is negative
        text = text.str.replace(_LEADING, r"\1", regex=True).str.replace(_TRAILING, "", regex=True)
        grouped = text.str.fullmatch(_THOUSANDS)
        text = text.where(~grouped, text.str.replace(r"[,\u00a0\u202f]", "", regex=True))
        read = pd.to_numeric(text, errors="coerce").astype("float64")
        times = text.str.extract(rf"^{_TIME}$").astype("float64")
        clock = times[0] * 60 + times[1] + times[2].fillna(0) / 60
        read = read.where(read.notna() | (times[0] > 23), clock.where(times[0] <= 23))
        numbers[unread] = read.to_numpy()
    return numbers


def numbers_in_text(name: str, values: pd.Series) -> str | None:
    """Why the text column `name` is read as numbers, from its known training values (n,), in one clause;
    None when fewer than NUMBER_SHARE of them read as numbers. (Each distinct value is read once: a category
    column of 200,000 rows costs what its few values cost.)"""
    counts = values.value_counts()
    if counts.empty:
        return None
    distinct = pd.Series(counts.index, dtype=object)
    if len(distinct) > 1000 and parse_numbers(distinct[:1000]).notna().mean() < 0.5:
        return None  # (the most frequent values are mostly words: no need to read every value of free text)
    read = parse_numbers(distinct).notna().to_numpy()
    rows = counts.to_numpy()
    text = distinct.astype(str).str.strip()
    codes = text.str.fullmatch(LEADING_ZERO_CODE).to_numpy()
    if rows[read].sum() < NUMBER_SHARE * rows.sum() or rows[codes].sum() >= CODE_SHARE * rows.sum():
        return None  # (mostly words, or codes such as ZIP codes that keep their leading zeros)
    times = text.str.fullmatch(_TIME).to_numpy()
    formatted = read & ~times & pd.to_numeric(distinct, errors="coerce").isna().to_numpy()
    parts = []
    if times.any():
        parts.append(f"{int(rows[times].sum()):,} times of day (hh:mm), read as minutes since midnight")
    if formatted.any():
        parts.append(f"{int(rows[formatted].sum()):,} written with a currency sign, %, a sign or thousands separators (e.g. "
                     f"{str(distinct[formatted].iloc[0])!r})")
    if not read.all():
        stray = [str(v).strip()[:20] for v in distinct[~read]]
        shown = ", ".join(map(repr, stray[:3])) + (", ..." if len(stray) > 3 else "")
        parts.append(f"{int(rows[~read].sum()):,} that are not numbers read as missing ({shown})")
    return ("; ".join(parts) or "numbers stored as text") + f"; --keep {name} to one-hot its values instead"
