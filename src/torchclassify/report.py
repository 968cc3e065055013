"""The run report: one self-contained report.html per run (images as data URIs, inline CSS, no network).

`RunView` is what a run's pictures are drawn from (its classifier, files, rows and one prediction per
split); `draw` makes one picture, `build_report` / `write_report` the page. The page kit lives in pages.py
(`html_page` and `figure_to_data_uri` are re-exported here, as before).
"""

from __future__ import annotations

import html
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .classifier import load_model
from .config import RunConfig
from .data.prepare import rebuild_rows
from .errors import ConfigError, DataError, TorchClassifyError
from .outputs import write_output
from .pages import figure_html, figure_to_data_uri, html_page  # noqa: F401 (html_page, figure_to_data_uri re-exported)
from .report_tables import data_html, interpretation_html, metrics_html, model_html, summary_html
from .run_folder import read_history, read_metrics, read_run_settings

# ------------------------------------------------------------------------------------------ the run


@dataclass
class RunView:
    """What the report and `torchclassify plot` draw from: the classifier, the run's files and its rows.

    dataset/splits: the raw rows rebuilt from config.json with the library's own loaders and seeded split
    (None when they cannot be rebuilt, e.g. a run trained on an in-memory DataFrame; `data_note` says why).
    """

    classifier: Any
    config: dict
    history: list[dict]
    metrics: dict
    summary: dict
    dataset: Any = None
    splits: dict | None = None
    data_note: str = ""
    # (y_true, y_proba) per split, filled by scores(): every evaluation picture reuses one prediction.
    _scores: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def from_run(cls, run, picture_rows=None) -> "RunView":
        """From an in-memory workflow.Run and its prepared rows for pictures, (Dataset, splits, note) as
        PreparedData.picture_rows gives them, so nothing is read again; None rebuilds them from the config."""
        view = cls(run.classifier, run.config.to_dict(), list(run.history), run.metrics, dict(run.summary))
        if picture_rows is None:
            view._rebuild_rows()
        else:
            dataset, splits, view.data_note = picture_rows
            view.dataset, view.splits = dataset, {k: np.asarray(v) for k, v in splits.items()}
        return view

    @classmethod
    def from_folder(cls, run_dir, trust_custom_model: bool = False) -> "RunView":
        """From a run folder: model files, config.json, history.csv, metrics.json; rows rebuilt from config."""
        run_dir = Path(run_dir)
        classifier = load_model(run_dir, trust_custom_model=trust_custom_model)
        settings = read_run_settings(run_dir)  # checked: a corrupted config.json is one ModelFileError line
        config = {} if settings is None else settings.to_dict()
        summary = classifier.info.get("summary") or {}
        view = cls(classifier, config, read_history(run_dir), read_metrics(run_dir), dict(summary))
        view._rebuild_rows()
        return view

    def _rebuild_rows(self) -> None:
        """Reload the rows from config.json's data section and redo the seeded split (data.prepare)."""
        if not self.config:
            self.data_note = "the folder has no config.json, so the rows cannot be rebuilt"
            return
        try:
            dataset, splits, note = rebuild_rows(RunConfig.from_dict(self.config), self.summary)
            missing = [c for c in self.classifier.feature_columns if c not in dataset.X.columns]
            if missing:
                raise DataError(f"{self.config['data'].get('source')} lacks the trained column(s) {missing[:5]}")
        except TorchClassifyError as err:
            self.data_note = f"the rows cannot be rebuilt: {err}"
            return
        self.dataset, self.splits, self.data_note = dataset, {k: np.asarray(v) for k, v in splits.items()}, note

    def rows(self, split: str):
        """(X, y) raw rows of one split."""
        index = self.splits[split]
        return self.dataset.X.iloc[index], self.dataset.y.iloc[index]

    def scores(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """(y_true, y_proba) of one split, predicted on the first call and kept.

        y_true: encoded targets, (n,) int64 class indices or (n, L) 0/1 for multilabel.
        y_proba: binary (n,) P(positive), otherwise (n, C) or (n, L).
        """
        if split not in self._scores:
            from .plots import scores

            X, y = self.rows(split)
            self._scores[split] = scores(self.classifier, X, y)
        return self._scores[split]

    @property
    def eval_split(self) -> str | None:
        """The split the evaluation pictures use: test, else valid."""
        if self.splits is None:
            return None
        return next((s for s in ("test", "valid") if len(self.splits.get(s, ())) > 0), None)


# --------------------------------------------------------------------------------------- drawing it all


def draw(view: RunView, kind: str, **options):
    """One picture of a run: kind in PICTURE_KINDS. Returns the plots Display.

    The evaluation pictures take the split's predictions from view.scores (computed once per split);
    the boundary runs the model on its grid only.
    """
    from . import plots

    if kind == "curves":
        if not view.history:
            raise DataError("the run has no training history (history.csv) to draw")
        return plots.TrainingCurvesDisplay.from_history(view.history, view.classifier.task.main_metric,
                                                        view.summary.get("best_epoch"))
    displays = {"confusion": plots.ConfusionMatrixDisplay, "roc": plots.RocCurveDisplay,
                "pr": plots.PrecisionRecallDisplay, "calibration": plots.CalibrationDisplay}
    if kind not in ("boundary", "images") and kind not in displays:
        raise ConfigError(f"unknown picture kind {kind!r}: use one of {', '.join(PICTURE_KINDS)}")
    if view.dataset is None:
        raise DataError(f"cannot draw {kind}: {view.data_note}")
    if kind == "boundary":
        X, y = view.rows("train")
        X_test, y_test = view.rows(view.eval_split) if view.eval_split else (None, None)
        return plots.DecisionBoundaryDisplay.from_classifier(view.classifier, X, y, X_test=X_test, y_test=y_test,
                                                             **options)
    if view.eval_split is None:
        raise DataError(f"cannot draw {kind}: the run has neither a test nor a validation split")
    y_true, y_proba = view.scores(view.eval_split)
    classifier = view.classifier
    if kind == "images":
        if not hasattr(classifier.preprocessor, "image_shape"):
            raise DataError("the images picture needs a model trained on images")
        X = view.rows(view.eval_split)[0]
        return plots.ImageGridDisplay.from_predictions(
            lambda rows: classifier.preprocessor.pixels(X.iloc[rows]), y_true, y_proba,
            class_names=[str(c) for c in classifier.classes], threshold=classifier.threshold, **options)
    return displays[kind].from_predictions(y_true, y_proba, class_names=[str(c) for c in classifier.classes],
                                           threshold=classifier.threshold, **options)


PICTURE_KINDS = ("boundary", "curves", "confusion", "roc", "pr", "calibration", "images")
_CAPTIONS = {
    "curves": "Loss and main metric per epoch, train against validation; the dashed line marks the epoch whose "
              "weights were kept.",
    "boundary": "What the model predicts over a 2-D view of the inputs, with the training rows (left) and the "
                "{split} rows (right) scattered over it.",
    "images": "Images of the {split} split with their predicted and true labels: the misclassified ones first, "
              "framed in red, then correctly classified ones.",
    "confusion": "Confusion matrix on the {split} split: rows are the true class, columns the prediction.",
    "roc": "ROC curves on the {split} split.",
    "pr": "Precision-recall curves on the {split} split.",
    "calibration": "Reliability diagram on the {split} split: points on the diagonal mean the probabilities can be "
                   "taken at face value. The number beside a marker is the rows in its bin (its area grows with "
                   "them); hollow bins, which the line does not join, hold too few rows to say much.",
}
MAX_REPORT_LABELS = 3  # multilabel boundary panels in the report (one row of two panels per label)
MAX_GRID_SIDE = 100  # the report's boundary grid: at most this many points a side (the largest batch it predicts)


def _figure_html(view: RunView, kind: str, format: str, **options) -> str:
    try:
        display = draw(view, kind, **options)
    except ConfigError as err:  # a picture this run cannot have (one input: no plane): the page says why
        return f'<p class="muted">Not drawn: {html.escape(str(err))}</p>'
    except Exception as err:  # a picture that fails must not cost the user the rest of the report
        warnings.warn(f"report: the {kind} picture could not be drawn: {type(err).__name__}: {err}", stacklevel=2)
        return f'<p class="muted">Not drawn: {html.escape(str(err))}</p>'
    caption = _CAPTIONS[kind].format(split=view.eval_split or "")
    note = display.variance_note() if kind == "boundary" else None
    # The warning the picture carries, said again in the page's words (the image may be scaled down).
    note_html = f'<p class="note">{html.escape(note)}</p>' if note else ""
    return note_html + figure_html(display.figure_, kind, caption, format)


def build_report(view: RunView, format: str = "png") -> str:
    """The whole report page for a run, as one self-contained HTML string.

    The model runs once on the evaluation split (shared by the confusion matrix, ROC, precision-recall and
    calibration pictures) and once on the boundary's grid.
    """
    from .engine.device import cpu_threads

    with cpu_threads(_report_threads(view)):
        return _build_report(view, format)


def _build_report(view: RunView, format: str) -> str:
    s, classifier = view.summary, view.classifier
    title = f"torchclassify run: {s.get('dataset', classifier.info.get('dataset', 'model'))} ({classifier.task_name})"
    sections = [("Summary", summary_html(view)), ("Metrics", metrics_html(view.metrics))]
    sections.append(("Training curves", _figure_html(view, "curves", format)))
    if view.dataset is None:
        note = f'<p class="muted">Pictures of the rows are left out: {html.escape(view.data_note)}.</p>'
        sections.append(("Decision boundary and evaluation pictures", note))
    else:
        if view.data_note:  # drawn from a sample of the rows: say so above the pictures
            sections.append(("Rows drawn", f'<p class="muted">{html.escape(view.data_note)}.</p>'))
        # The grid's probabilities are resolution^2 x classes numbers: fewer points for many classes keeps
        # them near 4 million (2,000 classes: a 44 x 44 grid, 30 MB instead of 160 MB per copy).
        options = {"resolution": int(np.clip(np.sqrt(4e6 / max(classifier.labels.n_classes, 1)), 30, MAX_GRID_SIDE))}
        if classifier.labels.multilabel and classifier.labels.n_classes > MAX_REPORT_LABELS:
            options["labels"] = classifier.classes[:MAX_REPORT_LABELS]
        if hasattr(classifier.preprocessor, "image_shape"):  # images: the pictures themselves, not a 2-D view
            sections.append(("Test images", _figure_html(view, "images", format)))
        else:
            boundary = _figure_html(view, "boundary", format, **options)
            if "labels" in options:
                boundary += (f'<p class="muted">The first {MAX_REPORT_LABELS} labels are shown; draw others with '
                             "<code>torchclassify plot RUN --kind boundary --labels NAME,...</code>.</p>")
            sections.append(("Decision boundary", boundary))
        sections.append(("Confusion matrix", _figure_html(view, "confusion", format)))
        curves = _figure_html(view, "roc", format) + _figure_html(view, "pr", format)
        sections.append(("ROC and precision-recall", f'<div class="row">{curves}</div>'))
        sections.append(("Calibration", _figure_html(view, "calibration", format)))
        # (interpret refuses image models: shuffling the path column would decode every image again for nothing)
        if view.eval_split is not None and not hasattr(classifier.preprocessor, "image_shape"):
            sections.append(("What the model relies on", interpretation_html(view)))
    sections.append(("Data", data_html(view)))
    sections.append(("Model", model_html(view)))
    sections.append(("Config", f"<pre>{html.escape(json.dumps(view.config, indent=2))}</pre>"))
    return html_page(title, sections)


def write_report(view: RunView, path, format: str = "png") -> Path:
    """Build the report and write it to `path` atomically (temporary name, then rename)."""
    return write_output(Path(path), build_report(view, format))


def _report_threads(view: RunView) -> int | None:
    """CPU threads for the report's predictions, chosen as training chooses them (engine.device.choose_threads)
    for its largest batch, the boundary's grid: on a busy machine torch's default of every core made each
    small prediction wait for a descheduled thread (the importance's 7 passes over 200 rows: 0.23 s, not 0.03)."""
    from .engine.device import choose_threads
    from .models import count_parameters

    requested = (view.config.get("train") or {}).get("threads")
    return choose_threads(requested, count_parameters(view.classifier.model), MAX_GRID_SIDE ** 2)
