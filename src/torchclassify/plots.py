"""Pictures of a classifier: decision boundaries, training curves, confusion matrices, ROC/PR, reliability.

Every function takes a TrainedClassifier (or a Run, or a bare nn.Module via `classifier_from_model`) plus
raw rows, draws on the given `ax`/`axes` or on a new figure, and returns a Display (`figure_`, `axes_`,
and the numbers drawn), in the spirit of scikit-learn's Display objects. matplotlib is imported here only,
and only when this module is used; figures are plain `matplotlib.figure.Figure` objects (Agg canvas,
no pyplot state, no display needed). Nothing here moves the model or changes its train/eval mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from .classifier import TrainedClassifier
from .errors import ConfigError, DataError

CMAP = "RdYlBu"  # the seed's colour map: red for the first class, blue for the last


@dataclass
class Display:
    """A drawn picture: the figure, its axes (flat list) and the numbers it shows (`data_`)."""

    figure_: Any
    axes_: list
    data_: dict = field(default_factory=dict)

    def savefig(self, path, **kwargs) -> None:
        self.figure_.savefig(path, **{"dpi": 100, "bbox_inches": "tight", **kwargs})


@dataclass
class BoundaryDisplay(Display):
    """A decision-boundary picture and the grid it was computed on.

    xx, yy: (r, r) grid coordinates in the 2-D view. view: "features" or "pca".
    grid_inputs: what the model saw for the grid: raw rows (DataFrame, "features" view) or the
    (r*r, n_inputs) preprocessed matrix ("pca" view). y_proba: (r*r,) binary, (r*r, C) / (r*r, L) otherwise.
    y_pred: encoded predictions on the grid, (r*r,) or (r*r, L). contours: {panel index: QuadContourSet}.
    """

    xx: np.ndarray = None
    yy: np.ndarray = None
    view: str = "features"
    axis_labels: tuple[str, str] = ("", "")
    grid_inputs: Any = None
    y_proba: np.ndarray = None
    y_pred: np.ndarray = None
    contours: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------------- helpers


def _new_figure(n_rows: int = 1, n_cols: int = 1, panel: tuple[float, float] = (4.6, 3.8),
                title_room: bool = False):
    """A figure of n_rows x n_cols panels (panel = inches each), without pyplot (no backend or display).

    Margins are fixed in inches rather than left to a layout engine: constrained layout doubled the
    drawing time of the run report, and our panels' labels have known sizes.
    """
    from matplotlib.figure import Figure

    width, height = panel[0] * n_cols, panel[1] * n_rows + (0.3 if title_room else 0.0)
    fig = Figure(figsize=(width, height))
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    axes_width = (width - 0.85 - 0.25) / n_cols - 0.8  # inches of one panel's plotting area
    axes_height = (height - 0.6 - 0.4 - (0.3 if title_room else 0.0)) / n_rows - 0.85
    fig.subplots_adjust(left=0.85 / width, right=1 - 0.25 / width, bottom=0.6 / height,
                        top=1 - (0.4 + (0.3 if title_room else 0.0)) / height,
                        wspace=0.8 / max(axes_width, 0.5), hspace=0.85 / max(axes_height, 0.5))
    return fig, list(axes.ravel())


def _axes(axes, n: int, n_cols: int | None = None, panel=(4.6, 3.8), title_room: bool = False):
    """The user's axes (one or a sequence of n), or a new figure with n panels."""
    if axes is None:
        n_cols = n_cols or n
        fig, created = _new_figure(int(np.ceil(n / n_cols)), n_cols, panel, title_room)
        for ax in created[n:]:  # a grid larger than needed: hide the empty panels
            ax.set_visible(False)
        return fig, created[:n]
    axes = list(np.ravel(axes)) if isinstance(axes, (list, tuple, np.ndarray)) else [axes]
    if len(axes) < n:
        raise ConfigError(f"this picture needs {n} axes, got {len(axes)}")
    return axes[0].figure, axes[:n]


