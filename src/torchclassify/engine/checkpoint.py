"""Checkpoints that let a killed run resume bit-identically, and a watch for exploding gradients.

A checkpoint is ONE safetensors file, replaced atomically: every tensor (weights, optimizer state, early
stopping's best weights, the torch and batch-order RNG states) as a tensor, everything else (epoch, history,
scheduler and optimizer settings, early stopping's counters, the run's config) as JSON in its metadata.
Nothing is pickled, so reading a checkpoint can never run code. (Training draws no random numbers from
NumPy's or Python's global generators, so those are neither seeded nor saved.)
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError, ModelFileError
from ..files import atomic_write, read_safetensors_header
from .callbacks import Callback, TrainState
from .device import allowed_cpus
from .optim import dynamo_unimported

CHECKPOINT = "checkpoint.safetensors"
META_KEY = "torchclassify_checkpoint"
CHECKPOINT_VERSION = 1


AUTO_CHECKPOINT_SECONDS = 10.0


class SaveCheckpoints(Callback):
    """Write `folder/checkpoint.safetensors` after every `every` epochs (and the last one), atomically.

    every=None (the default) checkpoints after the first epoch, then whenever AUTO_CHECKPOINT_SECONDS of
    training have passed since the last one: a crash loses at most ~10 s of work, while a run of many
    short epochs does not spend more time writing checkpoints than training.

    The run's callbacks with state_dict()/load_state_dict() (early stopping) are saved with it.
    config: the run's settings as a dict, stored so that `--resume` needs nothing else.
    """

    def __init__(self, folder: Path, every: int | None = None, config: dict | None = None):
        if every is not None and (not isinstance(every, int) or isinstance(every, bool) or every < 1):
            raise ConfigError(f"--checkpoint-every must be a whole number >= 1, got {every!r}")
        self.folder, self.every, self.config = Path(folder), every, config or {}
        self.saved_epoch: int | None = None
        self.saved_at = time.monotonic()
        self.state: TrainState | None = None  # kept so that an interrupted run can report its best epoch

    def on_train_begin(self, state: TrainState) -> None:
        self.state = state
        if state.epoch:  # resumed: the checkpoint we started from counts as saved
            self.saved_epoch = state.epoch

    def _due(self, state: TrainState) -> bool:
        if state.epoch == state.n_epochs or state.should_stop:
            return True
        if self.every is not None:
            return state.epoch % self.every == 0
        return self.saved_epoch is None or time.monotonic() - self.saved_at >= AUTO_CHECKPOINT_SECONDS

    def on_epoch_end(self, state: TrainState) -> None:
        if self._due(state):
            if not all(bool(torch.isfinite(p).all()) for p in state.model.parameters()):
                return  # NaN/inf weights: keep the last good checkpoint (the next epoch's loss check stops the run)
            save_checkpoint(self.folder / CHECKPOINT, state, stateful(state), self.config)
            self.saved_epoch, self.saved_at = state.epoch, time.monotonic()


def _callback_key(callback: Callback) -> str:
    return type(callback).__name__


def stateful(state: TrainState) -> list[Callback]:
    """The run's callbacks whose state a checkpoint carries (those with state_dict and load_state_dict)."""
    return [c for c in state.callbacks if hasattr(c, "state_dict") and hasattr(c, "load_state_dict")]


