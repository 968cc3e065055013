"""Training prepared rows: build the network, fit it, evaluate every held-out row, describe the run.

`train_prepared` is the middle of `torchclassify train`: the data is already split and preprocessed
(data.prepare), and what to do with a run folder is the caller's (workflow.lifecycle). In-memory and
streamed tables take the same path: both are `PreparedData`.
"""

from __future__ import annotations

import sys
import time
import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..classifier import TrainedClassifier
from ..config import RunConfig, TrainConfig, make_config
from ..data.augment import training_augmenter
from ..data.prepared import PreparedData, prepare_in_memory
from ..data.sources import Dataset
from ..diagnose import diagnose
from ..engine.budget import check_network_fits
from ..engine.calibrate import MIN_ROWS, fit_temperature, fold_temperature, heads_of
from ..engine.callbacks import Callback, EarlyStopping, ProgressPrinter
from ..engine.checkpoint import GradientWatch
from ..engine.defaults import MAX_CHOSEN_EPOCHS, large_ensemble_batch, resolve_train_config
from ..engine.device import resolve_device, seeded_torch
from ..engine.distributed import from_env as join_torchrun
from ..engine.inference import predict_logits
from ..engine.loop import fit
from ..errors import ConfigError
from ..evaluate import THRESHOLD_OBJECTIVE, choose_threshold, compute_metrics
from ..models import count_parameters, make_fitted_model, summarize
from ..settings import IN_MEMORY_SOURCE
from ..tasks import Task, get_task

ENSEMBLE_MAX_EPOCHS = MAX_CHOSEN_EPOCHS  # an ensemble's data-chosen epochs keep the one network's cap


@dataclass
class Run:
    """The result of `train`: the classifier plus everything the run folder holds."""

    classifier: TrainedClassifier
    config: RunConfig
    history: list[dict[str, Any]]
    metrics: dict[str, dict]  # {"valid": {...}, "test": {...}}
    summary: dict[str, Any]
    run_dir: Any = None  # pathlib.Path of the run folder, when one was written
    splits: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # row indices per split
    optimizer: Any = field(default=None, repr=False)  # the optimizer as training left it (state included)
    loss_fn: Any = field(default=None, repr=False)  # the loss it trained with (class weights included)
    tracked: dict[str, Any] = field(default_factory=dict)  # where --track logged it (mlflow run, tensorboard dir)

    def __repr__(self) -> str:  # a line, not the whole history
        s = self.summary
        main = self.classifier.task.main_metric
        test = self.metrics.get("test", {}).get(main)
        return (f"Run({s.get('dataset')!r}, {s.get('task')}, {s.get('epochs_run')} epochs"
                + (f", test {main} {test:.4f}" if isinstance(test, float) else "")
                + (f", run_dir={str(self.run_dir)!r}" if self.run_dir is not None else "") + ")")


