"""Shared look of every picture: class colours, line colours that read on white, figures without pyplot.

matplotlib is imported inside the functions only, so importing the plots package costs nothing until a
picture is drawn.
"""

from __future__ import annotations

import math
import os
import textwrap

import numpy as np

from ..errors import ConfigError, printable

SHADING_CMAP = "RdYlBu"  # binary / multilabel P(positive): red for the negative class, blue for the positive
# Ten hues that stay apart from each other and all reach a WCAG contrast of at least 3:1 on white, so a
# thin line or a small marker in any of them reads on a white page (RdYlBu's pale middle did not).
PALETTE = ("#2166ac", "#d95f02", "#1b7837", "#b2182b", "#762a83", "#8c510a", "#e7298a", "#01665e",
           "#4d4d4d", "#7570b3")
MIN_LINE_CONTRAST = 3.0  # WCAG's floor for graphics against their background
TINT = 0.38  # multiclass regions: this much of the class colour over white, so saturated points stand out
EDGE = "#1a1a1a"  # the dark rim around every scattered point: visible on pale and dark regions alike
HALO = "white"  # the light ring under every scattered point: visible on dark regions


def binary_colours():
    """(2, 4) RGBA: the two ends of the shading map, so points match the regions they belong to."""
    from matplotlib import colormaps

    return colormaps[SHADING_CMAP](np.array([0.0, 1.0]))


def class_colours(n_classes: int) -> np.ndarray:
    """(n_classes, 4) RGBA colours, one per class, the same in every picture.

    Up to ten classes: PALETTE. Beyond: hues spread evenly at a fixed, dark-enough lightness.
    """
    import colorsys

    from matplotlib.colors import to_rgba_array

    if n_classes <= len(PALETTE):
        return to_rgba_array(PALETTE[:n_classes])
    rgb = [colorsys.hls_to_rgb(k / n_classes, 0.32, 0.75) for k in range(n_classes)]
    return np.column_stack([np.array(rgb), np.ones(n_classes)])


def line_colours(n: int) -> np.ndarray:
    """(n, 4) colours for n curves on white (one per class, label or variant)."""
    return class_colours(max(n, 1))[:n]


def tints(colours: np.ndarray, amount: float = TINT) -> np.ndarray:
    """(k, 3) pale versions of (k, 3|4) colours: amount of the colour over white."""
    return 1.0 - amount * (1.0 - np.asarray(colours)[:, :3])