def save_checkpoint(path: Path, state: TrainState, callbacks: list[Callback], config: dict) -> None:
    """Everything needed to continue after state.epoch, written to a temporary file then renamed over path."""
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}

    def put(name: str, value: torch.Tensor) -> None:
        # safetensors refuses shared or non-contiguous storage: store an independent CPU copy.
        tensors[name] = value.detach().to("cpu", copy=True).contiguous()

    for key, value in state.model.state_dict().items():
        put(f"model/{key}", value)
    with dynamo_unimported():
        optim = state.optimizer.state_dict()
    optim_json: dict[str, Any] = {"param_groups": optim["param_groups"], "state": {}}
    for index, entry in optim["state"].items():
        plain = {}
        for name, value in entry.items():
            if isinstance(value, torch.Tensor):
                put(f"optim/{index}/{name}", value)
            else:
                plain[name] = value
        optim_json["state"][str(index)] = plain
    callbacks_json = {}
    for callback in callbacks:
        if hasattr(callback, "state_dict"):
            plain, cb_tensors = callback.state_dict()
            callbacks_json[_callback_key(callback)] = plain
            for key, value in cb_tensors.items():
                put(f"callback/{_callback_key(callback)}/{key}", value)
    if state.generator is not None:
        put("rng/generator", state.generator.get_state())
    put("rng/torch", torch.get_rng_state())
    meta = {
        "version": CHECKPOINT_VERSION,
        "epoch": state.epoch,
        "n_epochs": state.n_epochs,
        "history": state.history,
        "best_epoch": state.best_epoch,
        "should_stop": state.should_stop,
        "stop_reason": state.stop_reason,
        "optimizer": optim_json,
        "scheduler": state.scheduler.state_dict() if state.scheduler is not None else None,
        "callbacks": callbacks_json,
        "config": config,
        # A CPU reduction splits its work by thread count: resuming with another count (chosen from the load
        # of the moment) would not be bit-identical.
        "threads": torch.get_num_threads() if _on_cpu(state.model) else None,
    }
    # json keeps floats exact (shortest round-trip repr); inf (ReduceLROnPlateau) is written as Infinity.
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata={META_KEY: json.dumps(meta)}))


def read_checkpoint(path: Path) -> dict:
    """Parse a checkpoint: returns {"meta": dict, "tensors": {name: tensor}}; ModelFileError if unusable.

    The header is checked against the file size before any tensor is read (files.read_safetensors_header).
    """
    from safetensors import safe_open

    path = Path(path)
    read_safetensors_header(path, ModelFileError)
    try:
        with safe_open(str(path), framework="pt") as handle:
            raw = (handle.metadata() or {}).get(META_KEY)
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
        meta = json.loads(raw) if raw is not None else None
    except Exception as err:  # safetensors raises its own types on a corrupt file
        raise ModelFileError(f"{path} is not a readable checkpoint ({type(err).__name__}): start the run again "
                             "with --overwrite") from None
    if not isinstance(meta, dict) or meta.get("version") != CHECKPOINT_VERSION or not isinstance(meta.get("epoch"), int):
        raise ModelFileError(f"{path} is not a torchclassify checkpoint of version {CHECKPOINT_VERSION}: start the "
                             "run again with --overwrite")
    return {"meta": meta, "tensors": tensors}


