"""Reading a CSV/TSV or Parquet table: whole (`read_table`) or a chunk at a time (`iter_table`).

A path is opened ONCE to learn what it is: a regular file is then read by pandas/pyarrow from disk; a FIFO
or a pipe (`--data <(zcat big.csv.gz)`) can be read only once, so its bytes are read into memory (at most
MAX_PIPE_BYTES) and every later look (the blank check, the delimiter sniffer, the parser) reads that copy;
a device (`/dev/zero`), socket or folder is refused in one line before a byte is read.
"""

from __future__ import annotations

import io
import os
import stat
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import DataError

MAX_PIPE_BYTES = 2 * 2**30  # a pipe is held in memory whole: past this, write it to a file (read in chunks)
PARQUET_MAGIC = b"PAR1"
_HEAD_BYTES = 65_536


@dataclass
class TableFile:
    """A table to read: a regular file's path, or the whole content of a pipe (read once).

    path: as given; data: a pipe's bytes (None for a regular file); head: its first bytes (sniffing);
    parquet: whether it is Parquet (by suffix for files, by the PAR1 magic for pipes).
    """

    path: Path
    data: bytes | None
    head: bytes
    parquet: bool

    def handle(self):
        """What pandas/pyarrow read: the path, or a fresh in-memory copy of a pipe's bytes."""
        return self.path if self.data is None else io.BytesIO(self.data)

    @property
    def is_pipe(self) -> bool:
        return self.data is not None