def train_prepared(config: RunConfig, prepared: PreparedData, *, progress: str = "quiet",
                   callbacks: list[Callback] = (), before_fit: list[Callback] = (), after_fit: list[Callback] = (),
                   on_interrupt=None) -> Run:
    """Train a network on prepared rows and evaluate it on every validation and test row.

    config: the run's settings; its task and the settings left to the data (epochs, batch size...) are
    resolved here, in place. callbacks: the caller's own, run after early stopping; before_fit: callbacks
    that must see the run before anything else (resuming from a checkpoint); after_fit: after every other
    (saving checkpoints, which must hold early stopping's state for their epoch).
    on_interrupt(classifier of the best weights so far, history): called on Ctrl-C before it propagates.
    """
    started = time.perf_counter()
    config.data.task = prepared.task_name
    task = get_task(prepared.task_name)
    if not task.uses_threshold and config.train.threshold != 0.5:
        warnings.warn(f"--threshold {config.train.threshold} is not used: a {task.name} model predicts its most "
                      "probable class (a threshold applies to binary and multilabel targets)", stacklevel=2)
    device = resolve_device(config.train.device)
    dist = join_torchrun(device)  # SingleProcess unless started by torchrun
    device = getattr(dist, "device", device)  # under torchrun on CUDA: this rank's GPU
    has_valid = len(prepared.splits["valid"]) > 0
    n_train, members = len(prepared.splits["train"]), config.model.members or 1
    config.train = t = ensemble_budget(
        resolve_train_config(large_ensemble_batch(config.train, n_train, members), n_train, has_valid,
                             images=hasattr(prepared.preprocessor, "image_shape")),
        config.train, members)
    labels, preprocessor = prepared.labels, prepared.preprocessor
    # --threshold auto is chosen after training, on the validation rows; epochs are scored at 0.5 meanwhile.
    fixed_threshold = 0.5 if t.threshold == "auto" else t.threshold
    with seeded_torch(t.seed, device):
        train_data = prepared.training_data(device, task.target_dtype(), t.seed)
        valid_data = prepared.validation_data(device, task.target_dtype()) if has_valid else None
        n_outputs = task.n_outputs(labels.n_classes)
        image_shape = getattr(preprocessor, "image_shape", None)  # (C, H, W) for images, else None
        check_network_fits(config.model, preprocessor.n_features_out, n_outputs, device, images=bool(image_shape),
                           n_numbers=len(getattr(preprocessor, "number_inputs", [])))
        model = make_fitted_model(config.model, preprocessor, n_outputs,
                                  lambda rows: prepared.training_sample(rows, t.seed)).to(device)
        generator = torch.Generator(device="cpu").manual_seed(t.seed)
        augment = training_augmenter(config, task, labels.n_classes, generator, image_shape)
        summary = describe_run(prepared, model, t, str(device), dist.world_size, n_outputs)
        if progress != "quiet":
            print(describe_setup(summary, config), file=sys.stderr, flush=True)
        early = EarlyStopping(patience=t.patience) if t.early_stopping else None
        every = [*before_fit, *([early] if early else []), *callbacks, GradientWatch(), *after_fit,
                 ProgressPrinter(progress)]
        try:
            state = fit(model, task, train_data, valid_data, replace(t, threshold=fixed_threshold),
                        n_classes=labels.n_classes, n_epochs=t.epochs, class_weights=class_weight_list(labels, t),
                        batch_size=t.batch_size or len(train_data), callbacks=every, augment=augment,
                        generator=generator, dist=dist)
            dist.close()  # the final evaluation below needs no collectives
        except KeyboardInterrupt:
            if on_interrupt is not None:
                if early is not None and early.best_state is not None:
                    model.load_state_dict(early.best_state)
                info = {"dataset": prepared.name, "target": config.data.target, "interrupted": True}
                on_interrupt(TrainedClassifier(model.eval(), prepared.task_name, preprocessor, labels, config.model,
                                               fixed_threshold, info=info))
            raise
    model.eval()
    if (config.model.recipe == "tabular" or t.label_smoothing) and has_valid:
        summary["temperature"] = calibrate(model, task, prepared, device, doubt=t.label_smoothing > 0)
    evaluated = [split for split in ("valid", "test") if len(prepared.splits[split])]
    predictions = predict_splits(model, task, prepared, evaluated, device)
    threshold = fixed_threshold
    if t.threshold == "auto" and task.uses_threshold and "valid" in predictions:
        threshold = choose_threshold(*predictions["valid"])  # validation rows only: test never chooses
        summary.update(threshold=threshold, threshold_objective=THRESHOLD_OBJECTIVE)
    metrics = {split: compute_metrics(task, y_proba, y_true, labels.classes, threshold)
               for split, (y_proba, y_true) in predictions.items()}
    if threshold != fixed_threshold:  # what the chosen threshold changed, beside the default's numbers
        metrics.update({f"{split}@{fixed_threshold:g}": compute_metrics(task, y_proba, y_true, labels.classes,
                                                                       fixed_threshold)
                        for split, (y_proba, y_true) in predictions.items()})
    classifier = TrainedClassifier(model, prepared.task_name, preprocessor, labels, config.model, threshold,
                                   info={"dataset": prepared.name, "target": config.data.target})
    # seconds: the whole call (loading, first imports, evaluation); train_seconds: the epochs alone.
    summary.update(epochs_run=state.epoch, best_epoch=state.best_epoch, stop_reason=state.stop_reason,
                   training_path=state.training_path, seconds=round(time.perf_counter() - started, 3),
                   train_seconds=round(sum(record["seconds"] for record in state.history), 3))
    summary["diagnosis"] = diagnose(state.history, config, summary, metrics)
    return Run(classifier, config, state.history, metrics, summary, splits=prepared.splits,
               optimizer=state.optimizer, loss_fn=state.loss_fn)