def _classifier(obj) -> TrainedClassifier:
    if isinstance(obj, TrainedClassifier):
        return obj
    if isinstance(getattr(obj, "classifier", None), TrainedClassifier):  # a workflow.Run
        return obj.classifier
    raise ConfigError(f"expected a TrainedClassifier or a Run, got {type(obj).__name__} "
                      "(wrap a bare nn.Module with plots.classifier_from_model)")


def classifier_from_model(model: torch.nn.Module, X, y, threshold: float = 0.5,
                          class_names: Sequence | None = None) -> TrainedClassifier:
    """Wrap a bare nn.Module that takes X as it is (numbers, no preprocessing) into a TrainedClassifier.

    X: (n, n_features) array/tensor the model eats directly; y: (n,) class indices or (n, L) 0/1.
    The task follows from the output width and y: 1 output -> binary, y 2-D -> multilabel, else multiclass.
    """
    from .config import ModelConfig
    from .data.labels import LabelEncoding
    from .data.preprocess import NumericColumn, Preprocessor
    from .engine.loop import predict_logits

    X = _numpy(X)
    y = _numpy(y)
    n_outputs = predict_logits(model, torch.as_tensor(X[:1], dtype=torch.float32, device=_device(model))).shape[-1]
    task = "binary" if n_outputs == 1 else "multilabel" if y.ndim == 2 else "multiclass"
    n_classes = 2 if task == "binary" else n_outputs
    classes = list(class_names) if class_names is not None else list(range(n_classes))
    labels = LabelEncoding([str(c) for c in classes] if task == "multilabel" else classes, task == "multilabel")
    # mean 0, std 1, no indicator: the identity, so the model sees X unchanged.
    identity = Preprocessor([NumericColumn(f"x{i}", float(np.median(X[:, i])), 0.0, 1.0, False)
                             for i in range(X.shape[1])])
    return TrainedClassifier(model, task, identity, labels, ModelConfig(), threshold, info={"wrapped_model": True})


def _numpy(values) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)


def _frame(classifier: TrainedClassifier, X) -> pd.DataFrame:
    return classifier._frame(_numpy(X) if isinstance(X, torch.Tensor) else X)


def _codes(classifier: TrainedClassifier, y) -> np.ndarray:
    """Raw targets (labels, Series, DataFrame or a codes array for wrapped models) -> encoded targets."""
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu().numpy()
    if classifier.info.get("wrapped_model"):  # classifier_from_model: y already holds the codes
        y = np.asarray(y)
        return y.astype(np.float32) if classifier.labels.multilabel else y.astype(np.int64)
    if isinstance(y, pd.Series):
        y = y.to_frame()
    elif not isinstance(y, pd.DataFrame):
        y = np.asarray(y)
        y = pd.DataFrame(y, columns=classifier.classes) if y.ndim == 2 else pd.DataFrame({"target": y})
    return classifier.labels.encode(y)