def _luminance(rgb) -> float:
    rgb = np.asarray(rgb, dtype=np.float64)
    linear = np.where(rgb <= 0.03928, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    return float(linear @ np.array([0.2126, 0.7152, 0.0722]))


def contrast(colour, background="white") -> float:
    """WCAG contrast ratio (1 to 21) of a colour, blended over the background by its alpha, against it."""
    from matplotlib.colors import to_rgba

    r, g, b, a = to_rgba(colour)
    back = np.array(to_rgba(background)[:3])
    seen = np.array([r, g, b]) * a + back * (1.0 - a)  # what the eye sees over that background
    light, dark = sorted((_luminance(seen), _luminance(back)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def short_name(name, width: int = 14, max_lines: int = 2) -> str:
    """A tick or legend label that stays legible: wrapped at `width` characters, at most max_lines.

    A longer name loses its middle, not its end ("customer_s…ment_north"): names that differ only at
    the end ("..._north", "..._south") stay apart.
    """
    text = printable(str(name)).replace("\n", "\\n")  # a label from the data: no control characters drawn
    lines = _wrap(text, width)
    keep = width * max_lines
    while len(lines) > max_lines and keep > 1:
        keep -= 1
        head = (keep + 1) // 2
        tail = keep - head
        lines = _wrap(text[:head].rstrip() + "…" + (text[-tail:].lstrip() if tail else ""), width)
    return "\n".join(lines)


def short_names(names, width: int = 14, max_lines: int = 2) -> list[str]:
    """short_name of each name, kept apart: names whose short forms meet lose the start they share
    ("…north_region_a", "…south_region_a"), and any still equal are numbered by position."""
    names = [str(n) for n in names]
    short = [short_name(n, width, max_lines) for n in names]
    for group in _collisions(short):
        prefix = os.path.commonprefix([names[i] for i in group])
        if len(prefix) > 1:
            for i in group:
                short[i] = short_name("…" + names[i][len(prefix):], width, max_lines)
    for group in _collisions(short):
        for i in group:
            short[i] = short_name(f"#{i} {names[i]}", width, max_lines)
    return short


def _collisions(short: list[str]) -> list[list[int]]:
    groups: dict[str, list[int]] = {}
    for i, text in enumerate(short):
        groups.setdefault(text, []).append(i)
    return [group for group in groups.values() if len(group) > 1]


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False) or [""]


def legend_below(names: list[str], width: float) -> tuple[int, float]:
    """(columns, height in inches) of a legend of `names` (already wrapped) across a figure `width` inches wide.

    As many columns as fit (about 0.068 in per character at 8 pt plus the sample), as many rows as that
    needs, each as tall as its tallest name; the height includes the legend's title.
    """
    lines = [name.split("\n") for name in names]
    entry = 0.75 + 0.068 * max((len(line) for name in lines for line in name), default=1)
    n_cols = max(1, min(len(names), int((width - 0.3) // entry)))
    n_rows = math.ceil(len(names) / n_cols) if names else 0
    # matplotlib fills the legend column by column: row r holds entries r, r + n_rows, ...; a line at 8 pt is
    # about 0.135 in, plus 0.06 in between rows.
    n_lines = sum(max(len(lines[i]) for i in range(r, len(lines), n_rows)) for r in range(n_rows))
    return n_cols, 0.25 + 0.135 * n_lines + 0.06 * n_rows


# ------------------------------------------------------------------------------------------ figures


def import_matplotlib() -> None:
    """Import what drawing a figure takes, now: for a caller that will draw and wants the import
    among its own (the CLI's `train`, whose report.html draws six figures; commands.common.imports_kept).
    A speed-up only: where matplotlib cannot be imported, the drawing says so when it comes (a run's report
    turns that into a warning and keeps the trained model)."""
    try:
        from matplotlib.figure import Figure  # noqa: F401
    except ImportError:
        pass


def new_figure(n_rows: int = 1, n_cols: int = 1, panel: tuple[float, float] = (4.6, 3.8), *,
               top: float = 0.4, bottom: float = 0.6, left: float = 0.85, right: float = 0.25,
               wspace: float = 0.8, hspace: float = 0.85):
    """A figure of n_rows x n_cols panels, each `panel` inches, margins and gaps in inches.

    No pyplot: a plain Figure on the Agg canvas (no backend, no display, no global state).
    Margins are fixed in inches rather than left to a layout engine: constrained layout doubled the
    drawing time of the run report, and these panels' labels have known sizes.
    Returns (figure, flat list of n_rows * n_cols axes).
    """
    from matplotlib.figure import Figure

    width = left + right + n_cols * panel[0] + (n_cols - 1) * wspace
    height = top + bottom + n_rows * panel[1] + (n_rows - 1) * hspace
    fig = Figure(figsize=(width, height))
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height,
                        wspace=wspace / panel[0], hspace=hspace / panel[1])
    return fig, list(axes.ravel())


def axes_for(axes, n: int, n_cols: int | None = None, panel=(4.6, 3.8), **margins):
    """The user's axes (one, or a sequence of at least n), or a new figure with n panels.

    Returns (figure, list of n axes); ConfigError when the user gave too few.
    """
    if axes is None:
        n_cols = min(n_cols or n, n)
        fig, created = new_figure(int(np.ceil(n / n_cols)), n_cols, panel, **margins)
        for ax in created[n:]:  # a grid larger than needed: hide the empty panels
            ax.set_visible(False)
        return fig, created[:n]
    axes = list(np.ravel(axes)) if isinstance(axes, (list, tuple, np.ndarray)) else [axes]
    if len(axes) < n:
        raise ConfigError(f"this picture needs {n} axes, got {len(axes)}")
    return axes[0].figure, axes[:n]


class Display:
    """A drawn picture, scikit-learn style: `from_*` computes, `plot(ax=)` draws.

    After plot: figure_ (matplotlib Figure) and axes_ (flat list of Axes); ax_ is the first axes.
    """

    figure_ = None
    axes_: list = []

    @property
    def ax_(self):
        return self.axes_[0]

    def savefig(self, path, **kwargs) -> None:
        """Write the figure (PNG at 100 dpi unless told otherwise; tight box so nothing is cut)."""
        self.figure_.savefig(path, **{"dpi": 100, "bbox_inches": "tight", **kwargs})
