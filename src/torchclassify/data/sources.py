"""Where the rows come from: toy generators (numpy, `toys`), datasets that scikit-learn ships on disk,
CSV/Parquet files, image folders (a subfolder per class) and tables of image paths.

Every source returns a Dataset of raw features X and raw targets y; nothing here is fitted or scaled.
"""

from __future__ import annotations

import fnmatch
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from . import toys
from .images import IMAGE_COLUMN, find_images, image_column, resolve_paths
from .tables import read_table

TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq")


@dataclass
class Dataset:
    """Raw rows, before any transformation.

    X: (n_samples, n_features) DataFrame of raw feature columns (numbers, strings, NaN allowed).
    y: (n_samples, n_targets) DataFrame: one label column (binary/multiclass) or several 0/1 columns.
    """

    X: pd.DataFrame
    y: pd.DataFrame
    name: str
    description: str = ""
    image_column: str | None = None  # images: the one feature column, of file paths (data/images.py)


@dataclass(frozen=True)
class Builtin:
    """One built-in dataset: its loader and what `torchclassify datasets` says about it."""

    load: Callable[[int | None, float | None, int], Dataset]
    task: str
    description: str
    toy: bool  # toy generators take n_samples and noise


def _frame(X: np.ndarray, y: np.ndarray, name: str, description: str, label_names=None) -> Dataset:
    X_frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    if y.ndim == 2:  # multilabel indicator (n, L)
        y_frame = pd.DataFrame(y.astype(np.int64), columns=label_names or [f"label_{i}" for i in range(y.shape[1])])
    else:
        y_frame = pd.DataFrame({"target": y})
    return Dataset(X_frame, y_frame, name, description)


def _circles(n, noise, seed):
    X, y = toys.make_circles(n or 1000, 0.03 if noise is None else noise, factor=0.8, seed=seed)
    return _frame(X, y, "circles", "two concentric circles")


def _moons(n, noise, seed):
    X, y = toys.make_moons(n or 1000, 0.1 if noise is None else noise, seed=seed)
    return _frame(X, y, "moons", "two interleaving half circles")


def _blobs(n, noise, seed):
    # The centres are fixed (those make_blobs draws with random_state=42, as in the classic tutorial) so
    # the task stays the same across seeds; the seed draws the points around them.
    centers = toys.blob_centers(4, 2, seed=42)
    X, y = toys.make_blobs(n or 1000, centers, 1.5 if noise is None else noise, seed=seed)
    return _frame(X, y, "blobs", "four Gaussian clusters")


