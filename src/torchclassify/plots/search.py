"""Pictures of adjusting a model: compare's overlaid validation curves, tune's search history and the
learning-rate range test. Each takes plain numbers (no Optuna or run objects), like the other Displays."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from . import _style

BEST_COLOUR = _style.PALETTE[3]  # red: the best so far / the suggestion
MUTED = "0.4"  # pruned trials, the lowest-loss marker: grey that still reads on white


class ComparisonCurvesDisplay(_style.Display):
    """Validation loss and validation metric per epoch: one colour per variant, one line per seed.

    series: [(variant, seed, epochs, losses, metric values)] for every run with a history; variants: the
    legend's order (the ranking). The legend sits below both panels and the figure grows to hold it, so
    long variant names are never cut. After plot: figure_, axes_ ([loss, metric]), legend_.
    """

    def __init__(self, *, series: list, variants: Sequence[str], main_metric: str):
        self.series, self.variants, self.main_metric = series, list(variants), main_metric

    @classmethod
    def from_runs(cls, runs: Sequence[dict], main_metric: str, order: Sequence[str] | None = None,
                  ax=None) -> "ComparisonCurvesDisplay":
        """runs: dicts with variant, seed and history (per-epoch dicts with epoch, valid_loss,
        valid_<metric>; train_* stands in when a run had no validation split). order: variant names, best first."""
        series = []
        for run in runs:
            history = run.get("history") or []
            if not history:
                continue
            key = f"valid_{main_metric}"
            series.append((run["variant"], run.get("seed"), [h["epoch"] for h in history],
                           [h.get("valid_loss", h.get("train_loss")) for h in history],
                           [h.get(key, h.get(f"train_{main_metric}")) for h in history]))
        variants = list(order) if order is not None else []
        variants += [s[0] for s in series if s[0] not in variants]
        return cls(series=series, variants=variants, main_metric=main_metric).plot(ax)

    def plot(self, ax=None) -> "ComparisonCurvesDisplay":
        from matplotlib.lines import Line2D

        names = [_style.short_name(v, 48, 3) for v in self.variants]  # long names wrap, up to 3 lines
        panel, gap, left, right = (4.3, 3.0), 0.8, 0.8, 0.25
        width = left + right + 2 * panel[0] + gap
        n_cols, legend_height = _style.legend_below(names, width)
        bottom = 0.7 + legend_height
        fig, axes = _style.axes_for(ax, 2, panel=panel, left=left, right=right, wspace=gap, bottom=bottom,
                                    top=0.4)
        self.figure_, self.axes_ = fig, axes
        colours = _style.line_colours(max(len(self.variants), 1))
        for variant, _seed, epochs, losses, values in self.series:
            colour = colours[self.variants.index(variant)]
            axes[0].plot(epochs, losses, color=colour, lw=1.3)
            axes[1].plot(epochs, values, color=colour, lw=1.3)
        losses = [v for s in self.series for v in s[3] if v is not None and np.isfinite(v)]
        if losses and min(losses) > 0 and max(losses) / min(losses) > 10:  # a log axis only where it helps
            axes[0].set_yscale("log")
        m = self.main_metric
        axes[0].set(xlabel="epoch", ylabel="validation loss", title="validation loss")
        axes[1].set(xlabel="epoch", ylabel=f"validation {m}", title=f"validation {m}")
        for a in axes:
            a.grid(alpha=0.3)
        handles = [Line2D([], [], color=colours[k], lw=2, label=name) for k, name in enumerate(names)]
        self.legend_ = fig.legend(handles=handles, loc="lower center", ncol=n_cols, fontsize=8, frameon=False,
                                  bbox_to_anchor=(0.5, 0.1 / fig.get_figheight()), title="variant (one line per seed)",
                                  title_fontsize=8)
        return self


class SearchHistoryDisplay(_style.Display):
    """Each trial's validation metric in trial order, the best so far, and the chosen trial ringed.

    trials: dicts with number, state ("finished", "pruned", ...), value (finished) and last_value (the last
    value a pruned trial reported). bounded: the metric lives in [0, 1], so the axis never goes past 1.
    After plot: figure_, axes_ ([ax]).
    """

    def __init__(self, *, trials: Sequence[dict], main_metric: str, best_number: int | None, bounded: bool = True):
        self.trials, self.main_metric, self.best_number, self.bounded = list(trials), main_metric, best_number, bounded

    @classmethod
    def from_trials(cls, trials: Sequence[dict], main_metric: str, best_number: int | None = None,
                    ax=None) -> "SearchHistoryDisplay":
        trials = sorted(trials, key=lambda t: t["number"])
        values = [t.get("value") for t in trials] + [t.get("last_value") for t in trials]
        bounded = all(0.0 <= v <= 1.0 for v in values if v is not None)
        return cls(trials=trials, main_metric=main_metric, best_number=best_number, bounded=bounded).plot(ax)

    def plot(self, ax=None) -> "SearchHistoryDisplay":
        fig, (ax,) = _style.axes_for(ax, 1, panel=(6.0, 3.0), right=1.9)
        self.figure_, self.axes_ = fig, [ax]
        done = [t for t in self.trials if t.get("state") == "finished" and t.get("value") is not None]
        pruned = [t for t in self.trials if t.get("state") == "pruned" and t.get("last_value") is not None]
        # clip_on=False: a dot at exactly 1.0 shows whole although the axis stops at 1.0.
        ax.scatter([t["number"] for t in done], [t["value"] for t in done], s=22, color=_style.PALETTE[0],
                   label="finished trial", zorder=3, clip_on=False)
        if pruned:
            ax.scatter([t["number"] for t in pruned], [t["last_value"] for t in pruned], s=22, facecolors="none",
                       edgecolors=MUTED, label="pruned (last value)", zorder=3, clip_on=False)
        best, running = [], -math.inf
        for t in done:
            running = max(running, t["value"])
            best.append(running)
        if done:
            ax.step([t["number"] for t in done], best, where="post", color=BEST_COLOUR, label="best so far")
        chosen = [t for t in done if t["number"] == self.best_number]
        if chosen:
            ax.scatter([chosen[0]["number"]], [chosen[0]["value"]], s=110, facecolors="none", edgecolors="k",
                       linewidths=1.4, label=f"chosen: trial {self.best_number}", zorder=4, clip_on=False)
        values = [t["value"] for t in done] + [t["last_value"] for t in pruned]
        if values:
            low, high = min(values), max(values)
            pad = max(0.05 * (high - low), 0.01 if self.bounded else 1e-6)
            low, high = low - pad, high + pad
            if self.bounded:  # an accuracy or F1: nothing lies past 1 (or below 0), so the axis stops there
                low, high = max(low, 0.0), min(high, 1.0)
            ax.set_ylim(low, high)
        if self.trials:
            ax.set_xlim(-0.5, max(t["number"] for t in self.trials) + 0.5)
            ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set(xlabel="trial", ylabel=f"validation {self.main_metric}", title="search history")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8, frameon=False)
        return self


class LRFinderDisplay(_style.Display):
    """The range test: training loss against the learning rate (log scale), the suggestion marked.

    lrs, losses (smoothed), raw_losses: per step. After plot: figure_, axes_ ([ax]).
    """

    def __init__(self, *, lrs, losses, raw_losses, suggestion: float, lr_min_loss: float, title: str = ""):
        self.lrs, self.losses, self.raw_losses = np.asarray(lrs), np.asarray(losses), np.asarray(raw_losses)
        self.suggestion, self.lr_min_loss, self.title = suggestion, lr_min_loss, title

    @classmethod
    def from_result(cls, result, ax=None) -> "LRFinderDisplay":
        """result: lr_find's LRFinderResult (lrs, losses, raw_losses, suggestion, lr_min_loss, info)."""
        info = getattr(result, "info", {}) or {}
        title = f"learning-rate range test ({info.get('optimizer')}, batch {info.get('batch_size')})"
        return cls(lrs=result.lrs, losses=result.losses, raw_losses=result.raw_losses, suggestion=result.suggestion,
                   lr_min_loss=result.lr_min_loss, title=title).plot(ax)

    def plot(self, ax=None) -> "LRFinderDisplay":
        fig, (ax,) = _style.axes_for(ax, 1, panel=(5.6, 3.2))
        self.figure_, self.axes_ = fig, [ax]
        ax.plot(self.lrs, self.raw_losses, color="0.55", linewidth=0.8, label="batch loss")
        ax.plot(self.lrs, self.losses, color=_style.PALETTE[0], label="smoothed loss")
        ax.axvline(self.suggestion, color=BEST_COLOUR, linestyle="--", label=f"suggestion {self.suggestion:.2g}")
        ax.axvline(self.lr_min_loss, color=MUTED, linestyle=":", label=f"lowest loss at {self.lr_min_loss:.2g}")
        ax.set_xscale("log")
        lowest = float(self.losses.min())
        ax.set_ylim(lowest * 0.9 if lowest > 0 else None, max(float(self.losses[0]) * 1.5, lowest * 2))
        ax.set(xlabel="learning rate", ylabel="training loss", title=self.title)
        ax.legend(loc="upper left", fontsize=8)
        ax.grid(alpha=0.3)
        return self
