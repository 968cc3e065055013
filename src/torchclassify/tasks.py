"""The task table: binary, multiclass and multilabel differ only here.

Each task says how many outputs the model has, which loss it trains with, how logits become
probabilities and labels, and which metrics describe it. Nothing else in the package branches on the task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from . import metrics as M
from .errors import ConfigError, DataError

TASK_NAMES = ("binary", "multiclass", "multilabel")


@dataclass(frozen=True)
class Task:
    """How one kind of target is modelled.

    Shapes, with n samples, C classes (multiclass) and L labels (multilabel):
      logits:   binary (n,)     multiclass (n, C)   multilabel (n, L)
      y:        binary (n,) float 0/1   multiclass (n,) int64 class index   multilabel (n, L) float 0/1
      y_proba:  same shape as logits (binary: probability of the positive class)
    """

    name: str
    # n_outputs(n_classes) -> number of model outputs (binary needs one logit, not two).
    n_outputs: Callable[[int], int]
    # Loss class and the keyword that carries class weights (None: unweighted).
    loss_class: type[nn.Module]
    weight_keyword: str
    to_proba: Callable[[torch.Tensor], torch.Tensor]
    main_metric: str  # the metric shown per epoch and used to rank runs; larger is better
    uses_threshold: bool  # whether a decision threshold on probabilities applies
    single_logit: bool  # the model has one output column that is squeezed away
    # compute_metrics(y_proba, y_true, n_classes, threshold, confusion=True) -> {name: float | list}
    compute_metrics: Callable[..., dict]
    # main_counts(y_pred, y_true) -> (2,) float tensor [numerator, denominator] of the main metric
    # (accuracy: correct, rows; micro-F1: 2 TP, predicted + actual positives). Counts add up over batches
    # and ranks, so the per-epoch metric costs a few tensor ops and no host sync until the epoch ends.
    main_counts: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    # to_soft_targets(y, n_classes) -> float targets shaped like logits (for mixup and label blending)
    to_soft_targets: Callable[[torch.Tensor, int], torch.Tensor]
    # balanced_weights(y_train, n_classes) -> the loss's weight tensor for class_weight="balanced"
    balanced_weights: Callable[[torch.Tensor, int], torch.Tensor]

    def make_loss(self, class_weights: torch.Tensor | None = None) -> nn.Module:
        """The loss module: BCEWithLogits (binary, multilabel) or CrossEntropy (multiclass).

        class_weights: (C,) CE weights for multiclass, or (1,)/(L,) positive weights for BCE.
        """
        if class_weights is None:
            return self.loss_class()
        return self.loss_class(**{self.weight_keyword: class_weights})

    def squeeze_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """Model output (n, n_outputs) -> the task's logits shape (binary: (n,))."""
        return logits.squeeze(-1) if self.single_logit else logits

    def to_labels(self, y_proba: torch.Tensor, threshold: float | torch.Tensor = 0.5) -> torch.Tensor:
        """Probabilities -> encoded labels: 0/1 (binary, multilabel; at threshold) or class index."""
        if self.uses_threshold:
            return (y_proba >= threshold).to(torch.int64)
        return y_proba.argmax(dim=-1)

    def logit_counts(self, logits: torch.Tensor, y_true: torch.Tensor,
                     threshold: float | torch.Tensor = 0.5) -> torch.Tensor:
        """main_counts of model outputs (n, n_outputs) against encoded targets (n,) or (n, L)."""
        if not self.uses_threshold:  # softmax keeps the order: the argmax of the logits, without the exp
            return self.main_counts(logits.argmax(dim=-1), y_true.reshape(-1))
        y_pred = self.to_labels(self.to_proba(self.squeeze_logits(logits)), threshold)
        return self.main_counts(y_pred, y_true.reshape(y_pred.shape))

    def target_dtype(self) -> torch.dtype:
        # Thresholded tasks train on 0/1 floats (BCE); argmax tasks on class indices (CrossEntropy).
        return torch.float32 if self.uses_threshold else torch.int64

    def as_training_target(self, y: torch.Tensor) -> torch.Tensor:
        """Encoded targets -> the shape the loss wants against raw model output: binary (n,) -> (n, 1)."""
        y = y.to(self.target_dtype())
        return y.reshape(-1, 1) if self.single_logit else y


def _softmax(logits: torch.Tensor) -> torch.Tensor:
    return torch.softmax(logits, dim=-1)


