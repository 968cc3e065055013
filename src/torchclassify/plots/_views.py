"""The 2-D plane a decision boundary is drawn on: two named columns, or the PCA plane of the features.

A view maps rows to (n, 2) points, turns (m, 2) grid points into what the model takes, and runs the model
on them. Only the grid goes through the model here; the scattered rows need only their coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..classifier import TrainedClassifier
from ..data.numbers import raw_median
from ..errors import ConfigError
from . import _inputs

LOW_VARIANCE = 0.5  # below this share of the variance, the PCA plane is a thin slice of the model: say so


@dataclass
class View:
    """kind: "features" or "pca". to_2d(frame) -> (n, 2). inputs(grid (m, 2)) -> raw rows (DataFrame) or
    (m, n_inputs) features. predict(inputs) -> y_proba. explained: PCA's (2,) variance ratios, else None.
    hint: two numeric columns worth drawing instead of a weak PCA plane (None if there are not two)."""

    kind: str
    axis_labels: tuple[str, str]
    to_2d: Callable[[pd.DataFrame], np.ndarray]
    inputs: Callable[[np.ndarray], Any]
    predict: Callable[[Any], np.ndarray]
    explained: np.ndarray | None = None
    hint: tuple[str, str] | None = None
    n_columns: int = 2


def make_view(classifier: TrainedClassifier, X_train: pd.DataFrame, features) -> View:
    """The view for `features`: None (the two columns when there are exactly two numeric ones, else PCA),
    "pca", or two numeric column names (the others held at their training median / most frequent value)."""
    pre = classifier.preprocessor
    numeric = [c.name for c in pre.numeric]
    if features is None:
        only_numbers = len(numeric) == len(classifier.feature_columns)
        features = tuple(numeric) if len(numeric) == 2 and only_numbers else "pca"
    if isinstance(features, str) and features != "pca":
        raise ConfigError(f"features must be 'pca' or two column names, got {features!r}")
    if features == "pca":
        return _pca_view(classifier, X_train)
    features = [str(f) for f in features]
    if len(features) != 2 or features[0] == features[1]:
        raise ConfigError(f"name exactly two different feature columns for the 2-D view, got {features}")
    for name in features:
        if name not in classifier.feature_columns:
            raise ConfigError(f"unknown feature {name!r}: the columns are {', '.join(classifier.feature_columns)}")
        if name not in numeric:
            raise ConfigError(f"feature {name!r} is categorical: name two numeric columns, or use the PCA view")
    # Typical values for the columns not shown: the training median (numbers) or most frequent category.
    typical = {c.name: raw_median(c) for c in pre.numeric}
    typical.update({c.name: (c.categories[0] if c.categories else "") for c in pre.categorical})
    typical.update({c.name: "" for c in pre.text})  # an empty document: no words push the prediction
    for name in classifier.feature_columns:  # dates: the most frequent training value
        if name not in typical:
            common = X_train[name].mode(dropna=True) if name in X_train else []
            typical[name] = str(common.iloc[0]) if len(common) else ""

    def to_2d(frame):
        return frame[features].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)

    def inputs(grid):
        rows = pd.DataFrame({name: np.full(len(grid), value, dtype=object if isinstance(value, str) else float)
                             for name, value in typical.items()})
        rows[features[0]], rows[features[1]] = grid[:, 0], grid[:, 1]
        return rows[classifier.feature_columns]

    return View("features", (features[0], features[1]), to_2d, inputs,
                lambda rows: _inputs.proba(classifier, rows), n_columns=len(classifier.feature_columns))


class _Plane:
    """The plane of the first two principal components of (n, d) rows, as scikit-learn's PCA(2) finds it:
    mean_ (d,), components_ (2, d) with each row's largest |loading| positive (its sign convention, so the
    picture is not mirrored), explained_variance_ratio_ (2,). From the (d, d) covariance in float64."""

    def __init__(self, Z: np.ndarray):
        Z = np.asarray(Z, dtype=np.float64)
        self.mean_ = Z.mean(axis=0)
        centred = Z - self.mean_
        variances, vectors = np.linalg.eigh(centred.T @ centred)  # ascending eigenvalues, vectors as columns
        top = vectors[:, ::-1][:, :2].T  # (2, d)
        largest = np.abs(top).argmax(axis=1)
        self.components_ = top * np.sign(top[np.arange(2), largest])[:, None]
        total = max(float(variances.clip(min=0).sum()), 1e-300)
        self.explained_variance_ratio_ = variances[::-1][:2].clip(min=0) / total

    def transform(self, Z: np.ndarray) -> np.ndarray:
        return (np.asarray(Z, dtype=np.float64) - self.mean_) @ self.components_.T  # (n, d) -> (n, 2)

    def inverse_transform(self, points: np.ndarray) -> np.ndarray:
        return points @ self.components_ + self.mean_  # (m, 2) -> (m, d)


MAX_PLANE_INPUTS = 1000  # past this many inputs the (d, d) eigen-decomposition costs seconds: sklearn's PCA


def _pca_view(classifier: TrainedClassifier, X_train: pd.DataFrame) -> View:
    pre = classifier.preprocessor
    Z_train = pre.transform(X_train)  # (n, n_inputs)
    if Z_train.shape[1] < 2 or len(Z_train) < 2:
        raise ConfigError(f"a decision boundary is drawn on a plane: this model has {Z_train.shape[1]} input "
                          f"feature(s) and {len(Z_train)} training row(s), fewer than the two it needs - see the "
                          "other pictures (curves, confusion, roc, pr, calibration)")
    if Z_train.shape[1] <= MAX_PLANE_INPUTS:
        pca = _Plane(Z_train)
    else:  # (randomised SVD there; importing scikit-learn is the small part of such a run)
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=0).fit(Z_train)
    ratio = pca.explained_variance_ratio_
    labels = (f"PC1 of preprocessed features ({ratio[0]:.0%} var.)",
              f"PC2 of preprocessed features ({ratio[1]:.0%} var.)")

    def to_2d(frame):
        return pca.transform(pre.transform(frame))

    def inputs(grid):
        return pca.inverse_transform(grid).astype(np.float32)  # (m, n_inputs): the plane through the mean

    return View("pca", labels, to_2d, inputs, lambda Z: _inputs.proba_of_features(classifier, Z),
                explained=np.asarray(ratio, dtype=np.float64), hint=_strongest_columns(pre, pca.components_),
                n_columns=len(classifier.feature_columns))


def _strongest_columns(pre, components: np.ndarray) -> tuple[str, str] | None:
    """Two numeric columns to draw instead: the one weighing most on PC1, then the other most on PC2.

    components: (2, n_inputs) PCA loadings over the preprocessed features (numeric columns keep their name).
    """
    names = pre.feature_names_out
    numeric = [c.name for c in pre.numeric]
    if len(numeric) < 2:
        return None
    position = {name: i for i, name in reversed(list(enumerate(names)))}  # (the first of a name, as list.index)
    index = [position[n] for n in numeric]
    weights = np.abs(components[:, index])  # (2, n_numeric)
    first = int(weights[0].argmax())
    weights[1, first] = -1.0  # a different column for the second axis
    second = int(weights[1].argmax())
    return numeric[first], numeric[second]


def grid_over(points: list[np.ndarray], resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """(r, r) grid coordinates covering every finite point with an 8% margin."""
    stacked = np.vstack(points)
    stacked = stacked[np.isfinite(stacked).all(axis=1)]
    low, high = stacked.min(axis=0), stacked.max(axis=0)
    pad = 0.08 * np.maximum(high - low, 1e-6)
    return np.meshgrid(np.linspace(low[0] - pad[0], high[0] + pad[0], resolution),
                       np.linspace(low[1] - pad[1], high[1] + pad[1], resolution))
