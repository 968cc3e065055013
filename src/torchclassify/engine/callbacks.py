"""Callbacks: plain classes with no-op hooks that the loop calls at epoch boundaries.

Early stopping sets `state.should_stop` (never raises); progress printing lives here too.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class TrainState:
    """What callbacks may read (and, for should_stop, write) between epochs."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    n_epochs: int
    main_metric: str
    epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    should_stop: bool = False
    best_epoch: int | None = None
    stop_reason: str = ""
    scheduler: Any = None  # the LR schedule, if any (read by checkpoints)
    generator: torch.Generator | None = None  # the batch-order generator (read by checkpoints)
    training_path: str = "autograd"  # "hand-derived" or "autograd": which step function trains (loop.choose_step)
    callbacks: list = field(default_factory=list)  # every callback of the run (checkpoints save their state)
    loss_fn: Any = None  # the loss the run trains with (its class weights included)


class Callback:
    """Override any hook; each receives the TrainState."""

    def on_train_begin(self, state: TrainState) -> None: ...

    def on_epoch_end(self, state: TrainState) -> None: ...

    def on_train_end(self, state: TrainState) -> None: ...

    def on_train_abort(self, state: TrainState) -> None:
        """Training ended by an exception (Ctrl-C included), which propagates after this; nothing by default."""


class EarlyStopping(Callback):
    """Stop when `monitor` has not improved by min_delta for `patience` epochs; restore the best weights.

    monitor: a history key, "valid_loss" by default (smaller is better).
    """

    def __init__(self, patience: int = 20, monitor: str = "valid_loss", min_delta: float = 1e-4,
                 restore_best: bool = True):
        self.patience, self.monitor, self.min_delta, self.restore_best = patience, monitor, min_delta, restore_best
        self.best = math.inf
        self.best_state: dict[str, torch.Tensor] | None = None
        self.wait = 0

    def on_epoch_end(self, state: TrainState) -> None:
        value = state.history[-1][self.monitor]
        if value < self.best - self.min_delta:
            self.best, self.wait = value, 0
            state.best_epoch = state.epoch
            # Clone: the live parameters keep changing in place.
            self.best_state = {k: v.detach().clone() for k, v in state.model.state_dict().items()}
        else:
            self.wait += 1
            if self.wait >= self.patience:
                state.should_stop = True
                state.stop_reason = f"early stopping: {self.monitor} did not improve for {self.patience} epochs"

    def on_train_end(self, state: TrainState) -> None:
        if self.restore_best and self.best_state is not None:
            state.model.load_state_dict(self.best_state)

    def state_dict(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """(JSON-able counters, best weights) for checkpoints; without them a resumed run forgets its best."""
        return {"best": self.best, "wait": self.wait, "has_best": self.best_state is not None}, dict(self.best_state or {})

    def load_state_dict(self, plain: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        self.best, self.wait = float(plain["best"]), int(plain["wait"])
        self.best_state = {k: v.clone() for k, v in tensors.items()} if plain["has_best"] else None


class ProgressPrinter(Callback):
    """A live bar on a terminal, a plain line every ~10% of epochs when piped, nothing when quiet."""

    def __init__(self, mode: str = "auto", stream=None):
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "bar" if getattr(self.stream, "isatty", lambda: False)() else "lines"
        self.mode = mode
        self.progress = None

    def on_train_begin(self, state: TrainState) -> None:
        if self.mode == "bar":
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.table import Column

            def fixed():  # never squeezed: on a narrow terminal the metrics give way, not the counts and times
                return Column(no_wrap=True)

            self.progress = Progress(TextColumn("epoch", table_column=fixed()), MofNCompleteColumn(table_column=fixed()),
                                     BarColumn(bar_width=16, table_column=fixed()),
                                     TimeElapsedColumn(table_column=fixed()), TextColumn("eta", table_column=fixed()),
                                     TimeRemainingColumn(table_column=fixed()), _InfoColumn(table_column=Column(ratio=1)),
                                     console=Console(file=self.stream), transient=True)
            self.progress.start()
            self.bar = self.progress.add_task("train", total=state.n_epochs, info="")

    def on_epoch_end(self, state: TrainState) -> None:
        if self.mode == "quiet":
            return
        info = describe_epoch(state.history[-1], state.main_metric)
        if self.mode == "bar":
            self.progress.update(self.bar, completed=state.epoch, info=info)
            return
        every = max(1, state.n_epochs // 10)
        if state.epoch % every == 0 or state.epoch == 1 or state.should_stop or state.epoch == state.n_epochs:
            print(f"epoch {state.epoch:>4}/{state.n_epochs}  {info}", file=self.stream, flush=True)

    def on_train_abort(self, state: TrainState) -> None:
        if self.progress is not None:  # give the terminal its cursor back before the error is printed
            self.progress.stop()
            self.progress = None

    def on_train_end(self, state: TrainState) -> None:
        if self.progress is not None:
            self.progress.stop()
        if self.mode != "quiet":
            took = sum(record["seconds"] for record in state.history)  # the summary's train_seconds
            done = f"trained {state.epoch} epochs in {took:.1f}s"
            if state.stop_reason:
                done += f" ({state.stop_reason}; best epoch {state.best_epoch})"
            print(done, file=self.stream, flush=True)


def _InfoColumn(**kwargs):
    """The bar's last column: the epoch's losses and metric on one line, cut with '…' when the terminal is
    narrow (a plain TextColumn would wrap or squeeze the epoch count and the times)."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class InfoColumn(ProgressColumn):
        def render(self, task):
            return Text(task.fields.get("info", ""), no_wrap=True, overflow="ellipsis")

    return InfoColumn(**kwargs)


def describe_epoch(record: dict[str, Any], main_metric: str) -> str:
    parts = [f"train_loss {record['train_loss']:.4f}"]
    for key in ("valid_loss", f"valid_{main_metric}"):
        if key in record:
            parts.append(f"{key} {record[key]:.4f}")
    return "  ".join(parts)