def _one_hot(y: torch.Tensor, n_classes: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(y, n_classes).to(torch.float32)  # (n,) -> (n, C)


def _as_float(y: torch.Tensor, n_classes: int) -> torch.Tensor:
    return y.to(torch.float32)


def _balanced_class_weights(y: torch.Tensor, n_classes: int) -> torch.Tensor:
    # sklearn's "balanced": n_samples / (n_classes * count_c); absent classes get weight 1.
    counts = torch.bincount(y.long().reshape(-1), minlength=n_classes).to(torch.float32)
    weights = y.numel() / (n_classes * counts.clamp(min=1))
    return torch.where(counts > 0, weights, torch.ones_like(weights))


def _balanced_pos_weight(y: torch.Tensor, n_classes: int) -> torch.Tensor:
    # BCE pos_weight = negatives / positives per output column ((1,) binary, (L,) multilabel), capped so a
    # label with a handful of positives cannot dominate the loss.
    y = y.to(torch.float32).reshape(y.shape[0], -1)
    positives = y.sum(dim=0)
    negatives = y.shape[0] - positives
    weights = negatives / positives.clamp(min=1)
    return torch.where(positives > 0, weights.clamp(max=100.0), torch.ones_like(weights))


def _accuracy_counts(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    # y_pred, y_true (n,) labels -> [correct, rows]
    correct = (y_pred == y_true.to(y_pred.dtype)).sum()
    return torch.stack([correct.to(torch.float64), correct.new_tensor(y_true.shape[0], dtype=torch.float64)])


def _micro_f1_counts(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    # y_pred, y_true (n, L) 0/1 -> [2 TP, predicted + actual positives]; micro-F1 = 2TP / (2TP + FP + FN)
    y_true = y_true.to(y_pred.dtype)
    return torch.stack([2 * (y_pred * y_true).sum(), y_pred.sum() + y_true.sum()]).to(torch.float64)


def metric_from_counts(counts) -> float:
    """numerator / denominator of Task.main_counts (a tensor or two floats); 0.0 when there is nothing to
    count, as torchmetrics gives."""
    numerator, denominator = counts.tolist() if isinstance(counts, torch.Tensor) else counts
    return numerator / denominator if denominator else 0.0


def _binary_metrics(y_proba, y_true, n_classes, threshold=0.5, confusion=True) -> dict:
    """y_proba (n,) positive-class probabilities, y_true (n,) 0/1 (1: the positive class).

    precision, recall and f1 describe the positive class; the per-class lists describe both. Rows count as
    positive when y_proba >= threshold, the rule the classifier predicts with.
    """
    y_true = y_true.long().reshape(-1)
    y_pred = (y_proba >= float(threshold)).long()
    matrix = M.confusion_matrix(y_true, y_pred, 2)  # (2, 2): [[TN, FP], [FN, TP]]
    tp, fp, fn = M.class_counts(matrix)
    per_class = M.scores_from_counts(tp, fp, fn)
    # Ranking metrics are undefined when y_true holds one class only: report None, not a fake 0.
    both_present = bool(y_true.numel() and y_true.min() != y_true.max())
    return {
        "accuracy": float(M.ratio(tp.sum(), torch.tensor(y_true.numel()))),
        "balanced_accuracy": M.balanced_accuracy(tp, fn),
        "precision": float(per_class["precision"][1]),
        "recall": float(per_class["recall"][1]),
        "f1": float(per_class["f1"][1]),
        "roc_auc": M.roc_auc(y_true, y_proba) if both_present else None,
        "average_precision": M.average_precision(y_true, y_proba) if both_present else None,
        "precision_per_class": per_class["precision"].tolist(),
        "recall_per_class": per_class["recall"].tolist(),
        "f1_per_class": per_class["f1"].tolist(),
        "confusion_matrix": matrix.tolist(),
    }


def _multiclass_metrics(y_proba, y_true, n_classes, threshold=None, confusion=True) -> dict:
    """y_proba (n, C) softmax probabilities, y_true (n,) class indices; the prediction is the argmax."""
    y_true, y_pred = y_true.long().reshape(-1), y_proba.argmax(dim=-1)
    # (confusion=False: the caller counts the nonzero cells itself; C x C is too many numbers past 100)
    matrix = M.confusion_matrix(y_true, y_pred, n_classes) if confusion else None
    tp, fp, fn = M.class_counts(matrix) if confusion else M.label_counts(y_true, y_pred, n_classes)  # (C,) each
    per_class = M.scores_from_counts(tp, fp, fn)
    all_present = int(torch.unique(y_true).numel()) == n_classes
    # One-vs-rest AUROC of each class's column, averaged; undefined unless every class has rows.
    ovr = [M.roc_auc(y_true == k, y_proba[:, k]) for k in range(n_classes)] if all_present else None
    return {
        "accuracy": float(M.ratio(tp.sum(), torch.tensor(y_true.numel()))),
        "balanced_accuracy": M.balanced_accuracy(tp, fn),
        "f1_macro": M.macro(per_class["f1"], tp, fp, fn),
        "f1_weighted": M.weighted(per_class["f1"], tp + fn),
        "roc_auc_ovr": sum(ovr) / n_classes if ovr else None,
        "precision_per_class": per_class["precision"].tolist(),
        "recall_per_class": per_class["recall"].tolist(),
        "f1_per_class": per_class["f1"].tolist(),
        "confusion_matrix": matrix.tolist() if confusion else None,
    }


def _multilabel_metrics(y_proba, y_true, n_classes, threshold=0.5, confusion=True) -> dict:
    """y_proba (n, L) per-label probabilities, y_true (n, L) 0/1; threshold a float or (L,) tensor."""
    y_true = y_true.long()
    y_pred = (y_proba >= torch.as_tensor(threshold, dtype=y_proba.dtype)).long()  # (n, L)
    matrices = M.multilabel_confusion(y_true, y_pred)  # (L, 2, 2): [[TN, FP], [FN, TP]] per label
    tp, fp, fn = matrices[:, 1, 1], matrices[:, 0, 1], matrices[:, 1, 0]
    f1 = M.scores_from_counts(tp, fp, fn)["f1"]
    n_cells = torch.tensor(y_true.numel())
    return {
        "subset_accuracy": float(M.ratio((y_pred == y_true).all(dim=1).sum(), torch.tensor(y_true.shape[0]))),
        "hamming_loss": float(M.ratio(fp.sum() + fn.sum(), n_cells)),
        "f1_micro": float(M.scores_from_counts(tp.sum(), fp.sum(), fn.sum())["f1"]),
        "f1_macro": M.macro(f1, tp, fp, fn, multilabel=True),  # every label counts, even one never seen
        "f1_per_label": f1.tolist(),
        "confusion_matrix": matrices.tolist(),
    }


TASKS: dict[str, Task] = {
    "binary": Task(
        name="binary",
        n_outputs=lambda n_classes: 1,
        loss_class=nn.BCEWithLogitsLoss,
        weight_keyword="pos_weight",
        to_proba=torch.sigmoid,
        main_metric="accuracy",
        uses_threshold=True,
        single_logit=True,
        compute_metrics=_binary_metrics,
        main_counts=_accuracy_counts,
        balanced_weights=_balanced_pos_weight,
        to_soft_targets=_as_float,
    ),
    "multiclass": Task(
        name="multiclass",
        n_outputs=lambda n_classes: n_classes,
        loss_class=nn.CrossEntropyLoss,
        weight_keyword="weight",
        to_proba=_softmax,
        main_metric="accuracy",
        uses_threshold=False,
        single_logit=False,
        compute_metrics=_multiclass_metrics,
        main_counts=_accuracy_counts,
        balanced_weights=_balanced_class_weights,
        to_soft_targets=_one_hot,
    ),
    "multilabel": Task(
        name="multilabel",
        n_outputs=lambda n_labels: n_labels,
        loss_class=nn.BCEWithLogitsLoss,
        weight_keyword="pos_weight",
        to_proba=torch.sigmoid,
        main_metric="f1_micro",
        uses_threshold=True,
        single_logit=False,
        compute_metrics=_multilabel_metrics,
        main_counts=_micro_f1_counts,
        balanced_weights=_balanced_pos_weight,
        to_soft_targets=_as_float,
    ),
}


def get_task(name: str) -> Task:
    """Look a task up by name; unknown names get a ConfigError listing the valid ones."""
    try:
        return TASKS[name]
    except KeyError:
        raise ConfigError(f"unknown task {name!r}: use one of {', '.join(TASK_NAMES)}") from None


def detect_task(n_target_columns: int, n_classes: int, requested: str | None = None) -> str:
    """Choose the task from the target's shape, or check that the requested one fits it.

    n_target_columns: 1 for a single label column, >1 for several 0/1 columns.
    n_classes: distinct values of the single column (ignored for several columns).
    """
    if n_target_columns > 1:
        detected = "multilabel"
    elif n_classes < 2:
        raise DataError(
            f"the target has {n_classes} distinct value(s); a classifier needs at least 2 classes - "
            "check the --target column"
        )
    else:
        detected = "binary" if n_classes == 2 else "multiclass"
    if requested is None or requested == "auto":
        return detected
    get_task(requested)
    if requested == detected:
        return requested
    if requested == "multiclass" and detected == "binary":
        return requested  # two classes through softmax is valid, only redundant
    if requested == "multilabel":
        raise ConfigError(
            "--task multilabel needs several 0/1 target columns (e.g. --target 'tag_*' or 'a,b,c'), "
            "but the target is a single column"
        )
    if detected == "multilabel":
        raise ConfigError(
            f"--task {requested} needs one target column, but {n_target_columns} were given: "
            "name one column, or use --task multilabel"
        )
    raise ConfigError(
        f"--task binary needs exactly 2 classes, but the target has {n_classes}: "
        "use --task multiclass (or leave --task out)"
    )
