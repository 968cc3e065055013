"""Scaling out with torch.distributed: started by torchrun, one process per device, DistributedDataParallel.

`torchrun --nproc_per_node N -m torchclassify train ...` sets RANK, WORLD_SIZE, LOCAL_RANK and
MASTER_ADDR/PORT; `from_env` joins the process group (gloo on CPU, nccl on CUDA). Every rank draws the
same seeded permutation each epoch and trains on its share of every global batch, so a run on N
processes takes the same optimisation steps as a single-process run with the same batch size. Epoch
metrics are reduced across ranks (identical on all of them), early stopping stops all ranks together,
and only rank 0 writes. Without torchrun, `SingleProcess` stands in with no-op versions of the same calls.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import nn


class Processes(Protocol):
    """The processes training together: one (SingleProcess) or a torchrun job (Distributed)."""

    rank: int
    world_size: int

    def wrap(self, model: nn.Module) -> nn.Module: ...

    def shard(self, n_rows: int) -> slice: ...

    def min_rows_per_batch(self) -> int: ...

    def all_sum(self, values: torch.Tensor) -> torch.Tensor: ...

    def gather_rows(self, local: torch.Tensor, n_rows: int) -> torch.Tensor: ...

    def any(self, flag: bool) -> bool: ...

    def close(self) -> None: ...


@dataclass
class SingleProcess:
    """The default: one process, so sharding, reducing and gathering do nothing."""

    rank: int = 0
    world_size: int = 1

    def wrap(self, model: nn.Module) -> nn.Module:
        return model

    def shard(self, n_rows: int) -> slice:
        """This rank's contiguous share of a batch of n_rows (the whole batch for one process)."""
        return slice(0, n_rows)

    def min_rows_per_batch(self) -> int:
        """A batch smaller than this is dropped: every rank needs at least 2 rows (BatchNorm)."""
        return 2 * self.world_size

    def all_sum(self, values: torch.Tensor) -> torch.Tensor:
        return values

    def gather_rows(self, local: torch.Tensor, n_rows: int) -> torch.Tensor:
        return local

    def any(self, flag: bool) -> bool:
        return flag

    def close(self) -> None: ...


@dataclass
class Distributed:
    """One rank of a torchrun job; the process group is already initialised."""

    rank: int
    world_size: int
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    def min_rows_per_batch(self) -> int:
        """A batch smaller than this is dropped: every rank needs at least 2 rows (BatchNorm)."""
        return 2 * self.world_size

    def wrap(self, model: nn.Module) -> nn.Module:
        """DistributedDataParallel: gradients are averaged across ranks during backward."""
        from torch.nn.parallel import DistributedDataParallel

        if self.device.type == "cuda":
            return DistributedDataParallel(model, device_ids=[self.device.index], output_device=self.device.index)
        return DistributedDataParallel(model)

    def shard(self, n_rows: int) -> slice:
        # Contiguous chunks whose sizes differ by at most one row: rank r takes [r*n/W, (r+1)*n/W).
        return slice(self.rank * n_rows // self.world_size, (self.rank + 1) * n_rows // self.world_size)

    def all_sum(self, values: torch.Tensor) -> torch.Tensor:
        """Elementwise sum over ranks of a small tensor (one collective)."""
        import torch.distributed as dist

        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
        return values

    def gather_rows(self, local: torch.Tensor, n_rows: int) -> torch.Tensor:
        """Concatenate every rank's `shard(n_rows)` of a row-wise result: (n_local, ...) -> (n_rows, ...)."""
        import torch.distributed as dist

        sizes = [(r + 1) * n_rows // self.world_size - r * n_rows // self.world_size for r in range(self.world_size)]
        padded = local.new_zeros((max(sizes),) + tuple(local.shape[1:]))  # all_gather needs equal shapes
        padded[:local.shape[0]] = local
        parts = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(parts, padded)
        return torch.cat([part[:size] for part, size in zip(parts, sizes)])

    def any(self, flag: bool) -> bool:
        """True on every rank when it is True on any (so all ranks stop on the same epoch)."""
        return bool(self.all_sum(torch.tensor([float(flag)], device=self.device)).item() > 0)

    def close(self) -> None:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def launched_by_torchrun() -> bool:
    """Whether torchrun (or another launcher using its environment variables) started this process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def process_rank() -> int:
    """This process's rank under torchrun (0 when alone): decided before any process group exists."""
    return int(os.environ.get("RANK", "0")) if launched_by_torchrun() else 0


def from_env(device: torch.device) -> Processes:
    """Join the torchrun job described by the environment, or return SingleProcess when there is none.

    device: the resolved training device; on CUDA each rank takes GPU LOCAL_RANK and the nccl backend,
    on CPU the gloo backend. The returned object's `device` is the one this rank trains on.
    """
    if not launched_by_torchrun():
        return SingleProcess()
    import torch.distributed as dist

    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        device = torch.device("cpu")
        backend = "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=10))
    return Distributed(rank=rank, world_size=world_size, local_rank=local_rank, device=device)
