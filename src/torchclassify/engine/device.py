"""Devices, threads, mixed precision and seeding: where and how fast the arithmetic runs.

"auto" picks CUDA when present. Mixed precision wraps only the forward pass (the loss and the optimizer
stay in float32); fp16 needs a GradScaler, bf16 does not.
"""

from __future__ import annotations

import contextlib
import math
import os
import time

import torch
from torch import nn

from ..errors import ConfigError

# Below this many multiply-adds per training step a second thread costs more in hand-off than it saves
# (measured in benchmarks/: the 2->10->10->1 circles net at batch 64 is pure per-op overhead).
_THREADS_MIN_MACS = 2_000_000


def resolve_device(name: str) -> torch.device:
    """"auto" -> cuda when available, else cpu; an unavailable explicit device is a ConfigError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but no CUDA GPU is available: use --device cpu or auto")
    if name == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ConfigError("--device mps was asked for but MPS is not available: use --device cpu or auto")
    return torch.device(name)


@contextlib.contextmanager
def seeded_torch(seed: int, device: torch.device):
    """Run the block with torch's global generator (CPU, and `device`'s when it is a GPU) seeded with `seed`,
    then give the caller's generator states back.

    Weight initialisation and dropout draw from torch's global stream, so seeding it makes a run repeat;
    forking it keeps a library call (an estimator's fit in someone's notebook) from resetting the caller's
    random state. NumPy's and Python's global generators are never touched: training draws nothing from them.
    """
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def choose_threads(requested: int | None, n_parameters: int, batch_size: int) -> int | None:
    """How many CPU threads to train with; None leaves torch's choice alone.

    requested: the user's --threads (always wins). Otherwise an OMP_NUM_THREADS the user (or torchrun)
    set is respected, tiny models (fewer than ~2M multiply-adds per step) get one thread, and larger ones
    get the cores this process may run on (its affinity) that other processes are not already keeping busy
    (free_cpus). Why: torch's default is every core of the machine, idle or not; on a busy machine its
    threads then wait for each other at every operation (docs/benchmarks.md, "Threads").
    """
    if requested is not None:
        return requested
    if "OMP_NUM_THREADS" in os.environ:
        return None
    if n_parameters * max(batch_size, 1) < _THREADS_MIN_MACS:
        return 1
    return max(1, min(torch.get_num_threads(), free_cpus()))


def free_cpus(load: float | None = None, own: float | None = None) -> int:
    """The CPUs of this process's affinity less the load the others put on them (at least 1).

    load: the run queue's length, os.getloadavg's 1-minute figure by default (it counts runnable threads
    machine-wide, this process's among them). own: this process's share of it, own_load() by default: a
    loop of fits (cross-validation) would otherwise read its own earlier fits as someone else's work.
    """
    n_cpus = allowed_cpus()
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):  # (no load average on this platform)
            load = 0.0
    others = max(0.0, load - (own_load() if own is None else own))
    return max(1, min(n_cpus, int(n_cpus - others + 0.5)))


def allowed_cpus() -> int:
    """The CPUs this process may run on (its affinity: taskset, a cgroup's cpuset), not the machine's."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


_CLOCKS_AT_IMPORT = (time.monotonic(), os.times())


def own_load(clocks: tuple | None = None) -> float:
    """About what this process adds to the 1-minute load average: its CPU seconds per second since this
    module was imported, damped as the kernel damps the average (exp(-t / 60): a process that just started
    has hardly moved it yet)."""
    started, times = clocks or _CLOCKS_AT_IMPORT
    wall = time.monotonic() - started
    if wall <= 0:
        return 0.0
    now = os.times()
    busy = (now.user - times.user + now.system - times.system) / wall  # mean threads running
    return busy * (1.0 - math.exp(-wall / 60.0))


@contextlib.contextmanager
def cpu_threads(n_threads: int | None):
    """Run the block with torch.set_num_threads(n_threads), then restore the caller's setting."""
    before = torch.get_num_threads()
    if n_threads is not None and n_threads != before:
        torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def check_amp(amp: str, device: torch.device) -> None:
    """fp16 autocast is a CUDA feature here; bf16 works on CPU and on GPUs that support it."""
    if amp == "fp16" and device.type != "cuda":
        raise ConfigError("--amp fp16 needs --device cuda; on CPU use --amp bf16 (or none)")
    if amp == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError("--amp bf16 is not supported by this GPU: use --amp fp16")


class AutocastForward(nn.Module):
    """Runs the wrapped model's forward under autocast and hands back float32 logits.

    Only the forward pass runs in low precision: the loss is computed in float32 from the returned logits
    and the backward pass runs outside autocast, as the PyTorch AMP recipe asks. Shares the parameters.
    """

    def __init__(self, model: nn.Module, device_type: str, dtype: torch.dtype):
        super().__init__()
        self.model, self.device_type, self.dtype = model, device_type, dtype

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        with torch.autocast(self.device_type, dtype=self.dtype):
            logits = self.model(X)
        return logits.float()  # (n, n_outputs) float32 whatever the autocast dtype


def make_training_forward(model: nn.Module, amp: str, compile: bool, device: torch.device, wrap=None):
    """The module train_step calls (sharing `model`'s parameters) and the fp16 GradScaler, or None.

    Order: autocast wrapper, then `wrap` (DistributedDataParallel), then torch.compile, as the DDP and
    compile guides recommend. Evaluation uses the plain `model` in float32, so state_dict keys stay its own.
    """
    forward, scaler = model, None
    if amp != "none":
        check_amp(amp, device)
        forward = AutocastForward(model, device.type, torch.bfloat16 if amp == "bf16" else torch.float16)
        if amp == "fp16":
            scaler = torch.amp.GradScaler(device.type)
    if wrap is not None:
        forward = wrap(forward)
    if compile:
        forward = torch.compile(forward)
    return forward, scaler