def checkpoint_epoch(path: Path) -> int | None:
    """The epoch a checkpoint file was written after, or None when there is none (cheap: header only)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return int(json.loads(handle.metadata()[META_KEY])["epoch"])
    except Exception:
        return None


class ResumeFrom(Callback):
    """Puts a checkpoint back when training begins: weights, optimizer, schedule, RNGs, history and the
    state of the other callbacks (early stopping's counter and best weights), as after that epoch.

    Place it first among the callbacks: the loop then starts at the epoch after the checkpoint's (none when
    training had already stopped). ModelFileError when the checkpoint does not fit this run.
    """

    def __init__(self, checkpoint: dict):
        self.checkpoint = checkpoint

    def on_train_begin(self, state: TrainState) -> None:
        restore_checkpoint(self.checkpoint, state, stateful(state))

    @property
    def threads(self) -> int | None:
        """The CPU threads the interrupted run trained with. None (the usual choice) in checkpoints from before
        they were kept or from a GPU run, under an OMP_NUM_THREADS the user set now, and where this process
        may use fewer CPUs (bit-identity is then not worth oversubscribing them)."""
        threads = self.checkpoint["meta"].get("threads")
        if not isinstance(threads, int) or isinstance(threads, bool) or "OMP_NUM_THREADS" in os.environ:
            return None
        return threads if 1 <= threads <= allowed_cpus() else None


def resumed_threads(callbacks) -> int | None:
    """The thread count of the checkpoint a ResumeFrom among `callbacks` continues; None when there is none."""
    return next((c.threads for c in callbacks if isinstance(c, ResumeFrom)), None)


def _on_cpu(model: torch.nn.Module) -> bool:
    return all(p.device.type == "cpu" for p in model.parameters())


def restore_checkpoint(checkpoint: dict, state: TrainState, callbacks: list[Callback]) -> None:
    """Put the model, optimizer, scheduler, RNGs, history and callbacks back as they were after its epoch."""
    meta, tensors = checkpoint["meta"], checkpoint["tensors"]
    device = next(iter(state.model.state_dict().values()), torch.empty(0)).device

    def group(prefix: str) -> dict[str, torch.Tensor]:
        return {name[len(prefix):]: value for name, value in tensors.items() if name.startswith(prefix)}

    try:
        state.model.load_state_dict({k: v.to(device) for k, v in group("model/").items()}, strict=True)
        optim_state: dict[int, dict] = {int(i): dict(plain) for i, plain in meta["optimizer"]["state"].items()}
        for name, value in group("optim/").items():
            index, key = name.split("/", 1)
            optim_state.setdefault(int(index), {})[key] = value
        with dynamo_unimported():
            state.optimizer.load_state_dict({"state": optim_state, "param_groups": meta["optimizer"]["param_groups"]})
        if state.scheduler is not None:
            state.scheduler.load_state_dict(meta["scheduler"])
        for callback in callbacks:
            key = _callback_key(callback)
            if hasattr(callback, "load_state_dict") and key in meta["callbacks"]:
                callback.load_state_dict(meta["callbacks"][key], group(f"callback/{key}/"))
        if state.generator is not None:
            state.generator.set_state(tensors["rng/generator"])
        torch.set_rng_state(tensors["rng/torch"])
    except (KeyError, ValueError, TypeError, RuntimeError) as err:
        raise ModelFileError(f"the checkpoint does not match this run ({type(err).__name__}: {_one_line(err)}): "
                             "start the run again with --overwrite") from None
    state.history = list(meta["history"])
    state.epoch, state.best_epoch = meta["epoch"], meta["best_epoch"]
    state.should_stop, state.stop_reason = bool(meta["should_stop"]), meta["stop_reason"]


def _one_line(err: BaseException, limit: int = 600) -> str:
    """An exception's message on one line, whole clauses only: load_state_dict's "size mismatch for
    layers.0.weight: copying a param with shape torch.Size([8, 3]) ..." is never cut mid-shape."""
    clauses = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = ""
    for clause in clauses:
        joined = f"{text}; {clause}" if text else clause
        if len(joined) > limit:
            return (text or clause[:limit]) + f"; ... ({len(clauses)} lines in all)"
        text = joined
    return text or type(err).__name__


class GradientWatch(Callback):
    """Warn once when the gradient norm (of each epoch's last batch) explodes: large or not finite.

    Reads the .grad left by the last optimizer step, so it costs one norm per epoch and no change to the loop.
    """

    def __init__(self, limit: float = 1e3, stream=None):
        self.limit, self.stream, self.warned = limit, stream or sys.stderr, False
        self.max_norm = 0.0

    def on_epoch_end(self, state: TrainState) -> None:
        grads = [p.grad for p in state.model.parameters() if p.grad is not None]
        if not grads:
            return
        norm = float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))
        self.max_norm = max(self.max_norm, norm) if norm == norm else float("inf")
        if not self.warned and not (norm <= self.limit):
            self.warned = True
            print(f"warning: exploding gradients at epoch {state.epoch} (gradient norm {norm:.3g}): lower --lr or "
                  "add --clip-grad-norm 1.0", file=self.stream, flush=True)