def _spirals(n, noise, seed):
    # The CS231n spiral: three arms; angle noise makes the arms overlap.
    n = n or 1500
    n_classes = 3
    rng = np.random.default_rng(seed)
    per_class = np.full(n_classes, n // n_classes)
    per_class[: n % n_classes] += 1
    X, y = [], []
    for k, m in enumerate(per_class):
        radius = np.linspace(0.0, 1.0, m)
        theta = np.linspace(k * 4.0, (k + 1) * 4.0, m) + rng.normal(0.0, 0.2 if noise is None else noise, m)
        X.append(np.c_[radius * np.sin(theta), radius * np.cos(theta)])
        y.append(np.full(m, k))
    return _frame(np.concatenate(X), np.concatenate(y), "spirals", "three interleaved spiral arms")


def _xor(n, noise, seed):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, size=(n or 1000, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    X = X + rng.normal(0.0, 0.05 if noise is None else noise, X.shape)
    return _frame(X, y, "xor", "the four-quadrant XOR pattern")


def _multilabel(n, noise, seed):
    X, Y = toys.make_multilabel(n or 2000, n_features=10, n_classes=5, n_labels=2, seed=seed)
    return _frame(X, Y, "multilabel", "synthetic: 10 count features, 5 labels")


def _sklearn_real(loader_name: str, description: str, label_map: bool = True):
    def load(n, noise, seed):
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, loader_name)()
        y = bunch.target
        if label_map and hasattr(bunch, "target_names"):
            y = np.asarray(bunch.target_names)[y]  # predictions come back as the real class names
        names = list(getattr(bunch, "feature_names", [])) or None
        data = _frame(np.asarray(bunch.data, dtype=np.float64), y, loader_name[5:], description)
        if names:
            data.X.columns = [str(c) for c in names]
        return data

    return load


BUILTINS: dict[str, Builtin] = {
    "circles": Builtin(_circles, "binary", "toy: two concentric circles (2 features)", True),
    "moons": Builtin(_moons, "binary", "toy: two interleaving half circles (2 features)", True),
    "xor": Builtin(_xor, "binary", "toy: XOR quadrants (2 features)", True),
    "blobs": Builtin(_blobs, "multiclass", "toy: 4 Gaussian clusters (2 features)", True),
    "spirals": Builtin(_spirals, "multiclass", "toy: 3 spiral arms (2 features)", True),
    "multilabel": Builtin(_multilabel, "multilabel", "toy: 5 labels from 10 count features", True),
    "iris": Builtin(_sklearn_real("load_iris", "iris flowers"), "multiclass", "real: 3 iris species", False),
    "wine": Builtin(_sklearn_real("load_wine", "wine cultivars"), "multiclass", "real: 3 wine cultivars", False),
    "breast_cancer": Builtin(_sklearn_real("load_breast_cancer", "breast cancer diagnosis"), "binary",
                             "real: malignant vs benign tumours", False),
    "digits": Builtin(_sklearn_real("load_digits", "8x8 handwritten digits", label_map=False), "multiclass",
                      "real: handwritten digits 0-9 (8x8 pixels)", False),
}


def list_datasets() -> pd.DataFrame:
    """One row per built-in dataset: name, task, rows, features, description (toys at default size)."""
    rows = []
    for name, spec in BUILTINS.items():
        data = spec.load(None, None, 0)
        rows.append({"name": name, "task": spec.task, "rows": len(data.X), "features": data.X.shape[1],
                     "description": spec.description})
    return pd.DataFrame(rows)


def load_data(source: str | Path | pd.DataFrame, target: str | None = None, *, n_samples: int | None = None,
              noise: float | None = None, seed: int = 0) -> Dataset:
    """Load a built-in dataset by name, a CSV/Parquet file by path, or a DataFrame with a target.

    target: required for files and frames: one column, a comma list of columns, or a glob ("mood_*").
    n_samples, noise, seed: size, difficulty and randomness of the toy generators.
    Raises DataError with a one-line fix for a missing file, unknown dataset or column.
    """
    if isinstance(source, pd.DataFrame):
        return split_target(source, target, name="dataframe")
    text = str(source)
    if text in BUILTINS:
        spec = BUILTINS[text]
        if not spec.toy and (n_samples is not None or noise is not None):
            raise DataError(f"{text!r} is a real dataset: --n-samples and --noise apply to toy generators only")
        return spec.load(n_samples, noise, seed)
    path = Path(text)
    if path.is_dir():
        if target:
            raise DataError(f"{path} is an image folder, whose classes are its subfolders: drop --target")
        return load_image_folder(path)
    if path.suffix.lower() not in TABLE_SUFFIXES and not path.exists():
        raise DataError(
            f"unknown dataset {text!r}: use one of {', '.join(BUILTINS)} (see `torchclassify datasets`), "
            "or a path to a .csv or .parquet file"
        )
    data = split_target(read_table(path), target, name=path.stem)
    column = image_column(data.X)
    if column is not None:  # a table of image paths: the images are the features, other columns are left out
        data.X = pd.DataFrame({column: resolve_paths(data.X[column], path.parent)}, index=data.X.index)
        data.image_column = column
        data.description = f"{len(data.X)} images listed in {path.name}"
    return data


def load_image_folder(folder: Path) -> Dataset:
    """An image folder: each subfolder a class, each image file in it a row (X: its path, y: the class)."""
    paths, labels, n_skipped = find_images(folder)
    skipped = f"; {n_skipped} file(s) that are not images skipped" if n_skipped else ""
    return Dataset(pd.DataFrame({IMAGE_COLUMN: paths}), pd.DataFrame({"label": labels}), folder.name,
                   f"{len(paths)} images in {len(set(labels))} class folders of {folder}{skipped}",
                   image_column=IMAGE_COLUMN)


def resolve_target(columns: list[str], target: str | None) -> list[str]:
    """Turn a --target spec into column names: "plan", "a,b,c" or a glob "mood_*".

    Raises DataError naming the columns that do exist when nothing matches.
    """
    if not target or not str(target).strip():
        raise DataError("--target is required for files: name the label column (or 'a,b,c' / 'mood_*' for multilabel)")
    spec = str(target).strip()
    if spec in columns:
        return [spec]
    wanted: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        if part in columns:
            matches = [part]
        elif any(ch in part for ch in "*?["):
            matches = [c for c in columns if fnmatch.fnmatchcase(c, part)]
        else:  # a header cell with spaces around the name ("y "): the spaces do not show in the file
            stripped = [c for c in columns if c.strip() == part]
            matches = stripped if len(stripped) == 1 else []
        if not matches:
            # (names with spaces around them quoted, so that the spaces show)
            shown = ", ".join(repr(c) if c != c.strip() else c for c in columns[:12]) + \
                (", ..." if len(columns) > 12 else "")
            near = [c for c in columns if c.strip().casefold() == part.casefold()]
            hint = f" (did you mean {near[0]!r}?)" if len(near) == 1 else ""
            raise DataError(f"target column {part!r} not found{hint}; the columns are: {shown}")
        wanted.extend(m for m in matches if m not in wanted)
    return wanted


def split_target(frame: pd.DataFrame, target: str | None, name: str, drop_unlabelled: bool = True) -> Dataset:
    """Separate the target column(s) from the features of a raw table; rows with no target are left out
    (`labelled_rows`) unless drop_unlabelled is False (a chunk of a file, which the caller counts)."""
    frame = frame.copy()
    frame.columns = [str(c) for c in frame.columns]
    duplicates = sorted(set(frame.columns[frame.columns.duplicated()]))
    if duplicates:  # pandas would return a frame for frame[name], which nothing downstream expects
        raise DataError(f"{name} has duplicate column names {duplicates[:5]}: give each column a unique name")
    columns = resolve_target(list(frame.columns), target)
    if frame.shape[1] == len(columns):
        raise DataError(f"{name} has no feature columns besides the target {columns}")
    frame = labelled_rows(frame, columns, name) if drop_unlabelled else frame
    return Dataset(frame.drop(columns=columns), frame[columns], name, f"{len(frame)} rows from {name}")


def labelled_rows(frame: pd.DataFrame, columns: list[str], name: str) -> pd.DataFrame:
    """The rows whose target is given (`unlabelled` warns of the others). The index is kept, so a row keeps its
    number in the data (inspect --row, the report's highest-loss rows); the target gets the type it would
    have had without the gaps (a 0/1 column read as floats for its blanks is 0/1 again)."""
    missing = unlabelled(frame[columns], name)
    return labelled_types(frame[~missing], columns) if missing.any() else frame


def labelled_types(frame: pd.DataFrame, columns) -> pd.DataFrame:
    """`frame` with each target column's gap-free type: whole floats as int64, objects inferred (bools)."""
    frame = frame.copy()
    for column in columns:
        values = frame[column]
        if pd.api.types.is_float_dtype(values) and np.isfinite(values).all() and (values == values.round()).all():
            frame[column] = values.astype(np.int64)
        elif values.dtype == object:
            frame[column] = values.infer_objects()
    return frame


def unlabelled(target: pd.DataFrame, name: str, warn: bool = True) -> np.ndarray:
    """(n,) bool: the rows whose target is missing or blank in any of its columns, with a warning that counts
    them (a row with no label can neither train nor be scored, and a real table often has a few). DataError
    when that is every row."""
    missing = unlabelled_mask(target)
    if warn or missing.all():
        say_unlabelled(int(missing.sum()), len(target), target.columns, name)
    return missing


def unlabelled_mask(target: pd.DataFrame) -> np.ndarray:
    """(n,) bool: rows whose target is missing (None, NaN) or blank text in any column."""
    missing = np.array(target.isna().to_numpy(dtype=bool))  # (a writable copy)
    for j, column in enumerate(target.columns):
        values = target[column]
        if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):  # text may be blank
            # Judged on the column's distinct values (a target has few), not by a Python call per row.
            blanks = [v for v in pd.unique(values) if isinstance(v, str) and not v.strip()]
            if blanks:
                missing[:, j] |= values.isin(blanks).to_numpy(dtype=bool)
    return missing.any(axis=1)


def say_unlabelled(n_missing: int, n_rows: int, columns, name: str) -> None:
    """Warn that n_missing of n_rows rows have no target in `columns` (nothing when none); DataError when no row has one."""
    columns = [str(c) for c in columns]
    names = ", ".join(columns[:3]) + (", ..." if len(columns) > 3 else "")
    if n_missing and n_missing == n_rows:
        raise DataError(f"no row of {name} has a value in {names} (the target): name the label column with --target")
    if n_missing:
        words = names if len(columns) == 1 else f"value in one of {names}"
        warnings.warn(f"{n_missing:,} of {n_rows:,} rows of {name} have no {words} (the target): they are left out "
                      "of training and evaluation", stacklevel=_outside_the_package())


def _outside_the_package() -> int:
    """The stacklevel of the first caller outside torchclassify, for a warning that points at the user's code."""
    package = str(Path(__file__).resolve().parents[1])
    frame, level = sys._getframe(2), 2  # (1: say_unlabelled itself)
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level
