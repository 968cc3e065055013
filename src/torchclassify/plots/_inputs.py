"""What the pictures are computed from: a TrainedClassifier, raw rows and targets, and its predictions.

`scores(classifier, X, y)` is the one place a picture runs the model on rows: the report calls it once per
split and hands the result to every evaluation Display's `from_predictions`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch

from .. import interpret
from ..classifier import TrainedClassifier
from ..config import ModelConfig
from ..data.labels import LabelEncoding
from ..data.preprocess import NumericColumn, Preprocessor
from ..engine.inference import predict_logits
from ..errors import ConfigError
from ..tasks import get_task


def as_classifier(obj) -> TrainedClassifier:
    """A TrainedClassifier, or a workflow.Run's; ConfigError for anything else."""
    if isinstance(obj, TrainedClassifier):
        return obj
    if isinstance(getattr(obj, "classifier", None), TrainedClassifier):  # a workflow.Run
        return obj.classifier
    raise ConfigError(f"expected a TrainedClassifier or a Run, got {type(obj).__name__} "
                      "(wrap a bare nn.Module with plots.classifier_from_model)")


def numpy(values) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)


def frame(classifier: TrainedClassifier, X) -> pd.DataFrame:
    """Raw rows (DataFrame, dict, array or tensor in training column order) as a DataFrame."""
    return classifier._frame(numpy(X) if isinstance(X, torch.Tensor) else X)


def proba(classifier: TrainedClassifier, X) -> np.ndarray:
    """Raw rows -> float64 probabilities: binary (n,), otherwise (n, C) / (n, L). One forward pass."""
    return classifier.predict_proba_tensor(frame(classifier, X)).numpy().astype(np.float64)


def _logits_of_features(model: torch.nn.Module, Z: np.ndarray) -> torch.Tensor:
    """(m, n_inputs) features -> (m, n_outputs) logits, on the model's device and in its own mode after."""
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    return predict_logits(model, torch.from_numpy(np.ascontiguousarray(Z, dtype=np.float32)).to(device))


def proba_of_features(classifier: TrainedClassifier, Z: np.ndarray) -> np.ndarray:
    """Preprocessed features (m, n_inputs) -> probabilities, as `proba` (the PCA view's grid lives there)."""
    logits = _logits_of_features(classifier.model, Z)
    return classifier.task.to_proba(classifier.task.squeeze_logits(logits)).cpu().numpy().astype(np.float64)


def scores(classifier, X, y) -> tuple[np.ndarray, np.ndarray]:
    """(y_true, y_proba) for raw rows: the encoded targets and the model's probabilities, one forward pass.

    y_true: (n,) int64 class indices, or (n, L) 0/1 for multilabel. y_proba: (n,) P(positive) for binary,
    (n, C) or (n, L) otherwise.
    """
    classifier = as_classifier(classifier)
    return interpret.scores(classifier, frame(classifier, X), y)


def thresholds(classifier: TrainedClassifier) -> np.ndarray:
    """The decision threshold per output column: (1,) binary, (L,) multilabel, () unused for multiclass."""
    n = 1 if classifier.task_name == "binary" else classifier.labels.n_classes
    return np.broadcast_to(np.asarray(classifier.threshold, dtype=np.float64), (n,)).copy()


def evaluation_kwargs(classifier: TrainedClassifier) -> dict:
    """What every evaluation Display's from_predictions needs to know besides the predictions."""
    return {"class_names": [str(c) for c in classifier.classes], "threshold": classifier.threshold}


def classifier_from_model(model: torch.nn.Module, X, y, threshold: float = 0.5,
                          class_names: Sequence | None = None) -> TrainedClassifier:
    """Wrap a bare nn.Module that takes X as it is (numbers, no preprocessing) into a TrainedClassifier.

    X: (n, n_features) array/tensor the model eats directly; y: (n,) class indices or (n, L) 0/1.
    The task follows from the output width and y: 1 output -> binary, y 2-D -> multilabel, else multiclass.
    """
    X, y = numpy(X), numpy(y)
    # Mean 0, std 1, no indicator: the identity, so the model sees X unchanged.
    identity = Preprocessor([NumericColumn(f"x{i}", float(np.median(X[:, i])), 0.0, 1.0, False)
                             for i in range(X.shape[1])])
    n_outputs = _logits_of_features(model, X[:1]).shape[-1]
    task = "binary" if n_outputs == 1 else "multilabel" if y.ndim == 2 else "multiclass"
    n_classes = 2 if task == "binary" else n_outputs
    classes = list(class_names) if class_names is not None else list(range(n_classes))
    labels = LabelEncoding([str(c) for c in classes] if task == "multilabel" else classes, task == "multilabel")
    return TrainedClassifier(model, task, identity, labels, ModelConfig(), threshold, info={"wrapped_model": True})


def decided(y_true, y_proba, threshold=0.5, class_names: Sequence[str] | None = None):
    """(y_true, y_pred, task, class names) from predictions as every picture decides them: argmax, or
    probability >= threshold (scalar or one per label). y_true: (n,) or (n, L); y_proba: (n,), (n, C), (n, L)."""
    y_true, y_proba = np.asarray(y_true), np.asarray(y_proba, dtype=np.float64)
    task = task_of(y_true, y_proba)
    rule = get_task(task)
    cut = torch.as_tensor(np.asarray(threshold, dtype=np.float64)) if rule.uses_threshold else 0.5
    y_pred = rule.to_labels(torch.from_numpy(y_proba), cut).numpy()
    names = class_names if class_names is not None else default_names(y_true, y_proba)
    return y_true, y_pred, task, names


def task_of(y_true: np.ndarray, y_proba: np.ndarray) -> str:
    """The task a pair of predictions belongs to: 1-D probabilities -> binary, 2-D targets -> multilabel."""
    if y_proba.ndim == 1:
        return "binary"
    return "multilabel" if y_true.ndim == 2 else "multiclass"


def one_vs_rest(y_true: np.ndarray, y_proba: np.ndarray, class_names: Sequence[str]):
    """(name, y_true 0/1, score) per curve: binary one, multiclass one per class, multilabel one per label."""
    task = task_of(y_true, y_proba)
    if task == "binary":
        return [(f"P({class_names[1]})", y_true.astype(int), y_proba)]
    if task == "multilabel":
        return [(str(c), y_true[:, k].astype(int), y_proba[:, k]) for k, c in enumerate(class_names)]
    return [(str(c), (y_true == k).astype(int), y_proba[:, k]) for k, c in enumerate(class_names)]


def default_names(y_true: np.ndarray, y_proba: np.ndarray) -> list[str]:
    """Class names when none are given: 0..C-1 (binary: 0, 1)."""
    n = 2 if y_proba.ndim == 1 else y_proba.shape[1]
    return [str(k) for k in range(n)]
