"""The decision boundary: what the model predicts over a 2-D plane, with the rows scattered over it."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from ..errors import ConfigError
from ..tasks import get_task
from . import _inputs, _style
from ._views import LOW_VARIANCE, grid_over, make_view

MAX_LEGEND = 30  # classes named in a multiclass legend: past this, those the picture shows, and a count


class DecisionBoundaryDisplay(_style.Display):
    """A decision-boundary picture and the grid it was computed on.

    xx, yy: (r, r) grid coordinates in the 2-D view. y_proba: the model on the grid, (r*r,) binary,
    (r*r, C) / (r*r, L) otherwise; y_pred: its encoded predictions, (r*r,) or (r*r, L).
    points: (split name, (n, 2) coordinates, encoded targets) per scattered set of rows.
    view: "features" or "pca"; explained_variance: PCA's (2,) variance ratios; feature_hint: two numeric
    columns to suggest when the PCA plane explains little. grid_inputs: what the model saw for the grid.
    After plot: figure_, axes_, contours_ {panel index: QuadContourSet, or a list for multiclass},
    regions_ {panel index: the AxesImage of the regions}, note_ (the low-variance warning, or None).
    """

    def __init__(self, *, xx, yy, y_proba, task: str, class_names: Sequence[str], threshold=0.5,
                 points: Sequence[tuple[str, np.ndarray, np.ndarray]] = (), view: str = "features",
                 axis_labels=("", ""), explained_variance=None, feature_hint=None, n_columns: int = 2,
                 grid_inputs: Any = None):
        self.xx, self.yy, self.y_proba = xx, yy, np.asarray(y_proba, dtype=np.float64)
        self.task, self.class_names = task, [str(c) for c in class_names]
        n_thresholds = 1 if task == "binary" else len(self.class_names)
        self.thresholds = np.broadcast_to(np.asarray(threshold, dtype=np.float64), (n_thresholds,)).copy()
        self.points, self.view, self.axis_labels = list(points), view, tuple(axis_labels)
        self.explained_variance, self.feature_hint, self.n_columns = explained_variance, feature_hint, n_columns
        self.grid_inputs = grid_inputs
        rule = get_task(task)
        cut = torch.from_numpy(self.thresholds) if rule.uses_threshold else 0.5
        self.y_pred = rule.to_labels(torch.from_numpy(self.y_proba), cut).numpy()

    @classmethod
    def from_classifier(cls, classifier, X, y, *, X_test=None, y_test=None,
                        features: Sequence[str] | str | None = None, labels: Sequence | None = None,
                        resolution: int = 150, axes=None) -> "DecisionBoundaryDisplay":
        """Run the model on a resolution x resolution grid over the rows' 2-D view, then plot.

        classifier: a TrainedClassifier (or Run). X, y: raw training rows and targets; X_test, y_test:
        optional, drawn in a second column of panels. features: None (the two columns when the data has two
        numeric columns, else "pca"), "pca", or two numeric column names (the others held at their training
        median / most frequent category). labels: multilabel only, which labels to draw (default all).
        Only the grid goes through the model; the model keeps its device and train/eval mode.
        """
        classifier = _inputs.as_classifier(classifier)
        if (X_test is None) != (y_test is None):
            raise ConfigError("give both X_test and y_test (or neither) for the test panel")
        sets = [("train", X, y)] + ([("test", X_test, y_test)] if X_test is not None else [])
        frames = [(split, _inputs.frame(classifier, rows), classifier.encode_targets(target))
                  for split, rows, target in sets]
        view = make_view(classifier, frames[0][1], features)
        points = [(split, view.to_2d(rows), codes) for split, rows, codes in frames]
        xx, yy = grid_over([xy for _, xy, _ in points], resolution)  # (r, r) each
        grid_inputs = view.inputs(np.column_stack([xx.ravel(), yy.ravel()]))  # r*r rows
        display = cls(xx=xx, yy=yy, y_proba=view.predict(grid_inputs), task=classifier.task_name,
                      class_names=[str(c) for c in classifier.classes], threshold=_inputs.thresholds(classifier),
                      points=points, view=view.kind, axis_labels=view.axis_labels,
                      explained_variance=view.explained, feature_hint=view.hint, n_columns=view.n_columns,
                      grid_inputs=grid_inputs)
        return display.plot(axes, labels=labels)

    # ------------------------------------------------------------------------------------------ words

    @property
    def low_variance(self) -> bool:
        """Whether the PCA plane keeps less than LOW_VARIANCE of the features' variance."""
        return self.view == "pca" and self.explained_variance is not None \
            and float(np.sum(self.explained_variance)) < LOW_VARIANCE

    def variance_note(self) -> str | None:
        """One sentence for the picture and the report when the PCA plane explains little, else None."""
        if not self.low_variance:
            return None
        hint = f"--features {','.join(self.feature_hint)}" if self.feature_hint else "--features A,B"
        return (f"The PCA plane keeps only {float(np.sum(self.explained_variance)):.0%} of the variance: regions "
                f"here are one slice of the model. For two real columns, draw {hint}.")

    def _header(self) -> list[str]:
        if self.view == "pca":
            return ["2-D view: first two principal components of the preprocessed features "
                    "(the model evaluated on that plane)"]
        if self.n_columns > 2:
            return [f"2-D view: {self.axis_labels[0]} and {self.axis_labels[1]}; other columns held at their "
                    "training median / most frequent value"]
        return []

    # --------------------------------------------------------------------------------------- drawing

    def plot(self, axes=None, *, labels: Sequence | None = None) -> "DecisionBoundaryDisplay":
        """Draw one panel per (label row, set of points): train and test side by side.

        Binary and multilabel panels shade P(positive) and draw the contour at the threshold; multiclass
        panels blend the class colours by the predicted probabilities, with the class borders drawn.
        """
        if self.task == "multilabel":
            chosen = [str(c) for c in labels] if labels is not None else self.class_names
            unknown = [c for c in chosen if c not in self.class_names]
            if unknown:
                raise ConfigError(f"unknown label(s) {unknown}: the labels are {', '.join(self.class_names)}")
            rows = [self.class_names.index(c) for c in chosen]
        elif labels is not None:
            raise ConfigError(f"labels choose among a multilabel run's labels; this run is {self.task}: drop them")
        else:
            rows = [None]
        header, note = self._header(), self.variance_note()
        n_lines = len(header) + (2 if note else 0)
        n_cols = max(len(self.points), 1)
        # A multiclass legend goes below the panels of a new figure, where long names have the figure's
        # width (beside them, it took a third of the width and cut names to 18 characters).
        below = self.task == "multiclass" and axes is None
        handles = self._class_handles(30 if below else 18, 2 if below else 1) if self.task == "multiclass" else []
        n_legend_cols, legend_height = _style.legend_below([h.get_label() for h in handles],
                                                           0.85 + 0.25 + n_cols * 4.1 + (n_cols - 1) * 0.85)
        fig, panel_axes = _style.axes_for(axes, len(rows) * n_cols, n_cols, panel=(4.1, 3.3),
                                          top=0.4 + 0.2 * n_lines, bottom=0.6 + (legend_height if below else 0),
                                          wspace=0.85)
        self.figure_, self.axes_, self.contours_, self.regions_ = fig, panel_axes, {}, {}
        dx, dy = self.xx[0, 1] - self.xx[0, 0], self.yy[1, 0] - self.yy[0, 0]
        # The grid drawn as an image (far cheaper to render than filled contours); the extent puts each grid
        # point at the centre of its cell, and bilinear interpolation smooths the cells away.
        self.extent_ = (self.xx.min() - dx / 2, self.xx.max() + dx / 2, self.yy.min() - dy / 2, self.yy.max() + dy / 2)
        for r, label in enumerate(rows):
            for c, (split, xy, y_true) in enumerate(self.points):
                index = r * n_cols + c
                ax = panel_axes[index]
                last = c == n_cols - 1
                if self.task == "multiclass":
                    self._multiclass_panel(ax, index, xy, y_true, handles if last and not below else None)
                else:
                    self._threshold_panel(ax, index, label, xy, y_true if label is None else y_true[:, label],
                                          colorbar=last)
                what = f": P({self.class_names[label]})" if label is not None else f" ({len(y_true)} rows)"
                ax.set_title(f"{split}{what}", fontsize=10)
                ax.set_xlabel(self.axis_labels[0], fontsize=9)
                ax.set_ylabel(self.axis_labels[1], fontsize=9)
                ax.set_xlim(self.extent_[0], self.extent_[1])
                ax.set_ylim(self.extent_[2], self.extent_[3])
        self.note_ = note
        if below:
            fig.legend(handles=handles, loc="lower center", ncol=n_legend_cols, fontsize=8, frameon=False,
                       bbox_to_anchor=(0.5, 0.1 / fig.get_figheight()), title="class", title_fontsize=8)
        if header:
            fig.suptitle(header[0], fontsize=9, y=1 - 0.12 / fig.get_figheight())
        if note:  # under the title, in a colour that reads as a warning
            fig.text(0.5, 1 - (0.14 + 0.2 * len(header)) / fig.get_figheight(), note, ha="center", va="top",
                     fontsize=8.5, color="#8c2d04", wrap=True)
        return self

    def _threshold_panel(self, ax, index: int, label, xy, truth, colorbar: bool) -> None:
        """Binary, or one label of a multilabel model: P(positive) shading and the threshold contour."""
        from matplotlib.lines import Line2D

        column = 0 if label is None else label
        p = (self.y_proba if label is None else self.y_proba[:, label]).reshape(self.xx.shape)  # (r, r)
        threshold = float(self.thresholds[column])
        shading = ax.imshow(p, extent=self.extent_, origin="lower", aspect="auto", cmap=_style.SHADING_CMAP,
                            vmin=0, vmax=1, alpha=0.75, interpolation="bilinear")
        self.regions_[index] = shading
        self.contours_[index] = ax.contour(self.xx, self.yy, p, levels=[threshold], colors="k", linewidths=1.5)
        _scatter(ax, xy, truth, cmap=_style.SHADING_CMAP, vmin=0, vmax=1)
        if label is None:
            negative, positive = self.class_names
        else:
            negative, positive = f"not {self.class_names[label]}", self.class_names[label]
        colours = _style.binary_colours()
        handles = [Line2D([], [], ls="", marker="o", mec=_style.EDGE, mfc=colours[k], label=_style.short_name(name, 24, 1))
                   for k, name in enumerate((negative, positive))]
        handles.append(Line2D([], [], color="k", label=f"threshold {threshold:g}"))
        ax.legend(handles=handles, loc="upper right", fontsize=7, framealpha=0.85)
        if colorbar:
            ax.figure.colorbar(shading, ax=ax, label=f"P({_style.short_name(positive, 24, 1)})", shrink=0.9)

    def _class_handles(self, width: int, max_lines: int) -> list:
        """Legend patches: every class up to MAX_LEGEND; beyond, the classes the grid shows (up to
        MAX_LEGEND) and a count of the others."""
        from matplotlib.patches import Patch

        n_classes = len(self.class_names)
        colours = _style.class_colours(n_classes)
        shown = np.unique(self.y_proba.reshape(-1, n_classes).argmax(axis=1))
        keep = range(n_classes) if n_classes <= MAX_LEGEND else [int(k) for k in shown[:MAX_LEGEND]]
        labels = _style.short_names(self.class_names, width, max_lines)
        handles = [Patch(facecolor=colours[k], edgecolor=_style.EDGE, label=labels[k]) for k in keep]
        if n_classes > len(keep):
            handles.append(Patch(facecolor="none", edgecolor="none",
                                 label=f"(+{n_classes - len(keep)} classes not\npredicted here or not listed)"))
        return handles

    def _multiclass_panel(self, ax, index: int, xy, y_true, legend_handles) -> None:
        """Class colours blended by probability (smooth where the model hesitates) and each class's border;
        the legend beside this panel when given its handles (the user's own axes)."""
        from matplotlib.colors import ListedColormap

        n_classes = len(self.class_names)
        colours = _style.class_colours(n_classes)
        rgb = (self.y_proba @ _style.tints(colours)).reshape(*self.xx.shape, 3)  # (r, r, 3), rows sum to 1
        self.regions_[index] = ax.imshow(np.clip(rgb, 0, 1), extent=self.extent_, origin="lower", aspect="auto",
                                         interpolation="bilinear")
        # A class's border is where its probability meets the best other one: p_k - max_{j!=k} p_j = 0.
        # Contours interpolate between grid points, so the border is a smooth line, not a staircase.
        borders = []
        proba = self.y_proba.reshape(*self.xx.shape, n_classes)  # (r, r, C)
        # The best and second-best probability at each grid point, once: max_{j!=k} p_j is the best one
        # except where k is the best. Only a class that wins somewhere has a border (its margin is < 0
        # everywhere else), so 2,000 classes cost as much as the few the grid shows.
        part = np.partition(proba, max(n_classes - 2, 0), axis=-1)  # the last two: second best, best
        best, second = part[..., -1], part[..., -2] if n_classes > 1 else part[..., -1]
        winner = proba.argmax(axis=-1)
        for k in np.unique(winner):
            margin = proba[..., k] - np.where(winner == k, second, best)
            if margin.min() < 0 < margin.max():
                borders.append(ax.contour(self.xx, self.yy, margin, levels=[0.0], colors=[_style.EDGE],
                                          linewidths=0.9))
        self.contours_[index] = borders
        _scatter(ax, xy, y_true, cmap=ListedColormap(colours), vmin=-0.5, vmax=n_classes - 0.5)
        if legend_handles:
            ax.legend(handles=legend_handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0,
                      fontsize=8, title="class", title_fontsize=8, frameon=False)


def _scatter(ax, xy: np.ndarray, values: np.ndarray, **colour) -> None:
    """The rows as saturated points with a dark rim over a light halo: legible on pale and dark regions."""
    size = 16 if len(xy) <= 2000 else 8
    ax.scatter(xy[:, 0], xy[:, 1], s=size * 2.4, c=_style.HALO, linewidths=0)
    ax.scatter(xy[:, 0], xy[:, 1], c=values, s=size, edgecolors=_style.EDGE, linewidths=0.5, **colour)


def plot_decision_boundary(classifier, X, y, *, X_test=None, y_test=None, features: Sequence[str] | str | None = None,
                           labels: Sequence | None = None, resolution: int = 150, axes=None) -> DecisionBoundaryDisplay:
    """The model's decision regions in 2-D with the rows over them: DecisionBoundaryDisplay.from_classifier."""
    return DecisionBoundaryDisplay.from_classifier(classifier, X, y, X_test=X_test, y_test=y_test, features=features,
                                                   labels=labels, resolution=resolution, axes=axes)
