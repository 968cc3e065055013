"""Prepared rows as tensors: what the training loop walks through, in memory or a chunk at a time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Protocol

import torch


@dataclass
class TensorData:
    """Prepared rows on the training device: X (n, n_features) float32, y encoded for the task, and
    optionally w (n,) float32 sample weights (a row of weight 0 counts as absent)."""

    X: torch.Tensor
    y: torch.Tensor
    w: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.X.shape[0]


class ChunkedData(Protocol):
    """Training rows read a chunk at a time (a table larger than memory); see data.streamed.ParquetChunks.

    The loop visits every chunk once per epoch, in the order `chunks` draws from the epoch's generator,
    and shuffles the rows within each chunk; batches do not span chunks. Only y is held whole: labels are
    small next to the features (class weights and the split need them all).
    """

    y: torch.Tensor  # every training row's encoded target, (n,) or (n, L)
    device: torch.device  # where the chunks' tensors are put
    chunk_sizes: list[int]  # rows per chunk, in storage order (sum == len)

    def __len__(self) -> int: ...

    def chunks(self, generator: torch.Generator) -> Iterator[TensorData]:
        """Every chunk once, in a seeded random order, as TensorData on `device`."""
        ...


def data_device(data: "TensorData | ChunkedData") -> torch.device:
    """Where the rows' tensors live."""
    return data.X.device if isinstance(data, TensorData) else data.device


def epoch_parts(data: "TensorData | ChunkedData", generator: torch.Generator) -> Iterator[TensorData]:
    """What one epoch walks through: the in-memory rows as one part, or a stream's chunks."""
    if isinstance(data, TensorData):
        yield data
    else:
        yield from data.chunks(generator)
