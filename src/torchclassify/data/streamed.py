"""A Parquet file larger than memory, prepared for training: `--stream`.

Only the targets of every row are held; features are read a chunk of row groups at a time (data/stream.py).
Three parts need rows in memory, so they take seeded random samples of bounded size instead: the
preprocessing is fitted on PREPROCESS_ROWS training rows, early stopping scores VALID_ROWS validation rows,
and the report draws PICTURE_ROWS rows of each split. The final metrics cover every row, a chunk at a time.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..config import RunConfig
from ..errors import DataError
from .prepared import PreparedData, fit_preprocessor
from .preprocess import Preprocessor
from .sources import Dataset, labelled_types, unlabelled
from .split import split_targets
from .stream import ParquetTable, plan_chunks, sample_rows
from .tensors import TensorData

PREPROCESS_ROWS = 100_000  # training rows the preprocessing (medians, scales, categories) is fitted on
VALID_ROWS = 50_000  # validation rows scored after each epoch (early stopping); final metrics use them all
PICTURE_ROWS = 10_000  # rows per split the report and `torchclassify plot` draw


@dataclass
class StreamedData(PreparedData):
    """A streamed Parquet file after the split: labels of every row, preprocessing fitted on a train sample."""

    table: ParquetTable | None = None
    n_preprocess_rows: int = 0
    valid_rows: np.ndarray | None = None  # the validation rows scored after each epoch (at most VALID_ROWS)
    valid_X: pd.DataFrame | None = None  # their raw features
    seed: int = 0

    def training_data(self, device, dtype, seed) -> "ParquetChunks":
        train = self.splits["train"]
        return ParquetChunks(self.table, train, self.targets(train, device, dtype), self.preprocessor, device, seed)

    def validation_data(self, device, dtype) -> TensorData | None:
        if not len(self.splits["valid"]):
            return None
        X = torch.from_numpy(self.preprocessor.transform(self.valid_X)).to(device)
        return TensorData(X, self.targets(self.valid_rows, device, dtype))

    def training_sample(self, max_rows, seed):
        rows = sample_rows(self.splits["train"], max_rows, (seed, 4))
        return self.preprocessor.transform(self.table.read_rows(rows))

    def iter_features(self, names):
        rows = np.sort(np.concatenate([self.splits[name] for name in names]))
        for _, part, frame in self.table.iter_rows(rows):
            yield rows[part], self.preprocessor.transform(frame)

    def picture_rows(self):
        dataset, splits = sample_streamed_rows(self.table, self.y, self.splits, self.seed)
        return dataset, splits, (f"the run streamed its rows from {self.table.name}, so the pictures draw a seeded "
                                 f"sample of at most {PICTURE_ROWS:,} rows of each split")

    def describe(self) -> dict:
        n_valid = len(self.valid_rows) if self.valid_rows is not None and len(self.splits["valid"]) else 0
        n_chunks = len(ParquetChunks.plan(self.table, self.splits["train"], self.seed)[0])
        n_unlabelled = self.n_rows - sum(len(rows) for rows in self.splits.values())  # (in no split: no label)
        return {"stream": {"chunk_rows": self.table.chunk_rows, "n_chunks": n_chunks,
                           "preprocess_rows": self.n_preprocess_rows, "valid_rows_per_epoch": n_valid},
                **({"unlabelled_rows": n_unlabelled} if n_unlabelled else {})}


def prepare_stream(config: RunConfig) -> StreamedData:
    """Read the targets of every row, split as in memory, and fit the preprocessing on training rows only.

    The split is the one an in-memory run makes of the same file and seed (both go through split_targets).
    The preprocessing is fitted on a seeded random sample of at most PREPROCESS_ROWS training rows (all of
    them when there are fewer), read chunk by chunk keeping only the sampled rows: medians, means, scales
    and the most frequent categories are estimated well from 100,000 rows, and the sample bounds memory.
    The same pass over the file reads the validation sample (at most VALID_ROWS rows) early stopping scores.
    """
    d, seed = config.data, config.train.seed
    table = ParquetTable(d.source, d.target, d.chunk_rows)
    y = table.read_targets()
    task_name, labels, codes, splits = split_labelled_rows(y, config, table.name)
    fit_rows = sample_rows(splits["train"], PREPROCESS_ROWS, (seed, 1))
    valid_rows = sample_rows(splits["valid"], VALID_ROWS, (seed, 2))
    rows = np.union1d(fit_rows, valid_rows)  # disjoint splits: one pass reads both samples
    raw = table.read_rows(rows)
    preprocessor = fit_preprocessor(raw.iloc[np.searchsorted(rows, fit_rows)].reset_index(drop=True), config,
                                    y.columns, len(splits["train"]))
    valid_X = raw.iloc[np.searchsorted(rows, valid_rows)].reset_index(drop=True)
    return StreamedData(table.name, len(table.feature_columns), task_name, labels, codes, y, splits, preprocessor,
                        table=table, n_preprocess_rows=len(fit_rows), valid_rows=valid_rows, valid_X=valid_X,
                        seed=seed)


class ParquetChunks:
    """The training rows of a streamed file as the engine's ChunkedData (data.tensors).

    The chunks are a seeded partition of the file's row groups: the groups holding training rows, in a
    random order, packed into chunks of at most the table's chunk_rows rows (a larger group is a chunk
    alone). So every chunk mixes row groups from all over the file, and a file sorted by its target still
    gives chunks of every class. The partition is fixed for the run (fixed chunk sizes, so the step count of
    an epoch is exact for schedules, and a resumed run reads the same chunks); the engine visits the chunks
    in a new seeded order each epoch and shuffles the rows within each. A chunk is one read of its row
    groups, keeps its training rows, and is preprocessed and moved to `device` just before the loop needs
    it. A chunk holding fewer than 2 training rows is joined to the one before it (a 1-row batch cannot
    train BatchNorm), still one read per chunk. No background prefetch: pandas and the preprocessing hold
    the GIL, and a thread preparing the next chunk measured slower (docs/benchmarks.md).
    """

    def __init__(self, table: ParquetTable, rows: np.ndarray, y: torch.Tensor, preprocessor: Preprocessor,
                 device: torch.device, seed: int = 0):
        self.table, self.rows, self.preprocessor, self.device = table, np.asarray(rows, np.int64), preprocessor, device
        self.y = y  # (n,) or (n, L) encoded targets of `rows` (sorted), on device
        self.parts, self._bounds = self.plan(table, self.rows, seed)
        counts = np.diff(self._bounds)
        self._group_rows = group_rows = np.diff(table.group_starts)
        self.chunk_sizes = [int(counts[part].sum()) for part in self.parts]
        typical_group = int(np.median(group_rows)) if len(group_rows) else 0
        if len(self.parts) > 1 and typical_group * 4 > table.chunk_rows:
            warnings.warn(f"{table.name}'s row groups hold ~{typical_group:,} rows, so a chunk of at most "
                          f"{table.chunk_rows:,} rows has fewer than 4 of them and rows mix little between "
                          "chunks: rewrite the file with smaller row groups (row_group_size=16384) or raise "
                          "--chunk-rows", stacklevel=2)

    @staticmethod
    def plan(table: ParquetTable, rows: np.ndarray, seed: int) -> tuple[list[list[int]], np.ndarray]:
        """(the row groups of each chunk, in file order; bounds: rows[bounds[g]:bounds[g + 1]] lie in group g)."""
        bounds = np.searchsorted(np.asarray(rows, np.int64), table.group_starts)
        counts = np.diff(bounds)
        group_rows = np.diff(table.group_starts)
        shuffled = np.random.default_rng((seed, 4)).permutation(np.flatnonzero(counts))
        parts: list[list[int]] = []
        for packed in plan_chunks(group_rows[shuffled].tolist(), table.chunk_rows):
            groups = sorted(shuffled[packed].tolist())
            if parts and (counts[groups].sum() < 2 or counts[parts[-1]].sum() < 2):
                parts[-1] = sorted(parts[-1] + groups)
            else:
                parts.append(groups)
        return parts, bounds

    def __len__(self) -> int:
        return len(self.rows)

    def chunks(self, generator: torch.Generator):
        """Every chunk once, in an order drawn from `generator`, as TensorData on `device`."""
        for i in torch.randperm(len(self.parts), generator=generator).tolist():
            yield self._load(i)

    def _load(self, i: int) -> TensorData:
        """Training chunk i: its rows read, preprocessed and put on the device."""
        groups = self.parts[i]
        # Positions of the training rows among the groups' rows laid end to end, and their places in `rows`.
        ranges = [np.arange(self._bounds[g], self._bounds[g + 1]) for g in groups]
        offsets = np.concatenate([[0], np.cumsum(self._group_rows[groups])])
        take = np.concatenate([self.rows[r] - self.table.group_starts[g] + offset
                               for r, g, offset in zip(ranges, groups, offsets)])
        frame = self.table.read_groups(groups, take)
        X = torch.from_numpy(self.preprocessor.transform(frame)).to(self.device)  # (n_chunk, n_inputs)
        index = torch.from_numpy(np.concatenate(ranges)).to(self.y.device)
        return TensorData(X, self.y[index])


def sample_streamed_rows(table: ParquetTable, y: pd.DataFrame, splits: dict, seed: int,
                         max_rows: int = PICTURE_ROWS) -> tuple[Dataset, dict[str, np.ndarray]]:
    """A bounded picture of a streamed run's rows: (Dataset of the sampled rows, splits indexing into it).

    Up to max_rows seeded random rows of each split, read chunk by chunk.
    """
    picked = {name: sample_rows(idx, max_rows, (seed, 3)) for name, idx in splits.items()}
    rows = np.unique(np.concatenate(list(picked.values())))
    dataset = Dataset(table.read_rows(rows), y.iloc[rows].reset_index(drop=True), table.name,
                      f"a sample of {len(rows)} of {table.n_rows} rows from {table.name}")
    return dataset, {name: np.searchsorted(rows, idx) for name, idx in picked.items()}


def rebuild_streamed_rows(config: RunConfig, n_rows: int | None) -> tuple[Dataset, dict[str, np.ndarray]]:
    """The picture sample of a finished streamed run, from its config (the split redone from the targets).

    n_rows: the rows the run trained on; DataError when the file now holds another number.
    """
    table = ParquetTable(config.data.source, config.data.target, config.data.chunk_rows)
    if n_rows is not None and table.n_rows != n_rows:
        raise DataError(f"{config.data.source} now has {table.n_rows} rows but the run trained on {n_rows}")
    y = table.read_targets()
    splits = split_labelled_rows(y, config, table.name, warn=False)[3]
    return sample_streamed_rows(table, y, splits, config.train.seed)


def split_labelled_rows(y: pd.DataFrame, config: RunConfig, name: str, warn: bool = True):
    """split_targets over the rows of a file that have a target (sources.unlabelled warns of the others).

    Returns what split_targets does, with codes for every row of the file (0 where a row has no label: no split
    holds it) and splits as the file's row numbers: the rows an in-memory run of the same file and seed takes.
    """
    missing = unlabelled(y, name, warn)
    if not missing.any():
        return split_targets(y, config)
    kept = np.flatnonzero(~missing)
    task_name, labels, codes, splits = split_targets(labelled_types(y.iloc[kept].reset_index(drop=True), y.columns),
                                                     config)
    every = np.zeros((len(y), *codes.shape[1:]), dtype=codes.dtype)
    every[kept] = codes
    return task_name, labels, every, {split: kept[rows] for split, rows in splits.items()}
