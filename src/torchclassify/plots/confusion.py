"""Confusion matrices: counts and row shares per class, or one 2x2 matrix per label (multilabel)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .. import metrics
from . import _inputs, _style

MAX_VALUES = 12  # beyond this many classes, numbers in the cells are unreadable: colour only
MAX_TICKS = 25  # beyond this many classes, label every k-th class only
MAX_CLASSES = 50  # a matrix of more classes draws the most frequent ones (metrics.json has every count)


def _counts(y_true: np.ndarray, y_pred: np.ndarray, codes: list[int]) -> np.ndarray:
    """(K, K) int64 counts among the classes `codes` (sorted class indices): rows whose true or predicted
    class is not among them are left out, as they are of a picture that shows only those classes."""
    position = np.full(max(codes[-1], int(y_true.max(initial=0)), int(y_pred.max(initial=0))) + 1, -1)
    position[codes] = np.arange(len(codes))
    true_at, pred_at = position[y_true], position[y_pred]
    kept = (true_at >= 0) & (pred_at >= 0)
    return metrics.confusion_matrix(torch.as_tensor(true_at[kept]), torch.as_tensor(pred_at[kept]), len(codes)).numpy()


class ConfusionMatrixDisplay(_style.Display):
    """Rows are the true class, columns the predicted one.

    confusion_matrix: (C, C) counts (binary and multiclass) or (L, 2, 2) per label (multilabel: rows and
    columns "no", "yes"). normalised: (C, C) shares of each true class (None for multilabel).
    y_pred: the encoded predictions the matrix counts. After plot: figure_, axes_.
    """

    def __init__(self, *, y_true, y_pred, task: str, class_names: Sequence[str]):
        self.y_true, self.y_pred, self.task = np.asarray(y_true), np.asarray(y_pred), task
        self.class_names = [str(c) for c in class_names]
        codes = list(range(len(self.class_names)))
        if task == "multilabel":
            self.confusion_matrix = metrics.multilabel_confusion(torch.as_tensor(self.y_true.astype(np.int64)),
                                                                 torch.as_tensor(self.y_pred)).numpy()
            self.normalised = None
        else:
            self.n_classes_all, rows = len(codes), np.bincount(self.y_true.astype(np.int64), minlength=len(codes))
            if len(codes) > MAX_CLASSES:  # the most frequent true classes only, in class order: said in the title
                codes = sorted(np.argsort(-rows, kind="stable")[:MAX_CLASSES].tolist())
                self.class_names = [self.class_names[k] for k in codes]
            self.confusion_matrix = _counts(self.y_true.astype(np.int64), self.y_pred, codes)
            totals = rows[codes][:, None]  # every row of a class, also those predicted as a class not shown
            with np.errstate(invalid="ignore", divide="ignore"):  # a class absent from the split: a row of 0
                self.normalised = np.nan_to_num(self.confusion_matrix / totals)

    @classmethod
    def from_predictions(cls, y_true, y_proba, *, class_names: Sequence[str] | None = None, threshold=0.5,
                         axes=None) -> "ConfusionMatrixDisplay":
        """y_true: (n,) class indices or (n, L) 0/1; y_proba: (n,) P(positive), (n, C) or (n, L).
        Predictions: argmax (multiclass) or probability >= threshold (scalar or one per label)."""
        y_true, y_pred, task, names = _inputs.decided(y_true, y_proba, threshold, class_names)
        return cls(y_true=y_true, y_pred=y_pred, task=task, class_names=names).plot(axes)

    def plot(self, axes=None) -> "ConfusionMatrixDisplay":
        if self.task == "multilabel":
            return self._plot_per_label(axes)
        n = len(self.class_names)
        side = float(np.clip(0.42 * n + 1.2, 2.4, 8.0))  # inches per matrix
        created = axes is None
        fig, panel_axes = _style.axes_for(axes, 2, panel=(side, side))
        if created:  # class names of any length on both axes: the layout engine makes room for them
            fig.set_layout_engine("constrained")
        self.figure_, self.axes_ = fig, panel_axes
        ticks = _style.short_names(self.class_names, 14, 2)
        values = n <= MAX_VALUES
        _matrix(panel_axes[0], self.confusion_matrix, ticks, ticks, "d" if values else None, side)
        _matrix(panel_axes[1], self.normalised, ticks, ticks, ".2f" if values else None, side, vmax=1.0)
        panel_axes[0].set_title("counts", fontsize=10)
        panel_axes[1].set_title("share of each true class", fontsize=10)
        if getattr(self, "n_classes_all", n) > n:
            fig.suptitle(f"the {n} most frequent of {self.n_classes_all} classes (other classes left out)",
                         fontsize=9)
        return self

    def _plot_per_label(self, axes) -> "ConfusionMatrixDisplay":
        # Short "no"/"yes" ticks with the label as the title: "not mood_happy" / "mood_happy" on every tick
        # ran into each other.
        n = len(self.class_names)
        created = axes is None
        fig, panel_axes = _style.axes_for(axes, n, min(n, 4), panel=(2.2, 2.2))
        if created:
            fig.set_layout_engine("constrained")
        self.figure_, self.axes_ = fig, panel_axes
        for ax, name, matrix in zip(panel_axes, self.class_names, self.confusion_matrix):
            _matrix(ax, matrix, ["no", "yes"], ["no", "yes"], "d", 2.2)
            ax.set_title(_style.short_name(name, 22, 2), fontsize=10)
        return self


def _matrix(ax, matrix: np.ndarray, x_ticks: list[str], y_ticks: list[str], values_format: str | None,
            side: float, vmax: float | None = None) -> None:
    """One matrix on ax: Blues shading, each cell's value in white on dark cells and dark on pale ones."""
    n = len(x_ticks)
    vmax = vmax if vmax is not None else max(float(matrix.max()), 1.0)
    ax.imshow(matrix, cmap="Blues", vmin=0, vmax=vmax, interpolation="nearest")
    if values_format:
        size = 9 if n <= 6 else 7
        for (i, j), value in np.ndenumerate(matrix):
            ax.text(j, i, format(value, values_format), ha="center", va="center", fontsize=size,
                    color="white" if value > 0.55 * vmax else _style.EDGE)
    step = int(np.ceil(n / MAX_TICKS))
    positions = np.arange(0, n, step)
    size = 9 if n <= 8 else 8 if n <= 16 else 7
    ax.set_xticks(positions, [x_ticks[k] for k in positions], fontsize=size)
    ax.set_yticks(positions, [y_ticks[k] for k in positions], fontsize=size)
    # Turn the column names upright when the widest line would not fit its cell (~0.075 in per character at
    # 9 pt): upright names never run into each other, whatever their length.
    widest = max(len(line) for tick in x_ticks for line in tick.split("\n"))
    if widest * 0.075 * size / 9 > 0.9 * side / n:
        for label in ax.get_xticklabels():
            label.set(rotation=90, ha="center")
    ax.set_xlabel("predicted", fontsize=9)
    ax.set_ylabel("true", fontsize=9)


def plot_confusion_matrix(classifier, X, y, *, axes=None) -> ConfusionMatrixDisplay:
    """Confusion matrices of the model on raw rows: ConfusionMatrixDisplay.from_predictions."""
    classifier = _inputs.as_classifier(classifier)
    y_true, y_proba = _inputs.scores(classifier, X, y)
    return ConfusionMatrixDisplay.from_predictions(y_true, y_proba, axes=axes, **_inputs.evaluation_kwargs(classifier))
