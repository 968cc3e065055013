"""A CSV larger than memory -> a Parquet file that `--stream` can train from, one chunk in memory at a time.

Two passes over the CSV: the first decides each column's type from all of its values, as pandas would
reading the whole file (whole numbers -> int64, numbers or blanks -> float64, anything else, booleans
included, -> text); the second reads chunks with those types and writes them
in small row groups, so that streamed chunks mix rows from all over the file. Inferring types chunk by chunk
instead would let a column change type partway (digits in one chunk, text in the next), which a Parquet
file cannot hold and which would turn the text "7" into the number 7.0.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import DataError
from ..files import atomic_write, same_file
from ..outputs import parents_made
from .tables import TableFile, csv_options, decimal_commas, open_table, reading_errors, without_trailing

ROW_GROUP_ROWS = 16_384  # small next to a streamed chunk (131,072 rows by default): chunks mix ~8 groups
READ_ROWS = 262_144


def infer_column_types(path: Path | TableFile, chunk_rows: int = READ_ROWS, options: dict | None = None
                       ) -> dict[str, str]:
    """{column: "int64" | "float64" | "text"} for every value of a CSV, read chunk_rows rows at a time.

    pandas infers each chunk's types; a column is int64 when every chunk found whole numbers, float64 when
    every chunk found numbers (or nothing), and text as soon as one chunk held anything else: the types
    pandas gives when it reads the whole file at once. options: csv_options' for the file, when the caller
    has them already.
    """
    table = path if isinstance(path, TableFile) else open_table(path)
    path = table.path
    kinds: dict[str, set[str]] = {}
    n_rows = 0
    with reading_errors(path):
        options = options or csv_options(table)
        for chunk in pd.read_csv(table.handle(), **options, chunksize=chunk_rows):
            chunk = decimal_commas(without_trailing(chunk, path), options)
            n_rows += len(chunk)
            for column in chunk.columns:
                dtype = chunk[column].dtype
                # (pandas reads whole numbers past int64's range as uint64: kept as float64, as a number)
                kind = ("int64" if pd.api.types.is_signed_integer_dtype(dtype) else "float64"
                        if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
                        else "text")
                kinds.setdefault(column, set()).add(kind)
    if n_rows == 0:
        raise DataError(f"{path} has no data rows: it needs a header row and at least one data row")
    return {c: "text" if "text" in found else "float64" if "float64" in found else "int64"
            for c, found in kinds.items()}


def csv_to_parquet(source: Path, destination: Path, row_group_rows: int = ROW_GROUP_ROWS,
                   chunk_rows: int = READ_ROWS) -> dict:
    """Write the CSV `source` as the Parquet file `destination` (temporary name, then renamed).

    Returns {"rows", "columns", "row_groups", "types"}. DataError for an unreadable or empty CSV.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    source, destination = Path(source), Path(destination)
    table = open_table(source)  # a pipe is read once, into memory: both passes read that copy
    if table.parquet:
        raise DataError(f"{source} is already a Parquet file: train from it with --stream (or rewrite its row "
                        "groups with pyarrow if they are too large)")
    with reading_errors(source):
        options = csv_options(table)  # (once: it may warn about the file's encoding)
    types = infer_column_types(table, chunk_rows, options)
    dtype = {c: {"int64": "int64", "float64": "float64", "text": str}[t] for c, t in types.items()}
    arrow_type = {"int64": pa.int64(), "float64": pa.float64(), "text": pa.string()}
    schema = pa.schema([(c, arrow_type[t]) for c, t in types.items()])
    counts = {"rows": 0, "row_groups": 0}

    def write(tmp: Path) -> None:
        with reading_errors(source), pq.ParquetWriter(tmp, schema) as writer:
            # With decimal commas "1.500" is a number pandas cannot read as one: only the text columns are
            # typed on reading; the numbers are typed once decimal_commas has rewritten them.
            text = {c: str for c, t in types.items() if t == "text"}
            typed = {**options, "dtype": text if "decimal" in options else dtype}
            for chunk in pd.read_csv(table.handle(), **typed, chunksize=chunk_rows):
                chunk = decimal_commas(without_trailing(chunk, source), options, text_columns=text).astype(dtype)
                arrow = pa.Table.from_pandas(chunk, schema=schema, preserve_index=False)
                writer.write_table(arrow, row_group_size=row_group_rows)
                counts["rows"] += len(chunk)
                counts["row_groups"] += -(-len(chunk) // row_group_rows)

    if same_file(source, destination):
        raise DataError(f"{destination} is the CSV being converted: choose another destination")
    with parents_made(destination):  # a failed conversion leaves no new empty folders either
        atomic_write(destination, write)
    return {"rows": counts["rows"], "columns": len(types), "row_groups": counts["row_groups"], "types": types}
