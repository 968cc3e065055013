"""A Parquet file larger than memory, read a chunk of row groups at a time (`--stream`).

Only the target column(s) are read whole; feature columns come in chunks of whole row groups, and only the
rows asked for are kept from each. Nothing here is fitted: see data/streamed.py for how it is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from .sources import resolve_target
from .tables import check_data_file, decimals_as_floats, is_pipe

# Rows per chunk when --chunk-rows is not given: 2**17 rows of 100 float64 columns is ~100 MB raw, small next
# to a machine's memory, and large enough that shuffling within a chunk mixes rows from far apart.
DEFAULT_CHUNK_ROWS = 131_072
PARQUET_SUFFIXES = (".parquet", ".pq")


def plan_chunks(row_group_rows: list[int], chunk_rows: int) -> list[list[int]]:
    """Group consecutive row groups into chunks of at most chunk_rows rows (a larger group is a chunk alone).

    row_group_rows: rows in each row group, in file order. Returns the row-group indices of each chunk.
    """
    chunks: list[list[int]] = []
    rows = 0
    for group, n in enumerate(row_group_rows):
        if chunks and rows + n <= chunk_rows:
            chunks[-1].append(group)
            rows += n
        else:
            chunks.append([group])
            rows = n
    return chunks


class ParquetTable:
    """A Parquet file's metadata, its target column(s) and a chunked reader of its feature columns.

    path: the .parquet/.pq file; target: as --target ("y", "a,b,c" or "mood_*").
    chunk_rows: rows per chunk (whole row groups; None: DEFAULT_CHUNK_ROWS).
    Attributes: name (the file's stem), feature_columns, target_columns, n_rows, group_starts
    ((n_groups + 1,) the first row of each row group, then n_rows), chunks (row-group indices of each chunk
    of consecutive groups, for reading in file order) and chunk_starts ((n_chunks + 1,) the first row of each
    chunk, then n_rows).
    Raises DataError for a missing, empty or unreadable file and a target column it lacks.
    """

    def __init__(self, path, target: str | None, chunk_rows: int | None = None):
        import pyarrow.parquet as pq

        self.path = Path(path)
        if is_pipe(self.path):
            raise DataError(f"{self.path} is a pipe, which can be read only once: --stream reads a Parquet file a "
                            "chunk at a time - write it to a file first, or train without --stream")
        check_data_file(self.path)
        try:
            self._file = pq.ParquetFile(self.path)
        except Exception as err:  # pyarrow raises its own types for a corrupt file
            raise DataError(f"cannot read {self.path}: {type(err).__name__} - is it a valid Parquet file?") from None
        self.name = self.path.stem
        schema = self._file.schema_arrow
        # pandas stores a non-default index as a column; pd.read_parquet turns it back into the index, so the
        # in-memory path never sees it as a feature and neither may this one.
        index_columns = {c for c in (schema.pandas_metadata or {}).get("index_columns", []) if isinstance(c, str)}
        columns = [str(c) for c in schema.names if c not in index_columns]
        if len(set(columns)) != len(columns):
            raise DataError(f"{self.path} has duplicate column names: give each column a unique name")
        metadata = self._file.metadata
        self.n_rows = int(metadata.num_rows)
        if self.n_rows == 0:
            raise DataError(f"{self.path} has no rows: there is nothing to train on")
        self.target_columns = resolve_target(columns, target)
        self.feature_columns = [c for c in columns if c not in self.target_columns]
        if not self.feature_columns:
            raise DataError(f"{self.name} has no feature columns besides the target {self.target_columns}")
        row_group_rows = [int(metadata.row_group(i).num_rows) for i in range(metadata.num_row_groups)]
        self.group_starts = np.concatenate([[0], np.cumsum(row_group_rows)]).astype(np.int64)
        self.chunk_rows = DEFAULT_CHUNK_ROWS if chunk_rows is None else int(chunk_rows)
        self.chunks = plan_chunks(row_group_rows, self.chunk_rows)
        sizes = [sum(row_group_rows[g] for g in groups) for groups in self.chunks]
        self.chunk_starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

    def read_targets(self) -> pd.DataFrame:
        """The target column(s) of every row: (n_rows, n_targets), as pd.read_parquet would give them."""
        return self._read(self._file.read, columns=self.target_columns)

    def iter_rows(self, rows: np.ndarray, order=None) -> Iterator[tuple[int, slice, pd.DataFrame]]:
        """The raw feature columns of `rows`, one chunk at a time: (chunk index, part of rows, frame).

        rows: sorted row numbers in the file. Each chunk holding any of them is read once (its row groups in
        one read), keeps only those rows, and yields the frame (n, n_features) of rows[part].
        order: the chunk indices to visit, in that order (default: file order); chunks without rows are skipped.
        """
        rows = np.asarray(rows, dtype=np.int64)
        bounds = np.searchsorted(rows, self.chunk_starts)  # rows[bounds[c]:bounds[c + 1]] lie in chunk c
        for chunk in range(len(self.chunks)) if order is None else order:
            part = slice(int(bounds[chunk]), int(bounds[chunk + 1]))
            if part.start == part.stop:
                continue
            local = rows[part] - self.chunk_starts[chunk]  # row numbers within the chunk
            yield chunk, part, self._read(self._file.read_row_groups, self.chunks[chunk],
                                          columns=self.feature_columns, take=local)

    def read_groups(self, groups: list[int], take: np.ndarray) -> pd.DataFrame:
        """The raw feature columns of row groups `groups` (any of the file's), in one read; keeps only the
        rows at positions `take` of the groups' rows laid end to end in the order given."""
        return self._read(self._file.read_row_groups, groups, columns=self.feature_columns, take=take)

    def read_rows(self, rows: np.ndarray) -> pd.DataFrame:
        """The raw feature columns of `rows` (sorted), read chunk by chunk: for bounded samples only."""
        frames = [frame for _, _, frame in self.iter_rows(rows)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=self.feature_columns)

    def _read(self, read, *args, take: np.ndarray | None = None, **kwargs) -> pd.DataFrame:
        """read(*args, **kwargs) -> a pyarrow Table, keeping only rows `take`, as a DataFrame with a fresh index."""
        try:
            table = read(*args, **kwargs)
            frame = (table if take is None else table.take(take)).to_pandas()
        except MemoryError:
            raise
        except Exception as err:  # pyarrow's own types: a truncated or corrupt file
            raise DataError(f"cannot read {self.path}: {type(err).__name__}: {err} - is the file intact?") from None
        frame.columns = [str(c) for c in frame.columns]
        return decimals_as_floats(frame.reset_index(drop=True))


def sample_rows(rows: np.ndarray, max_rows: int, seed) -> np.ndarray:
    """`rows` itself when it holds at most max_rows, else a seeded random sample of max_rows of them, sorted.

    seed: what np.random.default_rng takes, e.g. (run seed, purpose) for a stream of its own.
    """
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) <= max_rows:
        return rows
    return np.sort(np.random.default_rng(seed).choice(rows, size=max_rows, replace=False))
