"""Row hashes: which rows of a file a run trained on, kept without keeping the rows themselves.

`evaluate` on a file warns when its rows overlap the run's training split (the metrics would flatter the
model). A row's hash covers its feature and target columns in a canonical text form, so the same row read
from two files (5 as int in one, 5.0 as float in another chunk) hashes alike.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

HASHES = "train_rows.safetensors"


def row_hashes(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """(n,) int64 hashes of `frame`'s rows over `columns` (sorted by name; numbers compared as numbers)."""
    canonical = {}
    for name in sorted(columns):
        column = frame[name]
        numbers = pd.to_numeric(column, errors="coerce") if not pd.api.types.is_bool_dtype(column) else column
        text = column.astype(str).to_numpy(dtype=object)
        as_number = numbers.astype(float).astype(str).to_numpy(dtype=object) if numbers.dtype != bool else text
        canonical[name] = np.where(pd.notna(numbers).to_numpy(), as_number, text)
    table = pd.DataFrame(canonical)
    return pd.util.hash_pandas_object(table, index=False).to_numpy().view(np.int64)


def overlap(hashes: np.ndarray, known: np.ndarray) -> int:
    """How many of `hashes` are among `known`."""
    return int(np.isin(hashes, known).sum())