def _device(model: torch.nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def _thresholds(classifier: TrainedClassifier) -> np.ndarray:
    """The decision threshold per output column ((1,) binary, (L,) multilabel)."""
    n = 1 if classifier.task_name == "binary" else classifier.labels.n_classes
    return np.broadcast_to(np.asarray(classifier.threshold, dtype=np.float64), (n,)).copy()


def _class_colours(n_classes: int) -> np.ndarray:
    """(n_classes, 4) RGBA colours spread over RdYlBu: one colour per class, the same everywhere."""
    from matplotlib import colormaps

    return colormaps[CMAP](np.linspace(0.0, 1.0, n_classes))


def _line_colours(n: int) -> np.ndarray:
    """Class colours darkened for lines on white (RdYlBu's middle is too pale for a thin line)."""
    colours = _class_colours(max(n, 2)) if n > 1 else _class_colours(2)[1:]
    colours[:, :3] *= 0.8
    return colours


def _proba(classifier: TrainedClassifier, X) -> np.ndarray:
    return classifier.predict_proba_tensor(_frame(classifier, X)).numpy().astype(np.float64)


# ----------------------------------------------------------------------------------- decision boundary


def plot_decision_boundary(classifier, X, y, *, X_test=None, y_test=None, features: Sequence[str] | str | None = None,
                           labels: Sequence | None = None, resolution: int = 150, axes=None) -> BoundaryDisplay:
    """The model's decision regions in 2-D with the rows scattered over them; train and test side by side.

    classifier: a TrainedClassifier (or Run). X, y: raw training rows and targets; X_test, y_test: optional.
    features: None (the two columns when the data has two numeric columns, else "pca"), "pca" (the first two
      principal components of the preprocessed training features), or two column names (the other columns
      held at their training median / most frequent category).
    labels: multilabel only: which labels to draw (default all), one row of panels each.
    Binary and multilabel panels shade P(positive) and draw the contour at the model's threshold;
    multiclass panels colour the predicted class, with the class names in the legend.
    The model stays on its device and in its train/eval mode.
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    classifier = _classifier(classifier)
    task = classifier.task
    if (X_test is None) != (y_test is None):
        raise ConfigError("give both X_test and y_test (or neither) for the test panel")
    sets = [("train", _frame(classifier, X), _codes(classifier, y))]
    if X_test is not None:
        sets.append(("test", _frame(classifier, X_test), _codes(classifier, y_test)))
    view, to_2d, axis_labels, model_on_grid, make_inputs = _boundary_view(classifier, sets[0][1], features)
    points = [to_2d(frame) for _, frame, _ in sets]  # (n, 2) each
    all_points = np.vstack(points)
    all_points = all_points[np.isfinite(all_points).all(axis=1)]
    low, high = all_points.min(axis=0), all_points.max(axis=0)
    pad = 0.08 * np.maximum(high - low, 1e-6)
    xx, yy = np.meshgrid(np.linspace(low[0] - pad[0], high[0] + pad[0], resolution),
                         np.linspace(low[1] - pad[1], high[1] + pad[1], resolution))  # (r, r) each
    grid_inputs = make_inputs(np.column_stack([xx.ravel(), yy.ravel()]))  # r*r rows
    y_proba = model_on_grid(grid_inputs)
    y_pred = task.to_labels(torch.from_numpy(y_proba), torch.from_numpy(_thresholds(classifier))
                            if task.uses_threshold else 0.5).numpy()

    if classifier.labels.multilabel:
        names = [str(c) for c in classifier.classes]
        chosen = [str(c) for c in labels] if labels is not None else names
        unknown = [c for c in chosen if c not in names]
        if unknown:
            raise ConfigError(f"unknown label(s) {unknown}: the labels are {', '.join(names)}")
        rows = [names.index(c) for c in chosen]
    else:
        rows = [None]
    titled = view == "pca" or len(classifier.feature_columns) > 2
    fig, panel_axes = _axes(axes, len(rows) * len(sets), len(sets), panel=(4.9, 3.8), title_room=titled)
    display = BoundaryDisplay(fig, panel_axes, {}, xx, yy, view, axis_labels, grid_inputs, y_proba, y_pred)
    thresholds = _thresholds(classifier)
    # The grid drawn as an image (one bitmap per panel, far cheaper to render than filled contours); the
    # extent puts each grid point at the centre of its cell.
    dx, dy = xx[0, 1] - xx[0, 0], yy[1, 0] - yy[0, 0]
    extent = (xx.min() - dx / 2, xx.max() + dx / 2, yy.min() - dy / 2, yy.max() + dy / 2)
    class_cmap = ListedColormap(_class_colours(classifier.labels.n_classes))
    for r, label_index in enumerate(rows):
        for c, ((split, _, codes), xy) in enumerate(zip(sets, points)):
            index = r * len(sets) + c
            ax = panel_axes[index]
            if task.uses_threshold:  # binary, or one label of a multilabel model
                column = 0 if label_index is None else label_index
                proba = y_proba if label_index is None else y_proba[:, label_index]
                truth = codes if label_index is None else codes[:, label_index]
                threshold = float(thresholds[column])
                shading = ax.imshow(proba.reshape(xx.shape), extent=extent, origin="lower", aspect="auto",
                                    cmap=CMAP, vmin=0, vmax=1, alpha=0.75, interpolation="bilinear")
                display.contours[index] = ax.contour(xx, yy, proba.reshape(xx.shape), levels=[threshold],
                                                     colors="k", linewidths=1.5)
                ax.scatter(xy[:, 0], xy[:, 1], c=truth, cmap=CMAP, vmin=0, vmax=1, s=14, edgecolors="k",
                           linewidths=0.4)
                if label_index is None:
                    negative, positive = (str(v) for v in classifier.classes)
                    what = f"P({positive})"
                else:
                    negative, positive = f"not {classifier.classes[label_index]}", str(classifier.classes[label_index])
                    what = f"P({positive})"
                colours = _class_colours(2)
                handles = [Line2D([], [], ls="", marker="o", mec="k", mfc=colours[k], label=name)
                           for k, name in enumerate((negative, positive))]
                handles.append(Line2D([], [], color="k", label=f"threshold {threshold:g}"))
                ax.legend(handles=handles, loc="upper right", fontsize=7, framealpha=0.8)
                if c == len(sets) - 1:
                    fig.colorbar(shading, ax=ax, label=what, shrink=0.9)
                ax.set_title(f"{split}: {what}" if label_index is not None else f"{split} ({len(truth)} rows)",
                             fontsize=10)
            else:  # multiclass: one colour per predicted class
                n_classes = classifier.labels.n_classes
                ax.imshow(y_pred.reshape(xx.shape), extent=extent, origin="lower", aspect="auto", cmap=class_cmap,
                          vmin=-0.5, vmax=n_classes - 0.5, alpha=0.6, interpolation="nearest")
                ax.scatter(xy[:, 0], xy[:, 1], c=codes, cmap=class_cmap, vmin=-0.5, vmax=n_classes - 0.5, s=14,
                           edgecolors="k", linewidths=0.4)
                colours = _class_colours(n_classes)
                ax.legend(handles=[Patch(facecolor=colours[k], edgecolor="k", label=str(name))
                                   for k, name in enumerate(classifier.classes)],
                          loc="upper right", fontsize=7, framealpha=0.8, title="class", title_fontsize=7)
                ax.set_title(f"{split} ({len(codes)} rows)", fontsize=10)
            ax.set_xlabel(axis_labels[0], fontsize=9)
            ax.set_ylabel(axis_labels[1], fontsize=9)
            ax.set_xlim(extent[0], extent[1])
            ax.set_ylim(extent[2], extent[3])
    if view == "pca":
        fig.suptitle("2-D view: first two principal components of the preprocessed features "
                     "(the model evaluated on that plane)", fontsize=9)
    elif len(classifier.feature_columns) > 2:
        fig.suptitle(f"2-D view: {axis_labels[0]} and {axis_labels[1]}; other columns held at their training "
                     "median / most frequent value", fontsize=9)
    return display


def _boundary_view(classifier: TrainedClassifier, X_train: pd.DataFrame, features):
    """How rows map to 2-D and how the grid reaches the model.

    Returns (view, to_2d(frame) -> (n, 2), axis labels, model_on_grid(inputs) -> y_proba,
    make_inputs((m, 2) grid points) -> what model_on_grid takes).
    """
    pre = classifier.preprocessor
    numeric = [c.name for c in pre.numeric]
    if features is None:
        features = tuple(numeric) if len(numeric) == 2 and not pre.categorical else "pca"
    if isinstance(features, str) and features != "pca":
        raise ConfigError(f"features must be 'pca' or two column names, got {features!r}")
    if features == "pca":
        return _pca_view(classifier, X_train)
    features = [str(f) for f in features]
    if len(features) != 2:
        raise ConfigError(f"name exactly two feature columns for the 2-D view, got {len(features)}")
    for name in features:
        if name not in classifier.feature_columns:
            raise ConfigError(f"unknown feature {name!r}: the columns are {', '.join(classifier.feature_columns)}")
        if name not in numeric:
            raise ConfigError(f"feature {name!r} is categorical: name two numeric columns, or use the PCA view")
    # Typical values for the columns not shown: the training median (numbers) or most frequent category.
    typical = {c.name: c.median for c in pre.numeric}
    typical.update({c.name: (c.categories[0] if c.categories else "") for c in pre.categorical})

    def to_2d(frame):
        return frame[features].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)

    def make_inputs(grid):
        rows = pd.DataFrame({name: np.full(len(grid), value, dtype=object if isinstance(value, str) else float)
                             for name, value in typical.items()})
        rows[features[0]], rows[features[1]] = grid[:, 0], grid[:, 1]
        return rows[classifier.feature_columns]

    return "features", to_2d, (features[0], features[1]), lambda rows: _proba(classifier, rows), make_inputs


def _pca_view(classifier: TrainedClassifier, X_train: pd.DataFrame):
    from sklearn.decomposition import PCA

    from .engine.loop import predict_logits

    Z_train = classifier.preprocessor.transform(X_train)  # (n, n_inputs)
    pca = PCA(n_components=2, random_state=0).fit(Z_train)
    ratio = pca.explained_variance_ratio_
    labels = (f"PC1 of preprocessed features ({ratio[0]:.0%} var.)",
              f"PC2 of preprocessed features ({ratio[1]:.0%} var.)")

    def to_2d(frame):
        return pca.transform(classifier.preprocessor.transform(frame))

    def make_inputs(grid):
        return pca.inverse_transform(grid).astype(np.float32)  # (m, n_inputs): the plane through the mean

    def model_on_grid(Z):
        model = classifier.model
        logits = predict_logits(model, torch.from_numpy(Z).to(_device(model)))
        return classifier.task.to_proba(classifier.task.squeeze_logits(logits)).cpu().numpy().astype(np.float64)

    return "pca", to_2d, labels, model_on_grid, make_inputs


# ------------------------------------------------------------------------------------- training curves


def plot_training_curves(history, main_metric: str | None = None, best_epoch: int | None = None,
                         axes=None) -> Display:
    """Loss and the main metric per epoch, train against validation; the best epoch marked; the learning
    rate in a third panel when it changed during training.

    history: list of per-epoch dicts (or the history.csv DataFrame) with epoch, train_loss, [valid_loss],
      train_<metric>, [valid_<metric>], lr. main_metric: e.g. "accuracy" (default: found in history).
    best_epoch: the epoch whose weights were kept (default: the lowest validation loss, if any).
    """
    frame = pd.DataFrame(history)
    if frame.empty or "epoch" not in frame:
        raise DataError("the training history is empty: there is nothing to draw")
    if main_metric is None:
        found = [c[6:] for c in frame.columns if c.startswith("train_") and c != "train_loss"]
        main_metric = found[0] if found else None
    if best_epoch is None and "valid_loss" in frame and frame["valid_loss"].notna().any():
        best_epoch = int(frame.loc[frame["valid_loss"].idxmin(), "epoch"])
    lr_changed = "lr" in frame and frame["lr"].nunique() > 1
    panels = ["loss"] + ([main_metric] if main_metric else []) + (["learning rate"] if lr_changed else [])
    fig, panel_axes = _axes(axes, len(panels), panel=(4.2, 3.2))
    colours = _class_colours(2)
    for ax, name in zip(panel_axes, panels):
        if name == "learning rate":
            ax.plot(frame["epoch"], frame["lr"], color="0.3")
            ax.set_yscale("log")
        else:
            key = "loss" if name == "loss" else name
            for split, colour in (("train", colours[1]), ("valid", colours[0])):
                column = f"{split}_{key}"
                if column in frame and frame[column].notna().any():
                    ax.plot(frame["epoch"], frame[column], color=colour, label=split, marker="." if len(frame) < 30 else None)
        if best_epoch is not None:
            ax.axvline(best_epoch, color="k", ls="--", lw=1, label=f"best epoch {best_epoch}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3)
        if name != "learning rate":
            ax.legend(fontsize=8)
    return Display(fig, panel_axes, {"panels": panels, "best_epoch": best_epoch, "main_metric": main_metric})


# --------------------------------------------------------------------------------- evaluation pictures


def _scored(classifier, X, y):
    classifier = _classifier(classifier)
    return classifier, _codes(classifier, y), _proba(classifier, X)


def _one_vs_rest(classifier: TrainedClassifier, y_true: np.ndarray, y_proba: np.ndarray):
    """(name, y_true 0/1, score) per curve: binary one, multiclass one per class, multilabel one per label."""
    if classifier.task_name == "binary":
        return [(f"P({classifier.classes[1]})", y_true.astype(int), y_proba)]
    if classifier.labels.multilabel:
        return [(str(c), y_true[:, k].astype(int), y_proba[:, k]) for k, c in enumerate(classifier.classes)]
    return [(str(c), (y_true == k).astype(int), y_proba[:, k]) for k, c in enumerate(classifier.classes)]


def plot_confusion_matrix(classifier, X, y, *, axes=None) -> Display:
    """Confusion matrices, counts and row-normalised side by side, class names on the axes.

    Multilabel: one 2x2 count matrix per label. Rows are the true class, columns the predicted one.
    """
    from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix, multilabel_confusion_matrix

    classifier, y_true, y_proba = _scored(classifier, X, y)
    y_pred = classifier.task.to_labels(torch.from_numpy(y_proba), torch.from_numpy(_thresholds(classifier))
                                       if classifier.task.uses_threshold else 0.5).numpy()
    names = [str(c) for c in classifier.classes]
    if classifier.labels.multilabel:
        matrices = multilabel_confusion_matrix(y_true.astype(int), y_pred, labels=list(range(len(names))))
        created = axes is None
        fig, panel_axes = _axes(axes, len(names), min(len(names), 4), panel=(3.4, 3.0))
        if created:  # label names of any length: let the layout engine make room for them
            fig.set_layout_engine("constrained")
        for ax, name, matrix in zip(panel_axes, names, matrices):
            ConfusionMatrixDisplay(matrix, display_labels=[f"not {name}", name]).plot(
                ax=ax, cmap="Blues", colorbar=False, values_format="d")
            ax.set_title(name, fontsize=10)
        return Display(fig, panel_axes, {"matrices": matrices})
    codes = list(range(len(names)))
    counts = confusion_matrix(y_true, y_pred, labels=codes)
    normalised = confusion_matrix(y_true, y_pred, labels=codes, normalize="true")
    side = min(2.6 + 0.45 * len(names), 9.0)
    created = axes is None
    fig, panel_axes = _axes(axes, 2, panel=(side, side * 0.9))
    if created:  # class names of any length on both axes: let the layout engine make room for them
        fig.set_layout_engine("constrained")
    small = len(names) <= 12  # beyond that, numbers in cells are unreadable
    ConfusionMatrixDisplay(counts, display_labels=names).plot(
        ax=panel_axes[0], cmap="Blues", colorbar=False, values_format="d", include_values=small,
        xticks_rotation="vertical" if max(map(len, names)) > 6 else "horizontal")
    ConfusionMatrixDisplay(normalised, display_labels=names).plot(
        ax=panel_axes[1], cmap="Blues", colorbar=False, values_format=".2f", include_values=small,
        xticks_rotation="vertical" if max(map(len, names)) > 6 else "horizontal")
    panel_axes[0].set_title("counts", fontsize=10)
    panel_axes[1].set_title("normalised over the true class", fontsize=10)
    return Display(fig, panel_axes, {"counts": counts, "normalised": normalised})


def plot_roc(classifier, X, y, *, ax=None) -> Display:
    """ROC curves, one per class (one-vs-rest) or per label; binary: the positive class. AUC in the legend."""
    return _curves(classifier, X, y, ax, "roc")


def plot_precision_recall(classifier, X, y, *, ax=None) -> Display:
    """Precision-recall curves, one per class (one-vs-rest) or per label; average precision in the legend."""
    return _curves(classifier, X, y, ax, "pr")


def _curves(classifier, X, y, ax, kind: str) -> Display:
    # sklearn computes the curves; we draw them ourselves because its Display keywords changed across versions.
    from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_curve

    classifier, y_true, y_proba = _scored(classifier, X, y)
    curves = _one_vs_rest(classifier, y_true, y_proba)
    fig, (ax,) = _axes(ax, 1, panel=(5.0, 4.2))
    drawn, skipped = {}, []
    for (name, truth, score), colour in zip(curves, _line_colours(len(curves))):
        if truth.min() == truth.max():  # undefined without both outcomes in this split
            skipped.append(name)
            continue
        if kind == "roc":
            x, y_curve, _ = roc_curve(truth, score)
            value = auc(x, y_curve)
            ax.plot(x, y_curve, color=colour, label=f"{name} (AUC {value:.3f})")
        else:
            precision, recall, _ = precision_recall_curve(truth, score)
            value = average_precision_score(truth, score)
            ax.step(recall, precision, where="post", color=colour, label=f"{name} (AP {value:.3f})")
        drawn[name] = float(value)
    if kind == "roc":
        ax.plot([0, 1], [0, 1], color="0.6", ls=":", lw=1, label="chance")
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
    else:
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    if skipped:
        ax.text(0.02, 0.02 if kind == "roc" else 0.5, f"not drawn (one outcome only): {', '.join(skipped)}",
                transform=ax.transAxes, fontsize=7, color="0.4")
    per = "" if classifier.task_name == "binary" else (" per label" if classifier.labels.multilabel
                                                         else " per class (one-vs-rest)")
    ax.set_title(("ROC curve" if kind == "roc" else "precision-recall curve") + per, fontsize=10)
    ax.legend(fontsize=7, loc="lower right" if kind == "roc" else "lower left")
    ax.grid(alpha=0.3)
    return Display(fig, [ax], {"scores": drawn, "skipped": skipped})


def plot_calibration(classifier, X, y, *, n_bins: int = 10, ax=None) -> Display:
    """Reliability diagram: mean predicted probability against observed frequency per bin.

    Binary: P(positive). Multiclass: the top-class confidence against how often the top class is right.
    Multilabel: one curve per label. The diagonal is perfect calibration.
    """
    from sklearn.calibration import calibration_curve

    classifier, y_true, y_proba = _scored(classifier, X, y)
    fig, (ax,) = _axes(ax, 1, panel=(5.0, 4.2))
    if classifier.task_name == "multiclass":
        curves = [("top class", (y_proba.argmax(axis=1) == y_true).astype(int), y_proba.max(axis=1))]
    else:
        curves = _one_vs_rest(classifier, y_true, y_proba)
    ax.plot([0, 1], [0, 1], color="0.6", ls=":", lw=1, label="perfectly calibrated")
    points = {}
    for (name, truth, score), colour in zip(curves, _line_colours(len(curves))):
        observed, predicted = calibration_curve(truth, np.clip(score, 0.0, 1.0), n_bins=n_bins)
        ax.plot(predicted, observed, marker="o", ms=4, color=colour, label=name)
        points[name] = (predicted, observed)
    ax.set_xlabel("mean predicted probability" + (" (top class)" if classifier.task_name == "multiclass" else ""))
    ax.set_ylabel("observed frequency")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_title("reliability diagram", fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(alpha=0.3)
    return Display(fig, [ax], {"points": points})
