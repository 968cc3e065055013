"""A run's data fingerprint: what `--resume` checks before continuing, so that a run never resumes silently
on rows that changed (a column added, labels edited, rows appended) since it started.

The fingerprint is taken of the prepared rows: the columns and their types, the row count, a hash of the
targets and a hash of the features (a streamed Parquet file: of its schema and row groups' metadata, since
its features are never all in memory). `describe_change` says, in words, what differs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

FINGERPRINT_VERSION = 1


def hash_frame(frame: pd.DataFrame) -> str:
    """sha256 of a frame's values, row by row (the index left out), column names included."""
    digest = hashlib.sha256()
    digest.update("\x1f".join(map(str, frame.columns)).encode("utf-8", "replace"))
    try:
        values = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    except TypeError:  # unhashable cells (lists, dicts) in an in-memory table: their text instead
        values = pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy()
    digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()


def file_digests(paths, root) -> list[str]:
    """Each file as "name relative to root:sha256 of its bytes": what the rows of images are, however the
    folder is spelled (relative, absolute, another machine's mount) and whatever its times say."""
    root = Path(root).resolve()
    named = []
    for path in map(Path, paths):
        with open(path, "rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        resolved = path.resolve()
        name = resolved.relative_to(root) if root in resolved.parents else path.name
        named.append(f"{name.as_posix()}:{digest}")
    return named


def data_fingerprint(prepared) -> dict:
    """The fingerprint of prepared rows (data.prepared.InMemoryData or data.streamed.StreamedData)."""
    y = prepared.y
    dataset = getattr(prepared, "dataset", None)
    table = getattr(prepared, "table", None)
    if dataset is not None:
        X = dataset.X
        columns, dtypes = [str(c) for c in X.columns], [str(t) for t in X.dtypes]
        features = hash_frame(X)
        if getattr(dataset, "image_column", None) and getattr(prepared, "features", None):
            # the paths say nothing of the pictures: hash the decoded pixels too (in memory already)
            digest = hashlib.sha256(features.encode())
            for name in sorted(prepared.features):
                digest.update(np.ascontiguousarray(prepared.features[name]).tobytes())
            features = digest.hexdigest()
    elif table is not None:  # streamed: the schema and every row group's size and statistics
        columns = list(table.feature_columns)
        schema = table._file.schema_arrow
        dtypes = [str(schema.field(c).type) for c in columns]
        digest = hashlib.sha256(str(schema).encode())
        metadata = table._file.metadata
        for i in range(metadata.num_row_groups):
            group = metadata.row_group(i)
            digest.update(f"{group.num_rows}:{group.total_byte_size}".encode())
            for j in range(group.num_columns):
                stats = group.column(j).statistics
                if stats is not None and stats.has_min_max:
                    digest.update(f"{j}:{stats.min!r}:{stats.max!r}:{stats.null_count}".encode("utf-8", "replace"))
        features = digest.hexdigest()
    else:
        return {}
    return {"version": FINGERPRINT_VERSION, "n_rows": int(len(y)), "columns": columns, "dtypes": dtypes,
            "targets": [str(c) for c in y.columns], "targets_hash": hash_frame(y), "features_hash": features}


def describe_change(stored: dict, now: dict) -> str | None:
    """What differs between two fingerprints, in words (None when they match or cannot be compared)."""
    if not stored or not now or stored.get("version") != now.get("version"):
        return None
    changes = []
    before, after = stored.get("columns", []), now.get("columns", [])
    added, removed = [c for c in after if c not in before], [c for c in before if c not in after]
    if added:
        changes.append(f"column(s) {_names(added)} added")
    if removed:
        changes.append(f"column(s) {_names(removed)} removed")
    if not added and not removed and before != after:
        changes.append("the columns are in another order")
    types = dict(zip(before, stored.get("dtypes", [])))
    retyped = [f"{c} {types[c]} -> {t}" for c, t in zip(after, now.get("dtypes", [])) if c in types and types[c] != t]
    if retyped:
        changes.append("type(s) changed: " + ", ".join(retyped[:3]) + (" ..." if len(retyped) > 3 else ""))
    if stored.get("n_rows") != now.get("n_rows"):
        changes.append(f"{stored.get('n_rows')} rows became {now.get('n_rows')}")
    if stored.get("targets") != now.get("targets"):
        changes.append(f"the target column(s) {_names(stored.get('targets', []))} became "
                       f"{_names(now.get('targets', []))}")
    elif stored.get("targets_hash") != now.get("targets_hash"):
        changes.append("the labels changed")
    if not changes and stored.get("features_hash") != now.get("features_hash"):
        changes.append("the feature values changed")
    return "; ".join(changes) or None


def _names(columns: list) -> str:
    shown = ", ".join(repr(str(c))[:60] for c in columns[:5])
    return shown + (f" and {len(columns) - 5} more" if len(columns) > 5 else "")
