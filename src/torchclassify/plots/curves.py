"""Training curves: loss and the main metric per epoch, train against validation, and the learning rate."""

from __future__ import annotations

import pandas as pd

from ..errors import DataError
from . import _style

TRAIN_COLOUR, VALID_COLOUR = _style.PALETTE[0], _style.PALETTE[1]  # blue and orange: apart even in grey
LR_COLOUR = "#4d4d4d"


class TrainingCurvesDisplay(_style.Display):
    """Per-epoch curves of a run.

    history: DataFrame with epoch, train_loss, [valid_loss], train_<metric>, [valid_<metric>], lr.
    panels: "loss", the main metric, and "learning rate" when it changed. best_epoch: the epoch whose
    weights were kept (marked by a dashed line). After plot: figure_, axes_ (one per panel).
    """

    def __init__(self, *, history: pd.DataFrame, main_metric: str | None, best_epoch: int | None):
        self.history, self.main_metric, self.best_epoch = history, main_metric, best_epoch
        lr_changed = "lr" in history and history["lr"].nunique() > 1
        self.panels = ["loss"] + ([main_metric] if main_metric else []) + (["learning rate"] if lr_changed else [])

    @classmethod
    def from_history(cls, history, main_metric: str | None = None, best_epoch: int | None = None,
                     axes=None) -> "TrainingCurvesDisplay":
        """history: list of per-epoch dicts (or history.csv's DataFrame). main_metric: e.g. "accuracy"
        (default: the first train_<name> column besides the loss). best_epoch: default the lowest
        validation loss, if there is one."""
        frame = pd.DataFrame(history)
        if frame.empty or "epoch" not in frame:
            raise DataError("the training history is empty: there is nothing to draw")
        if main_metric is None:
            found = [c[6:] for c in frame.columns if c.startswith("train_") and c != "train_loss"]
            main_metric = found[0] if found else None
        if best_epoch is None and "valid_loss" in frame and frame["valid_loss"].notna().any():
            best_epoch = int(frame.loc[frame["valid_loss"].idxmin(), "epoch"])
        return cls(history=frame, main_metric=main_metric, best_epoch=best_epoch).plot(axes)

    def plot(self, axes=None) -> "TrainingCurvesDisplay":
        frame = self.history
        fig, panel_axes = _style.axes_for(axes, len(self.panels), panel=(3.4, 2.7), left=0.75, wspace=0.75)
        self.figure_, self.axes_ = fig, panel_axes
        marker = "." if len(frame) < 30 else None
        for ax, name in zip(panel_axes, self.panels):
            if name == "learning rate":
                ax.plot(frame["epoch"], frame["lr"], color=LR_COLOUR)
                ax.set_yscale("log")
            else:
                for split, colour in (("train", TRAIN_COLOUR), ("valid", VALID_COLOUR)):
                    column = f"{split}_{name}"
                    if column in frame and frame[column].notna().any():
                        ax.plot(frame["epoch"], frame[column], color=colour, label=split, marker=marker)
            if self.best_epoch is not None:
                ax.axvline(self.best_epoch, color="k", ls="--", lw=1, label=f"best epoch {self.best_epoch}")
            ax.set_xlabel("epoch")
            ax.set_ylabel(name)
            ax.set_title(name, fontsize=10)
            ax.grid(alpha=0.3)
            if name != "learning rate":
                ax.legend(fontsize=8)
        return self


def plot_training_curves(history, main_metric: str | None = None, best_epoch: int | None = None,
                         axes=None) -> TrainingCurvesDisplay:
    """Loss and the main metric per epoch, train against validation: TrainingCurvesDisplay.from_history."""
    return TrainingCurvesDisplay.from_history(history, main_metric, best_epoch, axes)
