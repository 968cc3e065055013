"""Curves of a model's predictions on one split: ROC, precision-recall and the reliability diagram.

Each Display is built from predictions (`from_predictions(y_true, y_proba, ...)`), so the report predicts
a split once and hands the same arrays to every picture.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .. import metrics
from . import _inputs, _style

CHANCE_COLOUR = "0.45"  # the diagonal: grey that still reads on white
FEW_ROWS = 10  # a reliability bin with fewer rows than this says little: drawn faded
MAX_CURVES = 12  # one-vs-rest curves drawn at most: the most frequent classes (the title says so)


def _names(y_true, y_proba, class_names):
    return [str(c) for c in class_names] if class_names is not None else _inputs.default_names(y_true, y_proba)


class _OneVsRestDisplay(_style.Display):
    """Shared by ROC and precision-recall: one curve per class (one-vs-rest), per label, or binary's one.

    curves: {name: (x, y) arrays}; scores: {name: AUC or average precision}; skipped: names with one
    outcome only in this split (the curve is undefined). After plot: figure_, axes_ ([ax]).
    """

    kind = ""

    def __init__(self, *, curves: dict, scores: dict, skipped: list, task: str):
        self.curves, self.scores, self.skipped, self.task = curves, scores, skipped, task

    @classmethod
    def from_predictions(cls, y_true, y_proba, *, class_names: Sequence[str] | None = None, threshold=None,
                         ax=None):
        """y_true: (n,) class indices or (n, L) 0/1; y_proba: (n,) P(positive), (n, C) or (n, L).
        threshold is accepted (and unused) so every evaluation Display takes the same arguments."""
        y_true, y_proba = np.asarray(y_true), np.asarray(y_proba, dtype=np.float64)
        curves, scores, skipped = {}, {}, []
        pairs = _inputs.one_vs_rest(y_true, y_proba, _names(y_true, y_proba, class_names))
        n_all = len(pairs)
        if n_all > MAX_CURVES:  # the most frequent classes only: 2,000 curves are neither readable nor quick
            order = sorted(range(n_all), key=lambda k: -int(pairs[k][1].sum()))
            pairs = [pairs[k] for k in sorted(order[:MAX_CURVES])]
        for name, truth, score in pairs:
            if truth.min() == truth.max():  # undefined without both outcomes in this split
                skipped.append(name)
                continue
            curves[name], scores[name] = cls._curve(truth, score)
        display = cls(curves=curves, scores=scores, skipped=skipped, task=_inputs.task_of(y_true, y_proba))
        display.n_classes = n_all
        return display.plot(ax)

    def plot(self, ax=None):
        fig, (ax,) = _style.axes_for(ax, 1, panel=(3.9, 3.3))
        self.figure_, self.axes_ = fig, [ax]
        labels = _style.short_names(self.curves, 18, 1)
        for (name, (x, y)), colour, label in zip(self.curves.items(), _style.line_colours(len(self.curves)), labels):
            self._draw(ax, x, y, colour, f"{label} ({self.short} {self.scores[name]:.3f})")
        ax.set_xlim(-0.01, 1.01)
        ax.set_ylim(-0.01, 1.01)
        if self.skipped:
            names = ", ".join(self.skipped[:5]) + (f" and {len(self.skipped) - 5} more" if len(self.skipped) > 5 else "")
            ax.text(0.02, 0.02 if self.kind == "roc" else 0.5, f"not drawn (one outcome only): {names}",
                    transform=ax.transAxes, fontsize=7, color="0.3")
        per = {"binary": "", "multilabel": " per label", "multiclass": " per class (one-vs-rest)"}[self.task]
        n_all = getattr(self, "n_classes", 0)
        drawn = len(self.curves) + len(self.skipped)
        if n_all > drawn:  # say that the picture shows only some classes, and which
            per += f"\nthe {drawn} most frequent of {n_all} {'labels' if self.task == 'multilabel' else 'classes'}"
        ax.set_title(self.title + per, fontsize=10)
        ax.legend(fontsize=7, loc=self.legend_at)
        ax.grid(alpha=0.3)
        return self


class RocCurveDisplay(_OneVsRestDisplay):
    """ROC curves; scores are the areas under them (AUC)."""

    kind, short, title, legend_at = "roc", "AUC", "ROC curve", "lower right"

    @staticmethod
    def _curve(truth, score):
        fpr, tpr, _ = metrics.roc_curve(torch.as_tensor(truth), torch.as_tensor(score))
        return (fpr.numpy(), tpr.numpy()), metrics.auc(fpr, tpr)

    def _draw(self, ax, x, y, colour, label):
        ax.plot(x, y, color=colour, label=label)

    def plot(self, ax=None):
        super().plot(ax)
        self.ax_.plot([0, 1], [0, 1], color=CHANCE_COLOUR, ls=":", lw=1, label="chance")
        self.ax_.legend(fontsize=7, loc=self.legend_at)
        self.ax_.set_xlabel("false positive rate")
        self.ax_.set_ylabel("true positive rate")
        return self


class PrecisionRecallDisplay(_OneVsRestDisplay):
    """Precision-recall curves (x: recall, y: precision); scores are the average precisions."""

    kind, short, title, legend_at = "pr", "AP", "precision-recall curve", "lower left"

    @staticmethod
    def _curve(truth, score):
        precision, recall, _ = metrics.precision_recall_curve(torch.as_tensor(truth), torch.as_tensor(score))
        return (recall.numpy(), precision.numpy()), metrics.curve_average_precision(precision, recall)

    def _draw(self, ax, x, y, colour, label):
        ax.step(x, y, where="post", color=colour, label=label)

    def plot(self, ax=None):
        super().plot(ax)
        self.ax_.set_xlabel("recall")
        self.ax_.set_ylabel("precision")
        return self


class CalibrationDisplay(_style.Display):
    """Reliability diagram: mean predicted probability against observed frequency per bin.

    bins: {name: (predicted (k,), observed (k,), counts (k,))} over the k non-empty bins of n_bins equal
    bins of [0, 1]; each curve's counts sum to the rows. Binary: P(positive); multiclass: the top-class
    confidence against how often the top class is right; multilabel: one panel per label (the MAX_CURVES
    most frequent). Each bin shows its rows beside its marker, whose area grows with them; a bin under
    few_rows rows is hollow and faded, and the line joins only neighbouring bins that are not, so one
    stray row cannot draw a zig-zag. After plot: figure_, axes_ (one per curve, or the one given).
    """

    def __init__(self, *, bins: dict, task: str, n_rows: int, few_rows: int = FEW_ROWS, n_curves: int | None = None):
        self.bins, self.task, self.n_rows, self.few_rows = bins, task, n_rows, few_rows
        self.n_curves = len(bins) if n_curves is None else n_curves  # before keeping the most frequent

    @classmethod
    def from_predictions(cls, y_true, y_proba, *, class_names: Sequence[str] | None = None, threshold=None,
                         n_bins: int = 10, ax=None) -> "CalibrationDisplay":
        """y_true: (n,) class indices or (n, L) 0/1; y_proba: (n,) P(positive), (n, C) or (n, L).
        ax: None (a new figure, one panel per curve), one Axes (every curve on it) or a panel per curve."""
        y_true, y_proba = np.asarray(y_true), np.asarray(y_proba, dtype=np.float64)
        task = _inputs.task_of(y_true, y_proba)
        if task == "multiclass":
            curves = [("top class", (y_proba.argmax(axis=1) == y_true).astype(int), y_proba.max(axis=1))]
        else:
            curves = _inputs.one_vs_rest(y_true, y_proba, _names(y_true, y_proba, class_names))
        n_curves = len(curves)
        if n_curves > MAX_CURVES:  # the most frequent labels, in label order, as the ROC curves do
            order = sorted(range(n_curves), key=lambda k: -int(curves[k][1].sum()))
            curves = [curves[k] for k in sorted(order[:MAX_CURVES])]
        bins = {name: reliability_bins(truth, score, n_bins) for name, truth, score in curves}
        return cls(bins=bins, task=task, n_rows=len(y_true), n_curves=n_curves).plot(ax)

    def plot(self, ax=None) -> "CalibrationDisplay":
        n = len(self.bins)
        one_axes = ax is not None and not isinstance(ax, (list, tuple, np.ndarray))
        n_panels = 1 if one_axes else max(n, 1)
        # Several labels on one panel crossed each other and left no room for the counts: one panel each.
        # Two panels a row up to four labels: three across were scaled to half size in an 800 px page.
        fig, axes = _style.axes_for(ax, n_panels, 2 if n_panels <= 4 else 3, panel=(3.6, 3.0), top=0.75,
                                    left=0.75, wspace=0.6, hspace=0.9)
        self.figure_, self.axes_ = fig, axes
        colours = _style.line_colours(n)
        for k, (name, (predicted, observed, counts)) in enumerate(self.bins.items()):
            target = axes[0 if one_axes else k]
            self._curve(target, name, predicted, observed, counts, colours[k], counts_beside=n_panels > 1 or n == 1)
        what = " (top class)" if self.task == "multiclass" else ""
        for k, target in enumerate(axes):
            target.plot([0, 1], [0, 1], color=CHANCE_COLOUR, ls=":", lw=1, label="perfectly calibrated", zorder=1)
            target.set_xlabel("mean predicted probability" + what, fontsize=9)
            target.set_ylabel("observed frequency", fontsize=9)
            target.set_xlim(-0.02, 1.02)
            target.set_ylim(-0.05, 1.08)
            target.grid(alpha=0.3)
            if n_panels > 1:
                target.set_title(_style.short_name(list(self.bins)[k], 30, 1), fontsize=9)
            else:
                target.legend(fontsize=7, loc="upper left")
        rule = f"numbers: rows per bin; hollow, not joined: under {self.few_rows} rows"
        title = "reliability diagram" + (f", the {n} most frequent of {self.n_curves} labels"
                                         if self.n_curves > n else "")
        if n_panels > 1:
            fig.suptitle(f"{title}\n{rule}", fontsize=9, y=1 - 0.08 / fig.get_figheight())
        else:
            axes[0].set_title(f"{title}\n{rule}" if n == 1 else f"{title}\n{rule.split('; ')[1]}", fontsize=8)
        return self

    def _curve(self, ax, name, predicted, observed, counts, colour, counts_beside: bool) -> None:
        """One curve: the line through the trusted bins, solid and hollow markers, each bin's row count."""
        few = counts < self.few_rows
        sizes = 12 + 260 * counts / max(self.n_rows, 1)  # marker area grows with the rows in the bin
        # The line breaks at a thin bin (NaN) rather than jumping over it: a straight line across a gap of
        # thin bins would claim a calibration that no rows measured.
        ax.plot(predicted, np.where(few, np.nan, observed), color=colour, lw=1.3,
                label=_style.short_name(name, 18, 1), zorder=2)
        ax.scatter(predicted[~few], observed[~few], s=sizes[~few], color=colour, edgecolors="white",
                   linewidths=0.6, zorder=3)
        ax.scatter(predicted[few], observed[few], s=sizes[few], facecolors="none", edgecolors=colour,
                   alpha=0.45, linewidths=1.0, zorder=3)
        if counts_beside:
            for x, y, count, faded in zip(predicted, observed, counts, few):
                # Inside the axes whatever the corner: left of points near the right edge, below those near
                # the top.
                offset = (-4 if x > 0.85 else 4, -10 if y > 0.9 else 5)
                ax.annotate(str(int(count)), (x, y), xytext=offset, textcoords="offset points", fontsize=7,
                            ha="right" if x > 0.85 else "left", color="0.25" if not faded else "0.55")


