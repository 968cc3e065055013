"""From a run's data settings to prepared rows: load, split and fit the preprocessing (in memory or streamed),
and, for a finished run, the same rows again for its pictures."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import RunConfig, make_config
from ..errors import ConfigError
from ..settings import IN_MEMORY_SOURCES
from .prepared import InMemoryData, PreparedData, prepare_in_memory
from .sources import Dataset, load_data
from .split import split_targets
from .streamed import PICTURE_ROWS, prepare_stream, rebuild_streamed_rows
from .tables import is_pipe


def load_dataset(config: RunConfig, data: pd.DataFrame | Dataset | None = None) -> Dataset:
    """The raw rows a run trains on: `data` when given (a DataFrame with config.data.target, or a Dataset),
    else config.data.source (a built-in dataset or a file)."""
    d = config.data
    if isinstance(data, pd.DataFrame):
        return load_data(data, d.target)
    if isinstance(data, Dataset):
        return data
    return load_data(d.source, d.target, n_samples=d.n_samples, noise=d.noise, seed=config.train.seed)


def check_data(config: RunConfig, data: pd.DataFrame | Dataset | None = None):
    """Read the rows and targets once and check them (missing file, unknown target, one class, a task that
    does not fit), so that bad input is one line before a study, folder or comparison starts. Returns the
    labels' LabelEncoding; None for a streamed source (its Parquet file is opened and checked instead)."""
    if config.data.stream:
        from .stream import ParquetTable

        ParquetTable(config.data.source, config.data.target, config.data.chunk_rows)
        return None
    return split_targets(load_dataset(config, data).y, make_config(config))[1]


def prepare(config: RunConfig, data: pd.DataFrame | Dataset | None = None) -> PreparedData:
    """The run's rows split and preprocessed: a Parquet file read a chunk at a time with config.data.stream,
    otherwise the whole table in memory."""
    if config.data.stream:
        if data is not None:
            raise ConfigError("stream=True reads a Parquet file by path: pass data='file.parquet', not a table")
        return prepare_stream(config)
    return prepare_in_memory(load_dataset(config, data), config)


def rebuild_rows(config: RunConfig, summary: dict) -> tuple[Dataset, dict[str, np.ndarray], str]:
    """A finished run's raw rows and split, rebuilt from its settings for pictures: (Dataset, splits, note).

    summary: the run's summary (n_rows, dataset): the rows must be the ones trained on. Raises DataError or
    ConfigError, with the reason, when they cannot be rebuilt (a file edited since, an in-memory table).
    """
    d = config.data
    if d.source in IN_MEMORY_SOURCES:
        raise ConfigError("the run was trained on an in-memory DataFrame, which the run folder does not store")
    if is_pipe(d.source):  # read once when the run trained; reading it again would wait for a writer forever
        raise ConfigError(f"the run read its rows from the pipe {d.source}, which cannot be read again")
    if d.stream:  # a file larger than memory: a seeded sample of each split's rows
        dataset, splits = rebuild_streamed_rows(config, summary.get("n_rows"))
        return dataset, splits, (f"the run streamed its rows from {d.source}, so the pictures draw a seeded "
                                 f"sample of at most {PICTURE_ROWS:,} rows of each split")
    dataset = load_dataset(config)
    expected_rows, expected_name = summary.get("n_rows"), summary.get("dataset")
    if expected_name is not None and dataset.name != expected_name:
        raise ConfigError(f"the run trained on {expected_name!r}, which config.json's source {d.source!r} does "
                          "not rebuild")
    if expected_rows is not None and len(dataset.X) != expected_rows:
        raise ConfigError(f"{d.source} now has {len(dataset.X)} rows but the run trained on {expected_rows}")
    splits = split_targets(dataset.y, config)[3]
    return dataset, splits, ""


__all__ = ["InMemoryData", "PreparedData", "load_dataset", "prepare", "rebuild_rows"]