def ensemble_budget(resolved: TrainConfig, asked: TrainConfig, members: int) -> TrainConfig:
    """The data-chosen epochs for an ensemble of `members` networks: each member trains on 1/members of every
    batch, so it needs about members times as many epochs to see as many rows; within the same 300-epoch
    cap, early stopping ending the run when the validation loss stalls. Epochs the caller set stay as set
    (the estimator's refit passes the judged run's best epoch)."""
    if members <= 1 or asked.epochs is not None:
        return resolved
    return replace(resolved, epochs=max(resolved.epochs, min(ENSEMBLE_MAX_EPOCHS, resolved.epochs * members)))


def calibrate(model: torch.nn.Module, task: Task, prepared: PreparedData, device, doubt: bool = False) -> float:
    """Temperature scaling on the validation rows, folded into the model's head; returns T (1.0: unchanged,
    or a network without a known head). doubt: fit_temperature's, for a smoothed network."""
    if not heads_of(model):
        return 1.0
    rows, logits = [], []
    for part_rows, X in prepared.iter_features(["valid"]):
        rows.append(part_rows)
        logits.append(predict_logits(model, torch.from_numpy(X).to(device)).cpu())
    y_true = torch.as_tensor(prepared.codes[np.concatenate(rows)])
    temperature = fit_temperature(task, torch.cat(logits), y_true, doubt=doubt)
    fold_temperature(model, temperature)
    return temperature


def class_weight_list(labels, t) -> list[float] | None:
    """A mapping of labels to weights (--class-weight a=5,b=1) as one weight per class in output order
    (classes it leaves out weigh 1); None for "none" and "balanced"."""
    if not isinstance(t.class_weight, dict):
        return None
    unknown = [k for k in t.class_weight if labels.index_of(k) is None]
    if unknown:
        raise ConfigError(f"--class-weight names {unknown}, which are not classes of the target: the classes are "
                          f"{', '.join(map(repr, labels.classes))}")
    weights = [1.0] * labels.n_classes
    for label, weight in t.class_weight.items():
        weights[labels.index_of(label)] = float(weight)
    return weights