def reliability_bins(truth: np.ndarray, score: np.ndarray, n_bins: int):
    """(predicted, observed, counts) over the non-empty of n_bins equal bins of [0, 1].

    The same bins as sklearn.calibration.calibration_curve (strategy "uniform"), plus the row counts.
    """
    score = np.clip(np.asarray(score, dtype=np.float64), 0.0, 1.0)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.searchsorted(edges[1:-1], score)  # (n,) bin of each row
    total = np.bincount(index, minlength=n_bins)
    seen = total > 0
    predicted = np.bincount(index, weights=score, minlength=n_bins)[seen] / total[seen]
    observed = np.bincount(index, weights=truth, minlength=n_bins)[seen] / total[seen]
    return predicted, observed, total[seen]


def _evaluation(display_class, classifier, X, y, **options):
    classifier = _inputs.as_classifier(classifier)
    y_true, y_proba = _inputs.scores(classifier, X, y)
    return display_class.from_predictions(y_true, y_proba, **_inputs.evaluation_kwargs(classifier), **options)


def plot_roc(classifier, X, y, *, ax=None) -> RocCurveDisplay:
    """ROC curves of the model on raw rows, one per class (one-vs-rest) or label; AUC in the legend."""
    return _evaluation(RocCurveDisplay, classifier, X, y, ax=ax)


def plot_precision_recall(classifier, X, y, *, ax=None) -> PrecisionRecallDisplay:
    """Precision-recall curves of the model on raw rows; average precision in the legend."""
    return _evaluation(PrecisionRecallDisplay, classifier, X, y, ax=ax)


def plot_calibration(classifier, X, y, *, n_bins: int = 10, ax=None) -> CalibrationDisplay:
    """Reliability diagram of the model on raw rows (see CalibrationDisplay)."""
    return _evaluation(CalibrationDisplay, classifier, X, y, n_bins=n_bins, ax=ax)
