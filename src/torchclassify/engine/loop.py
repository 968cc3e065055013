"""The training loop: the seed's five steps in `train_step`, wrapped by epochs, validation and callbacks."""

from __future__ import annotations

import contextlib
import math
import time
from typing import Callable

import torch
from torch import nn

from ..config import TrainConfig
from ..data.tensors import ChunkedData, TensorData, data_device, epoch_parts
from ..errors import TrainingError
from ..tasks import Task, metric_from_counts
from .callbacks import Callback, TrainState
from .checkpoint import resumed_threads
from .device import choose_threads, cpu_threads, make_training_forward
from .distributed import Processes, SingleProcess
from .inference import predict_logits
from .manual_backward import ManualBackwardMLP
from .optim import direct_step, dynamo_unimported, make_optimizer, make_scheduler

# Training features past this size are gathered a batch at a time rather than permuted whole each epoch.
GATHER_PER_BATCH_BYTES = 16 * 2**20


def train_step(model: nn.Module, loss_fn: nn.Module, optimizer: torch.optim.Optimizer,
               X_batch: torch.Tensor, y_batch: torch.Tensor, clip_grad_norm: float | None = None,
               scaler: torch.amp.GradScaler | None = None,
               w_batch: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimisation step on a batch; returns (batch loss 0-d, logits (b, n_outputs)), detached, no host sync.

    scaler: fp16 mixed precision only; it scales the loss so that small gradients do not underflow.
    w_batch: (b,) sample weights, when the rows have them.
    """
    # 1. Forward pass: features (b, n_features) -> logits (b, n_outputs).
    logits = model(X_batch)
    # 2. Loss: the task's criterion (BCEWithLogits or CrossEntropy) against the batch targets.
    loss = loss_fn(logits, y_batch) if w_batch is None else weighted_loss(loss_fn, logits, y_batch, w_batch)
    # 3. Zero the gradients left by the previous step (set_to_none frees them instead of writing zeros).
    optimizer.zero_grad(set_to_none=True)
    # 4. Backward pass: d(loss)/d(parameter) for every parameter.
    (loss if scaler is None else scaler.scale(loss)).backward()
    if clip_grad_norm is not None:  # optional: tame exploding gradients before they reach the weights
        if scaler is not None:
            scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
        nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
    # 5. Step: move the parameters against their gradients (fp16: skipped when a gradient overflowed).
    if scaler is None:
        optimizer.step()
    else:
        scaler.step(optimizer)
        scaler.update()
    return loss.detach(), logits.detach()


def epoch_batches(data: TensorData, batch_size: int, generator: torch.Generator,
                  dist: Processes = SingleProcess()):
    """Yield (X_batch, y_batch) views covering a fresh seeded permutation of the rows (and w_batch, the
    rows' sample weights, third when the data has them).

    One gather per epoch, then contiguous slices: no per-sample collation as with a DataLoader. Features
    larger than GATHER_PER_BATCH_BYTES are gathered a batch at a time instead (the same rows in the same
    order): a permuted copy of a large matrix would double the memory the features take.
    A final batch too small to give each process 2 rows is dropped (BatchNorm cannot train on one row;
    the permutation makes the dropped rows random). Under torchrun every rank draws the same permutation
    and yields its `dist.shard` of each global batch, so all ranks take the same number of steps.
    """
    n = len(data)
    tensors = (data.X, data.y) if data.w is None else (data.X, data.y, data.w)
    if batch_size >= n:
        rows = dist.shard(n)  # full batch: order does not matter, skip the shuffle copy
        yield tuple(t[rows] for t in tensors)
        return
    perm = torch.randperm(n, generator=generator, device=generator.device).to(data.X.device)
    per_batch = data.X.numel() * data.X.element_size() > GATHER_PER_BATCH_BYTES
    X = data.X if per_batch else data.X[perm]
    others = tuple(t[perm] for t in tensors[1:])  # targets and weights: small, one gather
    remainder = n % batch_size
    stop = n - remainder if 0 < remainder < dist.min_rows_per_batch() else n
    for start in range(0, stop, batch_size):
        rows = dist.shard(min(batch_size, n - start))
        rows = slice(start + rows.start, start + rows.stop)
        yield (X[perm[rows]] if per_batch else X[rows]), *(t[rows] for t in others)


def weighted_loss(loss_fn: nn.Module, logits: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The loss as `loss_fn` computes it, each row counted w times: a row of weight 0 is as if absent.

    CrossEntropy with class weights divides by the rows' total (class weight x sample weight), as its mean
    does; BCEWithLogits averages over the outputs, then over rows by weight. logits (b, k); y as the loss
    takes it; w (b,).
    """
    if isinstance(loss_fn, nn.CrossEntropyLoss):
        losses = nn.functional.cross_entropy(logits, y, weight=loss_fn.weight, reduction="none")  # (b,)
        scale = w if loss_fn.weight is None or y.dtype != torch.int64 else w * loss_fn.weight[y]
        return (losses * w).sum() / scale.sum().clamp(min=1e-12)
    losses = nn.functional.binary_cross_entropy_with_logits(logits, y, pos_weight=loss_fn.pos_weight,
                                                            reduction="none").mean(dim=1)  # (b,)
    return (losses * w).sum() / w.sum().clamp(min=1e-12)


def fit(model: nn.Module, task: Task, train: TensorData | ChunkedData, valid: TensorData | None,
        config: TrainConfig, *, n_classes: int, n_epochs: int, batch_size: int, callbacks: list[Callback] = (),
        augment: Callable | None = None, generator: torch.Generator | None = None, dist: Processes | None = None,
        optimizer: torch.optim.Optimizer | None = None, loss_fn: nn.Module | None = None,
        class_weights: list[float] | None = None) -> TrainState:
    """Train `model` for up to n_epochs; returns the TrainState with the per-epoch history.

    train.y / valid.y are the encoded targets ((n,) int64 multiclass, (n,) or (n, L) float 0/1 otherwise).
    train is in memory (TensorData) or read a chunk at a time (ChunkedData, for tables larger than memory).
    Each epoch records train_loss, train_<main metric>, lr, and, with a validation split, valid_loss and
    valid_<main metric>. The train figures are those of the epoch's batches as they were trained on (train
    mode, weights moving during the epoch, each row against its own label even under mixup), as Keras and
    Lightning report them: no second pass over the training rows.
    callbacks: run at the epoch boundaries; engine.checkpoint.ResumeFrom first continues an interrupted run.
    dist: engine.distributed.from_env() under torchrun (DDP, sharded batches, metrics reduced across
    ranks); None trains in this process alone. batch_size is the global batch over all ranks.
    optimizer, loss_fn: continue with these (partial_fit keeps the optimizer's state and the first call's
    class weights); None makes them from config. class_weights: see make_loss.
    """
    dist = dist or SingleProcess()
    n_threads = None
    if data_device(train).type == "cpu":
        requested = config.threads if config.threads is not None else resumed_threads(callbacks)
        n_threads = choose_threads(requested, sum(p.numel() for p in model.parameters()), batch_size)
    with cpu_threads(n_threads):
        if loss_fn is None:
            loss_fn = make_loss(task, config, train.y, n_classes, class_weights)
        optimizer = optimizer or make_optimizer(model.parameters(), config)
        # optimizer.zero_grad would import torch._dynamo (~1 s) on its first call; compiling imports it anyway
        with contextlib.nullcontext() if config.compile else dynamo_unimported():
            return _fit(model, task, train, valid, config, n_epochs, batch_size, list(callbacks), augment,
                        generator, dist, optimizer, loss_fn)


def make_loss(task: Task, config: TrainConfig, y_train: torch.Tensor, n_classes: int,
              class_weights: list[float] | None = None) -> nn.Module:
    """The task's loss, weighted per class: by inverse class frequency of y_train when config.class_weight is
    "balanced", or by `class_weights` (one per class in label order; multilabel: per label), the run's
    mapping of labels to weights resolved by the caller, who knows the labels."""
    if class_weights is not None:
        weights = torch.tensor(class_weights, dtype=torch.float32, device=y_train.device)
        if task.name == "binary":  # BCE weighs the positive term: what matters is positive / negative
            weights = (weights[1] / weights[0].clamp(min=1e-12)).reshape(1)
        return task.make_loss(weights)
    if config.class_weight == "balanced":
        return task.make_loss(task.balanced_weights(y_train, n_classes).to(y_train.device))
    return task.make_loss(None)


def choose_step(model: nn.Module, loss_fn: nn.Module, optimizer: torch.optim.Optimizer, config: TrainConfig,
                dist: Processes, device: torch.device, weighted: bool = False) -> tuple[Callable, str]:
    """The function that trains on one batch, step(X_batch, y_batch, out=None, w_batch=None) -> logits
    (b, n_outputs) (written into `out` when given), and the name of the path it takes.

    "hand-derived": the built-in MLP in float32 on one process, without hooks or parametrizations, trains
    with engine/manual_backward.py (the same gradients without autograd's per-step overhead) and the fused
    optimizer kernel called directly. "autograd": everything else goes through `train_step`, the seed's
    five steps, with autocast, DDP or torch.compile wrapped around the model's forward as configured, and
    rows with sample weights (`weighted`).
    """
    forward, scaler = make_training_forward(model, config.amp, config.compile, device, dist.wrap)
    manual = None
    if config.backward == "auto" and forward is model and dist.world_size == 1 and not weighted:
        manual = ManualBackwardMLP.build(model, loss_fn)
    if manual is not None:
        optimizer_step = direct_step(optimizer)

        def hand_derived(X_batch: torch.Tensor, y_batch: torch.Tensor, out: torch.Tensor | None = None,
                         w_batch: None = None):
            return manual(optimizer, X_batch, y_batch, config.clip_grad_norm, out, optimizer_step)

        return hand_derived, "hand-derived"

    # Without a GradScaler (which steps the optimizer itself) the step is direct_step's kernel call: the same
    # update, without step()'s wrapper and its import of torch._dynamo on the first call.
    stepping = optimizer if scaler is not None else _DirectStepping(optimizer, direct_step(optimizer))

    def autograd(X_batch: torch.Tensor, y_batch: torch.Tensor, out: torch.Tensor | None = None,
                 w_batch: torch.Tensor | None = None):
        logits = train_step(forward, loss_fn, stepping, X_batch, y_batch, config.clip_grad_norm, scaler, w_batch)[1]
        return logits if out is None else out.copy_(logits)

    return autograd, "autograd"


class _DirectStepping:
    """The optimizer as train_step uses it: zero_grad as torch's, step as engine.optim.direct_step's."""

    def __init__(self, optimizer: torch.optim.Optimizer, step: Callable[[], None]):
        self.optimizer, self.step = optimizer, step

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)


def _fit(model, task, train, valid, config, n_epochs, batch_size, callbacks, augment, generator,
         dist: Processes, optimizer, loss_fn) -> TrainState:
    generator = generator or torch.Generator().manual_seed(config.seed)
    device = data_device(train)
    chunk_sizes = [len(train)] if isinstance(train, TensorData) else train.chunk_sizes
    steps_per_epoch = max(1, sum(math.ceil(size / batch_size) for size in chunk_sizes))
    scheduler, schedule_every = make_scheduler(optimizer, config, n_epochs, steps_per_epoch)
    step, path = choose_step(model, loss_fn, optimizer, config, dist, device,
                             weighted=isinstance(train, TensorData) and train.w is not None)
    if dist.world_size > 1:  # dropout draws from the global stream: one seed per rank, or all shards get one mask
        torch.manual_seed(config.seed + dist.rank)
    state = TrainState(model, optimizer, n_epochs, task.main_metric, scheduler=scheduler, generator=generator,
                       training_path=path, callbacks=callbacks, loss_fn=loss_fn)
    for callback in callbacks:
        callback.on_train_begin(state)
    # A resumed run (ResumeFrom) continues after its checkpoint's epoch; one that had stopped runs no epoch.
    first_epoch = n_epochs + 1 if state.should_stop else state.epoch + 1
    try:
        for epoch in range(first_epoch, n_epochs + 1):
            state.epoch = epoch
            started = time.perf_counter()
            if not model.training:  # (train() walks every submodule: skip it when nothing changed it)
                model.train()
            lr = optimizer.param_groups[0]["lr"]
            totals = _train_epoch(train, task, step, loss_fn, batch_size, generator, dist, augment, config.threshold,
                                  scheduler if schedule_every == "batch" else None)
            if dist.world_size > 1:  # one all-reduce: the same mean loss and metric on every rank
                totals = dist.all_sum(torch.tensor(totals, dtype=torch.float64, device=device)).tolist()
            loss_sum, n_rows, *counts = totals
            train_loss = loss_sum / n_rows
            record = {"epoch": epoch, "train_loss": train_loss, "lr": lr,
                      f"train_{task.main_metric}": metric_from_counts(counts)}
            if valid is not None and len(valid):
                record["valid_loss"], record[f"valid_{task.main_metric}"] = score(
                    model, task, valid, loss_fn, config.threshold, dist)
            record["seconds"] = time.perf_counter() - started
            state.history.append(record)
            if not math.isfinite(train_loss) or not math.isfinite(record.get("valid_loss", 0.0)):
                raise TrainingError(
                    f"the loss became {train_loss} at epoch {epoch}: the learning rate ({config.lr}) is probably too "
                    "high - lower --lr, or add --clip-grad-norm 1.0")
            if schedule_every == "epoch" and scheduler is not None:
                scheduler.step()
            elif schedule_every == "plateau":
                scheduler.step(record.get("valid_loss", train_loss))
            for callback in callbacks:
                callback.on_epoch_end(state)
            # Ranks see identical reduced metrics, so they agree already; the vote makes it certain.
            state.should_stop = dist.any(state.should_stop)
            if state.should_stop:
                break
    except BaseException:  # Ctrl-C or an error: callbacks that hold the terminal let it go
        for callback in callbacks:
            getattr(callback, "on_train_abort", lambda state: None)(state)  # (a duck-typed callback may lack it)
        raise
    for callback in callbacks:
        callback.on_train_end(state)
    return state


def _train_epoch(train, task: Task, step: Callable, loss_fn: nn.Module, batch_size: int,
                 generator: torch.Generator, dist: Processes, augment: Callable | None, threshold: float,
                 batch_scheduler) -> list[float]:
    """One pass over the training rows, a step per batch; returns [sum of row losses, rows, main-metric
    counts (2)] of the batches as they were trained on, from the logits the steps produced (no second
    forward pass) with one host sync per part (the table in memory, or each chunk of a stream).

    step(X_batch, y_batch, out=None) writes the batch's logits into `out`, a slice of one buffer for the
    part's logits, rather than the part keeping a small logits tensor per step: on CPU those small tensors,
    allocated between each step's large temporaries and held until the part ends, fragment glibc's heap,
    which then keeps the memory (docs/benchmarks.md, "Memory"). Mixup's soft targets (new tensors per batch)
    go into a buffer likewise; plain targets are views of the epoch's permuted copy.
    """
    totals = [0.0, 0.0, 0.0, 0.0]
    for part in epoch_parts(train, generator):
        n_part = len(part)
        logits = targets = None  # (rows, n_outputs) buffers, made at the part's first batch
        labels, weights, filled = [], [], 0  # each row's own label and weight (views); rows trained on so far
        for X_batch, y_batch, *w_batch in epoch_batches(TensorData(part.X, task.as_training_target(part.y), part.w),
                                                        batch_size, generator, dist):
            w_batch = w_batch[0] if w_batch else None
            labels.append(y_batch)  # before augmentation: the metric scores each row against its own label
            if w_batch is not None:
                weights.append(w_batch)
            if augment is not None:
                X_batch, y_batch = augment(X_batch, y_batch)
            rows = y_batch.shape[0]
            if logits is None:  # the first batch sizes the buffer
                logits = _part_buffer(step(X_batch, y_batch, None, w_batch), n_part)
            else:
                step(X_batch, y_batch, logits[filled:filled + rows], w_batch)
            if augment is not None:  # what the loss saw, when augmentation made new targets
                if targets is None:
                    targets = _part_buffer(y_batch, n_part)
                else:
                    targets[filled:filled + rows] = y_batch
            filled += rows
            if batch_scheduler is not None:
                batch_scheduler.step()
        if not filled:  # a chunk can be smaller than one batch per rank
            continue
        labels = _cat(labels)
        weights = _cat(weights) if weights else None
        part_loss, *part_counts = _loss_and_counts(task, loss_fn, logits[:filled],
                                                   labels if targets is None else targets[:filled], labels,
                                                   threshold, weights)
        counted = filled if weights is None else float(weights.sum())  # the loss is a mean over these
        totals[0] += part_loss * counted
        totals[1] += counted
        totals[2] += part_counts[0]
        totals[3] += part_counts[1]
    return totals


def _loss_and_counts(task: Task, loss_fn: nn.Module, logits: torch.Tensor, targets: torch.Tensor,
                     labels: torch.Tensor, threshold: float, weights: torch.Tensor | None = None) -> list[float]:
    """[mean loss of logits against targets (weighted by the rows' weights, when they have them),
    main-metric counts (2) against labels], one host sync."""
    loss = _epoch_loss(loss_fn, logits, targets) if weights is None else weighted_loss(loss_fn, logits, targets,
                                                                                       weights)
    counts = task.logit_counts(logits, labels, threshold)
    if logits.device.type == "cpu":  # (.item() widens the float32 loss exactly; three fewer ops than a cat)
        return [loss.item(), *counts.tolist()]
    return torch.cat([loss.double().reshape(1), counts.double()]).tolist()  # one device-to-host sync, not two


def _epoch_loss(loss_fn: nn.Module, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """loss_fn(logits, targets) for a whole epoch's (or split's) logits (n, C), as a 0-d tensor.

    Cross-entropy on class indices over 3-15 classes on CPU is computed from the transposed logits (C, n):
    torch's CPU log-softmax along a last dimension that short costs ~35 ns a number, ten times what it costs
    along the first (a (1437, 10) epoch of digits: 553 us against 55 us, docs/benchmarks.md). The same loss
    up to the rounding of its sum (~1e-7); only the reported loss, not the training step, takes this path.
    """
    if (type(loss_fn) is nn.CrossEntropyLoss and targets.dtype == torch.int64 and logits.dim() == 2
            and 3 <= logits.shape[1] < 16 and logits.device.type == "cpu" and loss_fn.label_smoothing == 0):
        log_p = torch.log_softmax(logits.t().contiguous(), 0).t()  # (n, C), a view of the (C, n) result
        return nn.functional.nll_loss(log_p, targets, weight=loss_fn.weight, ignore_index=loss_fn.ignore_index,
                                      reduction=loss_fn.reduction)
    return loss_fn(logits, targets)


def _part_buffer(first: torch.Tensor, n_rows: int) -> torch.Tensor:
    """A (n_rows, ...) buffer whose first rows are `first` (a part's first batch); `first` itself when it
    already holds all n_rows (full batch: no copy)."""
    if first.shape[0] == n_rows:
        return first
    buffer = first.new_empty((n_rows, *first.shape[1:]))
    buffer[:first.shape[0]] = first
    return buffer


def _cat(tensors: list[torch.Tensor]) -> torch.Tensor:
    return tensors[0] if len(tensors) == 1 else torch.cat(tensors)


def score(model: nn.Module, task: Task, data: TensorData, loss_fn: nn.Module, threshold: float,
          dist: Processes = SingleProcess()) -> tuple[float, float]:
    """(loss, main metric) of the model on data, in eval mode.

    Under torchrun each rank predicts its shard of the rows and the logits are gathered, so every rank
    computes the same metric on all rows.
    """
    n = len(data)
    logits = dist.gather_rows(predict_logits(model, data.X[dist.shard(n)]), n)  # (n, n_outputs)
    loss, *counts = _loss_and_counts(task, loss_fn, logits, task.as_training_target(data.y), data.y, threshold)
    return loss, metric_from_counts(counts)
