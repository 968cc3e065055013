"""Pictures of a classifier, as scikit-learn Displays: `XDisplay.from_*(...)` computes, `.plot(ax=)` draws.

Every Display exposes figure_, axes_ (ax_ for the first) and the numbers it drew. Figures are plain
`matplotlib.figure.Figure` objects on the Agg canvas (no pyplot, no display needed); matplotlib is imported
inside this package only, and only when a picture is drawn. Nothing here moves a model or changes its
train/eval mode. The `plot_*` functions take a TrainedClassifier (or Run) and raw rows, predict once, and
return the Display.

    boundary     DecisionBoundaryDisplay    (from_classifier: the model on a grid)
    curves       TrainingCurvesDisplay      (from_history)
    confusion    ConfusionMatrixDisplay     (from_predictions)
    evaluation   RocCurveDisplay, PrecisionRecallDisplay, CalibrationDisplay (from_predictions)
    images       ImageGridDisplay           (from_predictions: test images, misclassified first)
    search       ComparisonCurvesDisplay, SearchHistoryDisplay, LRFinderDisplay (compare, tune, lr-find)
"""

from __future__ import annotations

from ._inputs import classifier_from_model, scores
from ._style import Display, import_matplotlib
from .boundary import DecisionBoundaryDisplay, plot_decision_boundary
from .confusion import ConfusionMatrixDisplay, plot_confusion_matrix
from .curves import TrainingCurvesDisplay, plot_training_curves
from .evaluation import (
                         CalibrationDisplay,
                         PrecisionRecallDisplay,
                         RocCurveDisplay,
                         plot_calibration,
                         plot_precision_recall,
                         plot_roc,
)

__all__ = [
    "Display", "DecisionBoundaryDisplay", "TrainingCurvesDisplay", "ConfusionMatrixDisplay", "RocCurveDisplay",
    "PrecisionRecallDisplay", "CalibrationDisplay", "ImageGridDisplay", "ComparisonCurvesDisplay", "SearchHistoryDisplay",
    "LRFinderDisplay", "plot_decision_boundary", "plot_training_curves", "plot_confusion_matrix", "plot_roc",
    "plot_precision_recall", "plot_calibration", "classifier_from_model", "scores",
    "import_matplotlib",
]

# Pictures no run report draws (images: image runs only; search: compare, tune, lr-find) load on first use,
# so that `train`'s report does not import them.
_LAZY = {"ImageGridDisplay": "images", "ComparisonCurvesDisplay": "search", "SearchHistoryDisplay": "search",
         "LRFinderDisplay": "search"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))  # (tab completion lists the lazy Displays too)
