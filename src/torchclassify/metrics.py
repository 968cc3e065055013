"""Classification metrics in torch: counts, precision / recall / F1, ROC and precision-recall curves, areas.

What `tasks.py` reports and the pictures draw, computed in float64 from the predictions. They follow
torchmetrics' conventions (a ratio with nothing to count is 0.0; a macro average skips a class that is
neither present nor predicted, multilabel excepted) and scikit-learn's curve definitions; tests/test_metrics_oracle.py
checks every value against both. Written here because importing torchmetrics or sklearn.metrics imports
scipy, about a second of every run's start-up.
"""

from __future__ import annotations

import torch


def confusion_matrix(y_true: torch.Tensor, y_pred: torch.Tensor, n_classes: int) -> torch.Tensor:
    """(C, C) int64 counts, rows the true class and columns the predicted one. y_true, y_pred: (n,) in [0, C)."""
    cells = y_true.long().reshape(-1) * n_classes + y_pred.long().reshape(-1)
    return torch.bincount(cells, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def label_counts(y_true: torch.Tensor, y_pred: torch.Tensor, n_classes: int) -> tuple[torch.Tensor, ...]:
    """(TP, FP, FN), (C,) int64 each, counted from the labels: class_counts of the confusion matrix without
    its C x C cells (which past a few thousand classes take gigabytes). y_true, y_pred: (n,) in [0, C)."""
    y_true, y_pred = y_true.long().reshape(-1), y_pred.long().reshape(-1)
    tp = torch.bincount(y_true[y_true == y_pred], minlength=n_classes)
    return tp, torch.bincount(y_pred, minlength=n_classes) - tp, torch.bincount(y_true, minlength=n_classes) - tp


def multilabel_confusion(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """(L, 2, 2) int64: each label's [[TN, FP], [FN, TP]]. y_true, y_pred: (n, L) 0/1."""
    truth, pred = y_true.long().bool(), y_pred.long().bool()
    tp = (truth & pred).sum(0)
    fp = (~truth & pred).sum(0)
    fn = (truth & ~pred).sum(0)
    tn = truth.shape[0] - tp - fp - fn
    return torch.stack([tn, fp, fn, tp], dim=1).reshape(-1, 2, 2)


def ratio(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """numerator / denominator in float64, 0.0 where the denominator is 0 (torchmetrics' zero division)."""
    numerator, denominator = numerator.double(), denominator.double()
    return torch.where(denominator == 0, torch.zeros_like(numerator), numerator / denominator.clamp_min(1e-300))


def scores_from_counts(tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-class precision, recall and F1, (K,) float64 each, from (K,) counts; 0.0 where undefined."""
    return {"precision": ratio(tp, tp + fp), "recall": ratio(tp, tp + fn), "f1": ratio(2 * tp, 2 * tp + fp + fn)}


def class_counts(matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(TP, FP, FN), (C,) each, of every class of a (C, C) confusion matrix (rows true, columns predicted)."""
    tp = matrix.diagonal()
    return tp, matrix.sum(0) - tp, matrix.sum(1) - tp


def macro(score: torch.Tensor, tp, fp, fn, multilabel: bool = False) -> float:
    """The plain mean of per-class scores (K,); single-label tasks leave out the classes neither present nor
    predicted (TP + FP + FN = 0), as torchmetrics does. 0.0 when nothing is left."""
    keep = torch.ones_like(score, dtype=torch.bool) if multilabel else (tp + fp + fn) > 0
    return float(ratio(score[keep].sum(), torch.tensor(int(keep.sum()))))


def balanced_accuracy(tp: torch.Tensor, fn: torch.Tensor) -> float:
    """Mean recall over the classes that have rows (TP + FN > 0), from (C,) counts: scikit-learn's
    balanced_accuracy_score. A class that is only predicted has no recall to average (torchmetrics' macro
    recall counts it as 0, so on rows of one class it halved a perfect score). 0.0 without rows."""
    present = (tp + fn) > 0
    return float(ratio(ratio(tp, tp + fn)[present].sum(), torch.tensor(int(present.sum()))))


def weighted(score: torch.Tensor, support: torch.Tensor) -> float:
    """Per-class scores (K,) averaged with weights support (K,) (rows of each class); 0.0 without rows."""
    return float(ratio((score * support.double()).sum(), support.sum()))


def _curve_points(y_true: torch.Tensor, y_score: torch.Tensor):
    """Cumulative (FP, TP) counts at each distinct score, from the highest down, and those scores.

    Returns fps, tps (k,) float64 and thresholds (k,): a row counts as positive when its score is >= the
    threshold. Tied scores form one point, so a curve never orders rows the scores cannot tell apart.
    """
    y_score = y_score.double().reshape(-1)
    order = torch.argsort(y_score, descending=True, stable=True)
    y_score, truth = y_score[order], y_true.reshape(-1)[order].double()
    last = torch.cat([torch.nonzero(y_score[1:] != y_score[:-1]).reshape(-1),
                      torch.tensor([y_score.numel() - 1])])  # the last row of each run of tied scores
    tps = torch.cumsum(truth, 0)[last]
    return (last + 1).double() - tps, tps, y_score[last]


def roc_curve(y_true: torch.Tensor, y_score: torch.Tensor):
    """(fpr, tpr, thresholds) as scikit-learn's roc_curve draws it (collinear points dropped; the first point
    (0, 0) at threshold inf). y_true: (n,) 0/1 with both outcomes; y_score: (n,) higher means positive."""
    fps, tps, thresholds = _curve_points(y_true, y_score)
    if fps.numel() > 2:  # keep the ends and every corner: a point on a straight segment adds nothing
        corner = (torch.diff(fps, n=2) != 0) | (torch.diff(tps, n=2) != 0)
        keep = torch.cat([torch.tensor([True]), corner, torch.tensor([True])])
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    zero = torch.zeros(1, dtype=torch.float64)
    fps, tps = torch.cat([zero, fps]), torch.cat([zero, tps])
    thresholds = torch.cat([torch.tensor([float("inf")], dtype=torch.float64), thresholds])
    return fps / fps[-1], tps / tps[-1], thresholds


def precision_recall_curve(y_true: torch.Tensor, y_score: torch.Tensor):
    """(precision, recall, thresholds) as scikit-learn's precision_recall_curve gives them: thresholds
    ascending, precision and recall one longer, ending at (precision 1, recall 0). y_true (n,) 0/1."""
    fps, tps, thresholds = _curve_points(y_true, y_score)
    precision = ratio(tps, tps + fps)
    recall = torch.ones_like(tps) if tps[-1] == 0 else tps / tps[-1]
    one, zero = torch.ones(1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
    return torch.cat([precision.flip(0), one]), torch.cat([recall.flip(0), zero]), thresholds.flip(0)


def average_precision(y_true: torch.Tensor, y_score: torch.Tensor) -> float:
    """Sum over distinct thresholds of (recall gained) x precision there: the step area under the PR curve,
    not a trapezoid (scikit-learn's definition). y_true (n,) 0/1 with a positive; y_score (n,)."""
    return curve_average_precision(*precision_recall_curve(y_true, y_score)[:2])


def curve_average_precision(precision: torch.Tensor, recall: torch.Tensor) -> float:
    """average_precision of a precision_recall_curve already drawn (recall descending to 0)."""
    return float(-(torch.diff(recall) * precision[:-1]).sum())


def roc_auc(y_true: torch.Tensor, y_score: torch.Tensor) -> float:
    """Area under the ROC curve (scikit-learn's roc_auc_score): the trapezoids under roc_curve's points, so the
    number the metrics report is the one the ROC picture's legend shows. Tied scores make one point, so a tie
    counts half. y_true (n,) 0/1 with both outcomes; y_score (n,)."""
    fpr, tpr, _ = roc_curve(y_true, y_score)
    return auc(fpr, tpr)


def auc(x: torch.Tensor, y: torch.Tensor) -> float:
    """Trapezoid area under the points (x, y), x monotone (a ROC curve's fpr, tpr)."""
    x, y = x.double(), y.double()
    return float(abs(torch.trapezoid(y, x)))


def log_loss(p_true: torch.Tensor) -> float:
    """Mean negative log of the probability each row gave its true outcome (n,) (scikit-learn's log_loss once
    the probabilities are gathered), clipped at 1e-15 so that a confident mistake costs 34.5, not infinity."""
    return float(-torch.log(p_true.double().clamp(1e-15, 1.0)).mean()) if p_true.numel() else 0.0


def calibration_error(confidence: torch.Tensor, correct: torch.Tensor, n_bins: int = 15) -> float:
    """Expected calibration error: rows binned by the probability of their predicted outcome (n,) in
    n_bins equal-width bins over [0, 1]; the bins' |accuracy - mean confidence| weighted by their share of
    the rows (torchmetrics' CalibrationError, norm "l1"). correct: (n,) whether that prediction was right.
    0 means the probabilities say how often the model is right; 0.0 without rows."""
    if not confidence.numel():
        return 0.0
    confidence, correct = confidence.double().reshape(-1), correct.double().reshape(-1)
    bins = (torch.bucketize(confidence, torch.linspace(0, 1, n_bins + 1, dtype=torch.float64), right=True) - 1)
    bins = bins.clamp(0, n_bins - 1)
    gap = torch.bincount(bins, weights=correct - confidence, minlength=n_bins)  # sum of (right - confidence)
    return float(gap.abs().sum() / confidence.numel())


def probability_scores(y_proba: torch.Tensor, y_true: torch.Tensor) -> dict[str, float]:
    """How honest the probabilities are: log_loss and calibration_error (top-label, 15 bins).

    y_proba, y_true: binary (n,) P(positive) and 0/1; multiclass (n, C) and (n,) class indices; multilabel
    (n, L) and (n, L) 0/1, each label scored as a binary task and the L scores averaged (as the benchmarks'
    multilabel log-loss). The prediction behind the confidence is the most probable outcome (a binary one
    at 0.5, positive at exactly 0.5 as `predict` says), whatever decision threshold the classifier uses.
    """
    if y_true.ndim == 2:
        scores = [probability_scores(y_proba[:, j], y_true[:, j]) for j in range(y_true.shape[1])]
        return {key: sum(s[key] for s in scores) / max(len(scores), 1) for key in ("log_loss", "calibration_error")}
    y_proba, y_true = y_proba.double(), y_true.long().reshape(-1)
    if y_proba.ndim == 1:
        predicted = (y_proba >= 0.5).long()  # (a tie goes to the positive class, as Task.predict's threshold)
        y_proba = torch.stack([1 - y_proba, y_proba], dim=1)  # (n, 2): the two outcomes' probabilities
        confidence = y_proba.gather(1, predicted.unsqueeze(1)).squeeze(1)
    else:
        confidence, predicted = y_proba.max(dim=1)
    p_true = y_proba.gather(1, y_true.unsqueeze(1)).squeeze(1)
    return {"log_loss": log_loss(p_true), "calibration_error": calibration_error(confidence, predicted == y_true)}