def open_table(path) -> TableFile:
    """Look at `path` once: DataError with the fix when it is missing, a folder, a device, blank, or a pipe
    larger than MAX_PIPE_BYTES; otherwise a TableFile to read from."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode  # follows /dev/fd/63 to the pipe behind it
    except FileNotFoundError:
        raise DataError(f"file not found: {path} - check the path") from None
    except OSError as err:
        raise DataError(f"cannot open {path}: {err.strerror}") from None
    if stat.S_ISDIR(mode):
        raise DataError(f"{path} is a folder, not a data file: give a .csv or .parquet file")
    if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
        kind = "a character device" if stat.S_ISCHR(mode) else "a block device" if stat.S_ISBLK(mode) else \
            "a socket" if stat.S_ISSOCK(mode) else "not a file"
        raise DataError(f"{path} is {kind}, not a data file: give a .csv or .parquet file (or a pipe)")
    try:
        fd = os.open(path, os.O_RDONLY)  # a FIFO: waits for its writer, as `cat FIFO` would
    except OSError as err:
        raise DataError(f"cannot open {path}: {err.strerror}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode):
            head = os.read(fd, _HEAD_BYTES)
            data = None
        elif stat.S_ISFIFO(info.st_mode):
            data = _read_pipe(fd, path)
            head = data[:_HEAD_BYTES]
        else:  # swapped for something else since the stat
            raise DataError(f"{path} is not a regular file or a pipe: give a .csv or .parquet file")
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror}") from None
    finally:
        os.close(fd)
    if not head.strip():
        raise DataError(f"{path} is empty: it needs a header row and at least one data row")
    parquet = head.startswith(PARQUET_MAGIC) if data is not None else path.suffix.lower() in (".parquet", ".pq")
    return TableFile(path, data, head, parquet)


def _read_pipe(fd: int, path: Path) -> bytes:
    chunks, total = [], 0
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > MAX_PIPE_BYTES:
            raise DataError(f"{path} is a pipe sending more than {MAX_PIPE_BYTES / 2**20:,.0f} MiB, the most that is "
                            "held in memory: write it to a file first (a file is read a chunk at a time)")
        chunks.append(chunk)


def is_pipe(path) -> bool:
    """Whether `path` is a FIFO or a pipe (`<(...)`): readable once, so never by a chunked Parquet reader."""
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


def check_data_file(path) -> TableFile:
    """DataError with the fix when `path` is missing, a folder, a device or blank (see open_table)."""
    return open_table(path)


def read_table(path) -> pd.DataFrame:
    """Read a CSV/TSV or Parquet file (or a pipe) into a DataFrame; DataError if missing, empty or unreadable."""
    table = path if isinstance(path, TableFile) else open_table(path)
    with reading_errors(table.path):
        if table.parquet:
            frame = decimals_as_floats(pd.read_parquet(table.handle()))
        else:  # low_memory=False: infer each column's type from all its rows, not block by block
            options = csv_options(table)
            try:
                frame = pd.read_csv(table.handle(), **options, low_memory=False)
            except UnicodeDecodeError:
                if "encoding" in options:
                    raise
                # UTF-8 for its first 64 KiB (what text_encoding sees), not after: read whole as the fallbacks
                frame = _read_with_fallback(table, options)
            frame = decimal_commas(frame, options)
            frame.attrs["decimal"] = options.get("decimal", ".")  # (kept with the model: predict reads alike)
    return _checked_frame(frame, table.path)


def iter_table(path, chunk_rows: int = 65_536, text_columns=(), decimal: str | None = None,
               allow_empty: bool = False) -> Iterator[pd.DataFrame]:
    """Read a CSV/TSV or Parquet file `chunk_rows` rows at a time, for files larger than memory.

    decimal: the decimal mark the training file was read with (the model keeps it), used instead of this
    file's own first lines, which may not show it (whole amounts with a thousands point: "1.370").

    text_columns: columns to read as text whatever each chunk holds. A chunk of a CSV whose text column
    happens to be all digits (or digits and blanks) would otherwise come back as int (or float: "7" -> 7.0),
    which is a different category than the text "7" seen in training.
    allow_empty: a file of a header and no rows yields one frame of its columns and no rows (predict writes a
    header-only output for it) instead of a DataError.
    Raises DataError like read_table, also for a chunk that turns out unreadable partway through the file.
    """
    table = path if isinstance(path, TableFile) else open_table(path)
    path = table.path
    with reading_errors(path):
        if table.parquet:
            import pyarrow.parquet as pq

            batches = pq.ParquetFile(table.handle()).iter_batches(batch_size=chunk_rows)
            chunks = (decimals_as_floats(batch.to_pandas()) for batch in batches)
        else:
            # (dtype entries for columns the file lacks are ignored: the model's column check says so later)
            options = csv_options(table, decimal)
            options["dtype"] = {**options.get("dtype", {}), **{column: str for column in text_columns}}
            chunks = (decimal_commas(chunk, options, text_columns)
                      for chunk in pd.read_csv(table.handle(), **options, chunksize=chunk_rows))
        n_rows = 0
        for chunk in chunks:
            n_rows += len(chunk)
            if len(chunk):
                yield _checked_frame(chunk, path)
        if n_rows == 0 and allow_empty:
            if table.parquet:
                import pyarrow.parquet as pq

                empty = pq.ParquetFile(table.handle()).schema_arrow.empty_table().to_pandas()
            else:
                empty = pd.read_csv(table.handle(), **options, nrows=0)
            yield _checked_frame(empty, path, allow_empty=True)
            return
    if n_rows == 0:
        raise DataError(f"{path} has no data rows: it needs a header row and at least one data row")


def csv_options(source, decimal: str | None = None) -> dict:
    """pd.read_csv options for a delimited file: the delimiter sniffed from its first lines, so that
    comma, semicolon, tab and pipe files all read, then pandas' C parser (~15x faster than the python
    engine that sep=None needs). source: a TableFile (its head, already read) or a path."""
    import csv

    table = source if isinstance(source, TableFile) else open_table(source)
    head = table.head  # (a 64 KiB cut may split a character: only the sniffer sees this)
    encoding = text_encoding(table)
    lines = head.decode(encoding or "utf-8", errors="replace").lstrip("\ufeff").splitlines()
    if len(head) == _HEAD_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the cut line is incomplete
    sample = "\n".join(lines[:50])
    try:
        separator = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:  # nothing consistent (rows ending with a delimiter, one column): the header's, else a comma
        counts = {candidate: lines[0].count(candidate) if lines else 0 for candidate in ",;\t|"}
        separator = max(counts, key=counts.get) if max(counts.values()) else ","
    header = next(csv.reader(lines[:1], delimiter=separator, skipinitialspace=True), [])  # (names as pandas reads them)
    repeated = sorted(name for name, count in Counter(n.strip() for n in header).items() if name and count > 1)
    if repeated:  # (pandas would rename the second 'a' to 'a.1', silently)
        raise DataError(f"{table.path} has duplicate column names {repeated}: give each column a unique name")
    rows = [row for row in csv.reader(lines[1:], delimiter=separator, skipinitialspace=True) if row]
    options = {"sep": separator, "skipinitialspace": True, **({"encoding": encoding} if encoding else {}),
               **_one_more_field(table, rows, header)}
    coded = _coded_columns(header, rows)
    if coded:
        options["dtype"] = coded
    # (a file of one column has no separator to tell: a comma there is the decimal mark the model says)
    if (separator != "," or len(header) == 1) and (
            decimal == "," if decimal in (",", ".") else _decimal_comma(lines[1:], separator)):
        options["decimal"] = ","  # decided once for the file: every chunk and every prediction reads alike
    return options


def _one_more_field(table: TableFile, rows: list[list[str]], header: list[str]) -> dict:
    """read_csv options that keep pandas from taking the first column as the rows' index, which it does
    silently when the first data row has one field more than the header names: every column would shift one
    place left, the target's name landing on its neighbour's values. Rows that end with a delimiter (an
    empty last field, what some exports write) are read as their named fields; a real extra value is a
    DataError, since which column lacks a name cannot be guessed."""
    n_names = len(header)
    if n_names == 1:  # (a file of one column: a comma in it may be a decimal mark, see csv_options)
        return {}
    if rows and len(rows[0]) == n_names + 1:
        if any(len(row) == n_names + 1 and row[-1].strip() for row in rows):
            raise DataError(f"{table.path}: the data rows have {n_names + 1} fields but the header names {n_names}: "
                            "give every column a name in the first line")
        if all(name.strip() for name in header) and len({*header, TRAILING}) == n_names + 1:
            # The trailing field read as a column of its own, which every chunk checks is empty and drops
            # (without_trailing): a value there past the first lines read here is an error too, not dropped.
            return {"index_col": False, "header": 0, "names": [*header, TRAILING]}
        return {"index_col": False, "usecols": list(range(n_names))}  # (unnamed columns: pandas names them)
    return {"index_col": False}  # (a later row with more fields is then pandas' one-line field-count error)


TRAILING = "\0trailing field"  # the column a delimiter at the end of every row leaves, checked and dropped


def without_trailing(frame: pd.DataFrame, path) -> pd.DataFrame:
    """frame less the TRAILING column that csv_options reads rows ending with a delimiter into; DataError if a
    row holds a value there (a value no header name is for)."""
    if TRAILING not in frame.columns:
        return frame
    extra = frame[TRAILING].notna()
    if extra.any():
        raise DataError(f"{path}: a data row (row {int(extra.to_numpy().argmax()) + 1} of those read) has a value "
                        "past the last column the header names: give every column a name in the first line")
    return frame.drop(columns=TRAILING)


def _coded_columns(header: list[str], rows: list[list[str]]) -> dict:
    """{column: str} for the columns whose first rows write codes with leading zeros ("02134", "007": ZIP
    codes, account codes) in at least CODE_SHARE of their values: read as text, so that the zeros and the
    codes' identity survive (pandas would read "02134" as the number 2134); data/number_text.py then keeps
    them categories, by the same rule."""
    import re

    from .number_text import CODE_SHARE, LEADING_ZERO_CODE

    coded = {}
    for i, name in enumerate(header):
        values = [row[i].strip() for row in rows if len(row) > i and row[i].strip()]
        codes = sum(1 for value in values if re.fullmatch(LEADING_ZERO_CODE, value))
        if values and codes >= CODE_SHARE * len(values):
            coded[name.lstrip()] = str  # (the name as pandas reads it with skipinitialspace)
    return coded


_THOUSANDS_POINT = r"[+-]?[1-9]\d{0,2}\.\d{3}(?:\.\d{3})?"  # "3.386", "12.345.678" (not an IP address)


def _decimal_comma(lines: list[str], separator: str) -> bool:
    """Whether a file's first 64 KiB of data lines write numbers with a decimal comma (the spreadsheet convention
    of many countries, which a comma-separated file cannot use unquoted) and none with a decimal point.

    A comma is a decimal mark for sure in "0,126", "12,5", "3,1416" or "1.234,5"; "23,659" could be a thousands
    comma and says nothing. A point is one in "1.5", "0.386" or "3.1416"; "1.500" could be a thousands point
    (in a semicolon file with nothing else to tell, a warning says how it was read)."""
    import re

    fields = {field.strip() for line in lines for field in line.split(separator)}
    comma = any(re.fullmatch(r"[+-]?(?:0?,\d+|\d*,(?:\d{1,2}|\d{4,})|\d{1,3}(?:\.\d{3})+,\d+)", field)
                for field in fields)
    point = any(re.fullmatch(r"[+-]?\d*\.(?:\d{1,2}|\d{4,})|[+-]?\d{1,3}(?:,\d{3})+\.\d+|[+-]?0\.\d+", field)
                for field in fields)
    # "3.386" beside "211" in a semicolon file: a thousands point, or three decimals? Both are written; read with
    # a point, and said (the first such value in the file, named).
    shown = separator == ";" and not comma and not point and next(
        (f.strip() for line in lines for f in line.split(separator) if re.fullmatch(_THOUSANDS_POINT, f.strip())), None)
    if shown:
        warnings.warn(f"numbers such as {shown!r} in this semicolon file are read with a decimal point ({shown!r} "
                      f"as {float(shown):g}); if the point separates thousands, write them without it", stacklevel=4)
    return comma and not point


_COMMA_DECIMAL = r"\s*[+-]?\d{1,3}(?:\.\d{3})+(?:,\d+)?\s*|\s*[+-]?\d*,\d+\s*"  # "1.234,5", "0,126"


def decimal_commas(frame: pd.DataFrame, options: dict, text_columns=()) -> pd.DataFrame:
    """In a file that writes numbers with a decimal comma (csv_options' decimal=","), the numbers pandas left
    as text ("1.234,5" with a thousands point, or any beside a stray "-") rewritten with a decimal point, and
    a column that is then all numbers read as float64 (not the text_columns, whose type is fixed as text).
    What stays text may still be read as numbers (data/number_text.py). In place; returns the frame."""
    if options.get("decimal") != ",":
        return frame
    text_columns = {*text_columns, *(c for c, kind in (options.get("dtype") or {}).items() if kind is str)}
    for name in [c for c in frame.columns if frame[c].dtype == object or isinstance(frame[c].dtype, pd.StringDtype)]:
        text = frame[name].astype(str)
        european = frame[name].notna() & text.str.fullmatch(_COMMA_DECIMAL)
        if european.any():
            fixed = text[european].str.strip().str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
            frame[name] = frame[name].where(~european, fixed)
            if name in text_columns:
                continue
            numbers = pd.to_numeric(frame[name], errors="coerce")  # ("211" beside "1.234,5": numbers too)
            if numbers.notna().sum() == frame[name].notna().sum():
                frame[name] = numbers
    return frame


FALLBACK_ENCODINGS = ("cp1252", "latin-1")  # what spreadsheet programs write; Latin-1 reads any byte


def _read_with_fallback(table: TableFile, options: dict) -> pd.DataFrame:
    """The whole file read in the first FALLBACK_ENCODINGS that reads it (the last always does), said in a
    warning; options gets the encoding used."""
    for encoding in FALLBACK_ENCODINGS:
        try:
            frame = pd.read_csv(table.handle(), **{**options, "encoding": encoding}, low_memory=False)
            break
        except UnicodeDecodeError:
            if encoding == FALLBACK_ENCODINGS[-1]:
                raise
    warnings.warn(f"{table.path} is not UTF-8 past its first lines: read as {encoding} text (save it as UTF-8 "
                  "to be sure)", stacklevel=3)
    options["encoding"] = encoding
    return frame


_COMPRESSED = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"\x28\xb5\x2f\xfd")  # gzip, bz2, xz, zstd: pandas unpacks them


def text_encoding(table: TableFile) -> str | None:
    """The encoding of a delimited file when it is not UTF-8 (None: UTF-8, pandas' default), from its head:
    UTF-16 by its byte-order mark, else Windows-1252 (what spreadsheet programs write), else Latin-1, said in
    a warning. DataError for a spreadsheet workbook, which is not a CSV."""
    head = table.head
    if head.startswith(b"PK\x03\x04") and table.path.suffix.lower() != ".zip":
        raise DataError(f"{table.path} is a zip archive, such as an Excel workbook, not a CSV: save it as CSV "
                        "(or Parquet)")
    if head.startswith(_COMPRESSED) or head.startswith(b"PK\x03\x04"):
        return None
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    cut = len(head) == _HEAD_BYTES
    for encoding in ("utf-8", *FALLBACK_ENCODINGS):
        try:
            head.decode(encoding)
        except UnicodeDecodeError as err:
            if not (encoding == "utf-8" and cut and err.start >= len(head) - 3):  # (a character cut in two)
                continue
        if encoding != "utf-8":
            warnings.warn(f"{table.path} is not UTF-8: read as {encoding} text (save it as UTF-8 to be sure)",
                          stacklevel=4)
        return None if encoding == "utf-8" else encoding
    return None


@contextmanager
def reading_errors(path: Path):
    """Turn pandas' and pyarrow's reading errors into one-line DataErrors."""
    try:
        yield
    except DataError:
        raise
    except MemoryError:
        raise DataError(f"{path} does not fit in memory: convert it with `torchclassify convert` and train with "
                        "--stream") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty: it needs a header row and at least one data row") from None
    except UnicodeDecodeError as err:
        raise DataError(f"cannot read {path}: it is not UTF-8 text past its first lines (a byte "
                        f"{err.object[err.start:err.start + 1].hex()}): save it as UTF-8") from None
    except (pd.errors.ParserError, ValueError, OSError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"cannot read {path}: {reason[:200]} - is it a valid CSV or Parquet file?") from None
    except Exception as err:  # pyarrow raises its own types for corrupt Parquet
        raise DataError(f"cannot read {path}: {type(err).__name__} - is it a valid CSV or Parquet file?") from None


def _checked_frame(frame: pd.DataFrame, path: Path, allow_empty: bool = False) -> pd.DataFrame:
    frame = without_trailing(frame, path)
    if frame.empty and not allow_empty:
        raise DataError(f"{path} has no data rows: it needs a header row and at least one data row")
    frame.columns = [str(c) for c in frame.columns]
    if len(set(frame.columns)) != len(frame.columns):
        raise DataError(f"{path} has duplicate column names: give each column a unique name")
    return frame


def decimals_as_floats(frame: pd.DataFrame) -> pd.DataFrame:
    """Parquet decimal columns (pandas object columns of decimal.Decimal) as float64: they are numbers, and
    read as objects they would be one-hot encoded value by value. In place; returns the frame."""
    import decimal

    for name in frame.columns[(frame.dtypes == object).to_numpy()]:
        values = frame[name].dropna()
        if len(values) and isinstance(values.iloc[0], decimal.Decimal) and all(
                isinstance(v, decimal.Decimal) for v in values):
            frame[name] = values.astype(float).reindex(frame.index)
    return frame