def predict_splits(model: torch.nn.Module, task: Task, prepared: PreparedData, names: list[str],
                   device: torch.device) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{split: (y_proba, y_true encoded)} over every row of the named splits, predicted part by part."""
    if not names:
        return {}
    rows, logits = [], []
    for part_rows, X in prepared.iter_features(names):
        rows.append(part_rows)
        logits.append(predict_logits(model, torch.from_numpy(X).to(device)).cpu())
    rows = np.concatenate(rows)
    y_proba = task.to_proba(task.squeeze_logits(torch.cat(logits)))
    result = {}
    for name in names:
        split = prepared.splits[name]
        # the split's rows in sorted order, found among the predicted rows (parts may come in any order)
        where = np.argsort(rows, kind="stable")[np.searchsorted(np.sort(rows), split)]
        result[name] = (y_proba[torch.from_numpy(where)], torch.as_tensor(prepared.codes[split]))
    return result


def describe_run(prepared: PreparedData, model: torch.nn.Module, t, device: str, processes: int,
                 n_outputs: int) -> dict:
    """The run summary known before training: data, split, model and device."""
    pre = prepared.preprocessor
    return {
        "dataset": prepared.name, "task": prepared.task_name, "classes": prepared.labels.classes,
        "n_rows": prepared.n_rows, "n_columns": prepared.n_columns,
        "numeric_columns": [c.name for c in pre.numeric], "categorical_columns": pre.categorical_columns,
        "date_columns": [d.name for d in pre.dates], "dropped_columns": [d.name for d in pre.dropped],
        "column_decisions": pre.decisions(),
        "n_inputs": pre.n_features_out, "n_outputs": n_outputs,
        "split_sizes": {k: int(len(v)) for k, v in prepared.splits.items()},
        **({"positive_class": prepared.labels.classes[1], "positive_reason": prepared.labels.positive_reason}
           if prepared.task_name == "binary" else {}),
        "class_counts": prepared.class_counts(),
        "network": type(model).__name__, "parameters": count_parameters(model), "layers": summarize(model),
        "device": device, "early_stopping": t.early_stopping, "processes": processes,
        **prepared.describe(),
    }


def describe_setup(summary: dict, config: RunConfig) -> str:
    """A few lines about data, model and settings, printed before training starts."""
    t = config.train
    sizes = summary["split_sizes"]
    rows = [row for row in summary["layers"]  # an ensemble: its first member's layers stand for all of them
            if not row["layer"].startswith("members.") or row["layer"].startswith("members.0.")]
    layers = " -> ".join(f"{row['type']}({row['details']})" if row["type"] == "Linear" else row["type"] for row in rows
                         if row["type"] != "Identity")  # (a step this network leaves out)
    batch = "full" if t.batch_size == 0 else t.batch_size
    streamed = summary.get("stream")
    stream_line = [] if not streamed else [(
        f"stream   {streamed['n_chunks']} chunks of up to {streamed['chunk_rows']} rows; preprocessing fitted on "
        f"{streamed['preprocess_rows']} training rows; validation on {streamed['valid_rows_per_epoch']} rows "
        "per epoch")]
    kinds = [f"{len(summary[f'{kind}_columns'])} {kind}" for kind in ("numeric", "date", "categorical", "dropped")
             if summary.get(f"{kind}_columns")] or (["images"] if "images" in summary else [])
    return "\n".join([
        f"data     {summary['dataset']}: {summary['n_rows']} rows"
        + (f" ({summary['unlabelled_rows']} with no label, left out)" if summary.get("unlabelled_rows") else "")
        + f", {summary['n_columns']} columns "
        f"({', '.join(kinds)}) -> {summary['n_inputs']} inputs; task {summary['task']} with "
        f"{len(summary['classes'])} {'labels' if summary['task'] == 'multilabel' else 'classes'}",
        *[f"columns  {sentence}" for sentence in summary.get("column_decisions", [])],
        *([f"classes  positive class {summary['positive_class']!r}: {summary['positive_reason']}"]
          if "positive_class" in summary else []),
        f"split    train {sizes['train']}, valid {sizes['valid']}, test {sizes['test']} (seed {t.seed})",
        *stream_line,
        f"model    {summary['network']}"
        + (f" ({config.model.recipe} recipe)" if config.model.recipe != "auto" else "")
        + (f" of {config.model.members} networks, logits averaged" if (config.model.members or 1) > 1 else "")
        + (f" ({config.model.piecewise} of them also read the numbers in quantile bins)"
           if config.model.piecewise and (config.model.members or 1) > 1 else "")
        + f": {layers}; {summary['parameters']:,} parameters on {summary['device']}",
        f"train    {t.optimizer} lr {t.lr:g}, weight decay {t.weight_decay:g}, batch {batch}, up to {t.epochs} "
        f"epochs" + (f", early stopping (patience {t.patience})" if t.early_stopping else "")
        + (f", {t.schedule} learning-rate schedule" if t.schedule != "none" else "")
        + (f", label smoothing {t.label_smoothing:g}" if t.label_smoothing else ""),
    ])


def fit_in_memory(X: pd.DataFrame, y: pd.DataFrame, config: RunConfig, *, callbacks: list[Callback] = (),
                  progress: str = "quiet", sample_weight=None) -> Run:
    """Fit on rows already in memory: the same pipeline as `train`, with no test split and no run folder.

    X: (n_samples, n_columns) raw feature columns; y: (n_samples, 1) labels or (n_samples, L) 0/1 columns.
    config.data.valid_size rows are held out for early stopping (0: train on every row). Returns the Run
    (classifier, resolved config, per-epoch history); the estimator builds on this.
    sample_weight: (n_samples,) non-negative weights of the rows in the training loss.
    """
    config = make_config(config, test_size=0.0, source=IN_MEMORY_SOURCE)
    prepared = prepare_in_memory(Dataset(X, y, IN_MEMORY_SOURCE), config, sample_weight)
    return train_prepared(config, prepared, progress=progress, callbacks=list(callbacks))


def held_out_logits(X: pd.DataFrame, y: pd.DataFrame, config: RunConfig, *, progress: str = "quiet",
                    sample_weight=None) -> tuple[Task, torch.Tensor, torch.Tensor, float]:
    """Fit `config` on its training split of (X, y) (config.data.valid_size held out, stratified, seeded) and
    score the held-out rows (those of weight 0 left out: as if absent): (task, their logits (n, n_outputs) as
    the network gives them, their encoded targets, the temperature the fit folded in already (1.0 unless its
    recipe calibrates))."""
    run = fit_in_memory(X, y, config, progress=progress, sample_weight=sample_weight)
    rows, classifier = run.splits["valid"], run.classifier
    if sample_weight is not None:
        rows = rows[np.asarray(sample_weight)[rows] > 0]
    logits = predict_logits(classifier.model, classifier.transform(X.iloc[rows])).cpu()
    y_true = torch.as_tensor(classifier.encode_targets(y.iloc[rows]))
    return classifier.task, logits, y_true, run.summary.get("temperature", 1.0)


def pilot_calibration(X: pd.DataFrame, y: pd.DataFrame, config: RunConfig, *, calibrate: bool = True,
                      choose: bool = False, sample_weight=None) -> tuple[float, float | list[float] | None, int]:
    """(temperature, threshold, held-out rows) for a fit on every row of (X, y), from a pilot of `config` (its
    valid_size held out): what the fit cannot see, rows it did not train on (the estimator below 2,000 rows).

    temperature: fit_temperature on the held-out logits, kept only when >= 1 (1.0 without calibrate): a
    network trained on every row is over-confident on noisy tables, and a few dozen held-out rows all
    predicted right ask for T < 1, which new rows punish (docs/defaults.md, "The pilot temperature"). A
    network trained with label smoothing is under-confident by design, so T < 1 is kept for it, fitted with
    one held-out row's worth of doubt in the labels: rows all predicted right then ask for a finite T.
    threshold: with choose, the best-F1 threshold on those rows' probabilities after that temperature; None
    without choose or on fewer than MIN_ROWS held-out rows.
    """
    task, logits, y_true, folded = held_out_logits(X, y, config, sample_weight=sample_weight)
    if not calibrate:
        temperature = 1.0
    elif config.train.label_smoothing:
        temperature = folded * fit_temperature(task, logits, y_true, doubt=True)
    else:
        temperature = max(1.0, folded * fit_temperature(task, logits, y_true))
    if not choose or len(y_true) < MIN_ROWS:
        return temperature, None, len(y_true)
    as_the_fit_will_be = logits * folded / temperature  # (the fit's logits carry `temperature`, not `folded`)
    return temperature, choose_threshold(task.to_proba(task.squeeze_logits(as_the_fit_will_be)), y_true), len(y_true)

