"""Metrics for a finished model (`metrics.py`, chosen by the task table), their printed tables, and the
decision threshold chosen on validation rows."""

from __future__ import annotations

import numpy as np
import torch

from . import metrics as M
from .errors import printable
from .metrics import precision_recall_curve
from .tasks import Task

PER_CLASS_KEYS = ("precision_per_class", "recall_per_class", "f1_per_class", "f1_per_label")
# Past this many classes the C x C confusion matrix is stored as its nonzero cells: 2,000 classes would be
# 4 million numbers (88 MB of metrics.json) for a few thousand rows.
MAX_MATRIX_CLASSES = 100


def sparse_confusion(y_true: torch.Tensor, y_pred: torch.Tensor, n_classes: int) -> dict:
    """The (C, C) confusion matrix as its nonzero cells, counted from the rows without building the matrix:
    at most one cell per evaluated row, whatever C is. y_true, y_pred: (n,) class indices."""
    pairs, counts = torch.unique(torch.stack([y_true.long(), y_pred.long()], dim=1), dim=0, return_counts=True)
    return {"confusion_matrix": None,
            "confusion_matrix_cells": [[int(t), int(p), int(c)] for (t, p), c in zip(pairs.tolist(), counts.tolist())],
            "confusion_matrix_note": f"{n_classes} classes: the {n_classes}x{n_classes} matrix is stored as its "
                                     "nonzero cells in confusion_matrix_cells, [true class index, predicted class "
                                     "index, rows], class indices as in classes"}


def compute_metrics(task: Task, y_proba: torch.Tensor, y_true: torch.Tensor, classes: list,
                    threshold: float = 0.5) -> dict:
    """All metrics of the task as JSON-ready values; per-class lists become {class name: value}.

    y_proba: binary (n,), otherwise (n, n_classes); y_true: encoded targets of the same task.
    """
    y_proba, y_true = y_proba.detach().float().cpu(), y_true.cpu()
    sparse = y_true.ndim == 1 and len(classes) > MAX_MATRIX_CLASSES
    metrics = task.compute_metrics(y_proba, y_true, len(classes), threshold, confusion=not sparse)
    metrics.update(M.probability_scores(y_proba, y_true))  # log_loss, calibration_error
    for key in PER_CLASS_KEYS:
        if key in metrics:
            metrics[key] = {str(c): v for c, v in zip(classes, metrics[key])}
    if sparse:
        metrics.update(sparse_confusion(y_true, task.to_labels(y_proba, threshold), len(classes)))
    metrics["n_samples"] = int(y_true.shape[0])
    metrics["classes"] = [c if isinstance(c, (int, float, str, bool)) else str(c) for c in classes]
    return metrics


THRESHOLD_OBJECTIVE = "the F1 score of the positive class on the validation split (each label's own, multilabel)"


def choose_threshold(y_proba: torch.Tensor, y_true: torch.Tensor) -> float | list[float]:
    """The threshold of best F1 for the positive class, from validation rows only.

    y_proba, y_true: binary (n,), or multilabel (n, L) for one threshold per label. F1 rather than accuracy:
    on an imbalanced table accuracy is best at a threshold that rarely predicts the rare class, which is the
    problem `--threshold auto` is for. A label without positives in the validation rows keeps 0.5.
    """
    if y_proba.ndim == 2:
        return [float(choose_threshold(y_proba[:, j], y_true[:, j])) for j in range(y_proba.shape[1])]
    if y_true.min() == y_true.max():
        return 0.5
    precision, recall, thresholds = (t.numpy() for t in precision_recall_curve(y_true, y_proba.double()))
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    best = thresholds[f1 == f1.max()]
    # Among equally good thresholds, the one nearest 0.5: the least surprising cut.
    return float(np.clip(best[np.argmin(np.abs(best - 0.5))], 1e-6, 1 - 1e-6))


def format_metrics(metrics_by_split: dict[str, dict]) -> str:
    """A plain-text table: one row per scalar metric, one column per split (valid, test, ...)."""
    splits = [s for s, m in metrics_by_split.items() if m]
    if not splits:
        return "(no evaluation split)"
    names = []
    for split in splits:
        for key, value in metrics_by_split[split].items():
            if (isinstance(value, float) or value is None) and key not in names:
                names.append(key)
    width = max(len(n) for n in names + ["metric"])
    lines = [f"{'metric':<{width}}  " + "  ".join(f"{s:>8}" for s in splits)]
    for name in names:
        cells = []
        for split in splits:
            value = metrics_by_split[split].get(name)
            cells.append(f"{'-':>8}" if value is None else f"{value:>8.4f}")
        lines.append(f"{name:<{width}}  " + "  ".join(cells))
    lines.append(f"{'rows':<{width}}  " + "  ".join(f"{metrics_by_split[s]['n_samples']:>8}" for s in splits))
    for split in splits:
        per_class = _per_class_table(metrics_by_split[split])
        if per_class:
            lines += ["", f"per class ({split}):", per_class]
    return "\n".join(lines)


def _per_class_table(metrics: dict) -> str:
    keys = [k for k in PER_CLASS_KEYS if k in metrics]
    if not keys:
        return ""
    classes = list(metrics[keys[0]])
    shown = {name: printable(name) for name in classes}  # escaped before the width is measured
    width = max(len(c) for c in [*shown.values(), "class"])
    short = {k: k.replace("_per_class", "").replace("_per_label", "") for k in keys}
    lines = [f"  {'class':<{width}}  " + "  ".join(f"{short[k]:>9}" for k in keys)]
    for name in classes[:50]:
        lines.append(f"  {shown[name]:<{width}}  " + "  ".join(f"{metrics[k][name]:>9.4f}" for k in keys))
    if len(classes) > 50:
        lines.append(f"  ... {len(classes) - 50} more in metrics.json")
    return "\n".join(lines)
