"""A grid of images with their predicted and true labels, misclassified first (the report of image data)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from . import _inputs, _style

MAX_IMAGES = 40  # panels in the grid: the misclassified ones first, then correct ones to fill it
N_COLS = 8
WRONG = "#b2182b"  # a misclassified image's title and frame (WCAG contrast above 3:1 on white)


class ImageGridDisplay(_style.Display):
    """Images with "pred / true" titles; misclassified ones first, framed and titled in red.

    images: (n, C, H, W) floats in [0, 1], or a function of row indices returning theirs (so that only the
    images shown are decoded); y_true, y_pred: encoded, (n,) or (n, L) 0/1. order: the row indices shown,
    in the order drawn; shown: their images; wrong: (n,) True where the prediction differs from the truth.
    After plot: figure_, axes_.
    """

    def __init__(self, *, images, y_true, y_pred, class_names: Sequence[str], max_images: int = MAX_IMAGES):
        self.y_true, self.y_pred = np.asarray(y_true), np.asarray(y_pred)
        self.class_names = [str(c) for c in class_names]
        wrong = self.y_true != self.y_pred
        self.wrong = wrong.any(axis=1) if wrong.ndim == 2 else wrong
        # misclassified first (in row order), then correct ones taking the classes in turn (the first of each
        # class, then the second...), so the grid shows every class rather than the first one's rows
        rank = np.zeros(len(self.wrong), np.int64)
        if self.y_true.ndim == 1:
            for code in np.unique(self.y_true):
                rows = np.flatnonzero((self.y_true == code) & ~self.wrong)
                rank[rows] = np.arange(len(rows))
        else:
            rank = np.arange(len(self.wrong))
        self.order = np.lexsort((np.arange(len(rank)), rank, ~self.wrong))[:max_images]
        shown = images(self.order) if callable(images) else np.asarray(images)[self.order]
        self.shown = np.asarray(shown, dtype=np.float32)  # (k, C, H, W)

    @classmethod
    def from_predictions(cls, images, y_true, y_proba, *, class_names: Sequence[str] | None = None,
                         threshold=0.5, max_images: int = MAX_IMAGES, axes=None) -> "ImageGridDisplay":
        """images: (n, C, H, W) in [0, 1] (or a function of row indices); y_true: (n,) class indices or (n, L) 0/1; y_proba: (n,) P(positive),
        (n, C) or (n, L). Predictions as everywhere: argmax, or probability >= threshold."""
        y_true, y_pred, _, names = _inputs.decided(y_true, y_proba, threshold, class_names)
        return cls(images=images, y_true=y_true, y_pred=y_pred, class_names=names, max_images=max_images).plot(axes)

    def label_text(self, codes) -> str:
        """A class index, or the names of a multilabel row's labels ("-" for none)."""
        codes = np.asarray(codes)
        if codes.ndim == 0:
            return _style.short_name(self.class_names[int(codes)], 12, 1)
        shown = [self.class_names[k] for k in np.flatnonzero(codes)]
        return _style.short_name(",".join(shown) or "-", 12, 1)

    def plot(self, axes=None) -> "ImageGridDisplay":
        n = max(len(self.order), 1)
        fig, panel_axes = _style.axes_for(axes, n, N_COLS, panel=(1.1, 1.1), top=0.75, bottom=0.1, left=0.1,
                                          right=0.1, wspace=0.15, hspace=0.45)
        self.figure_, self.axes_ = fig, panel_axes
        for ax, row, image in zip(panel_axes, self.order, self.shown):
            if image.shape[0] == 1:
                ax.imshow(image[0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            else:
                ax.imshow(np.clip(image.transpose(1, 2, 0), 0, 1), interpolation="nearest")
            colour = WRONG if self.wrong[row] else _style.EDGE
            ax.set_title(f"pred {self.label_text(self.y_pred[row])}\ntrue {self.label_text(self.y_true[row])}",
                         fontsize=7, color=colour)
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set(color=colour, linewidth=2.5 if self.wrong[row] else 0.5)
        if not len(self.order):
            panel_axes[0].set_axis_off()
        n_wrong = int(self.wrong.sum())
        fig.suptitle(f"{n_wrong} of {len(self.wrong)} images misclassified; shown: {int(self.wrong[self.order].sum())}"
                     f" misclassified (red), then correct ones", fontsize=9)
        return self
