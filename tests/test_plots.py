"""The run pictures' content, checked through matplotlib's objects (never pixels): grids, contours, legends,
colours, and what a reader can make out (contrast, overlapping labels, notes)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.colors import to_rgba
from sklearn.metrics import confusion_matrix, roc_auc_score

import torchclassify as tc
from conftest import make_table
from torchclassify import plots
from torchclassify.data.sources import load_data
from torchclassify.plots import _style

SETTINGS = dict(n_samples=200, epochs=40, hidden=[16, 16], lr=0.03, batch_size=0, progress="quiet")


def _trained(source, **settings):
    """(run, X_train, y_train, X_test, y_test) for a tiny seeded run on a built-in dataset."""
    run = tc.train(data=source, **{**SETTINGS, **settings})
    dataset = load_data(source, n_samples=SETTINGS["n_samples"], seed=0)
    train, test = run.splits["train"], run.splits["test"]
    return run, dataset.X.iloc[train], dataset.y.iloc[train], dataset.X.iloc[test], dataset.y.iloc[test]


@pytest.fixture(scope="module")
def moons():
    return _trained("moons")


@pytest.fixture(scope="module")
def spirals():
    return _trained("spirals", epochs=30)


@pytest.fixture(scope="module")
def multilabel():
    return _trained("multilabel")


@pytest.fixture(scope="module")
def table_run():
    """Binary on a table with two numeric columns (one with NaN) and a categorical one."""
    frame, target = make_table("binary", n=200)
    run = tc.train(data=frame, target=target, **{k: v for k, v in SETTINGS.items() if k != "n_samples"})
    rows = frame.drop(columns=[target])
    return run, rows.iloc[run.splits["train"]], frame[[target]].iloc[run.splits["train"]]


def _decoded(classifier, y_pred):
    return list(classifier.labels.decode(y_pred))


def _segments(contours) -> np.ndarray:
    """(k, 2) vertex-to-vertex steps of every path of one or more contour sets."""
    steps = [np.diff(path.vertices, axis=0) for c in np.ravel([contours]) for path in c.get_paths()
             if len(path.vertices) > 1]
    return np.vstack(steps)


# ----------------------------------------------------------------------------------- decision boundary


def test_binary_boundary_grid_is_the_models_prediction_and_contour_sits_at_the_threshold(moons):
    run, X, y, X_test, y_test = moons
    classifier = copy.copy(run.classifier)
    classifier.threshold = 0.3  # not 0.5: the contour must follow the model's own threshold
    display = plots.plot_decision_boundary(classifier, X, y, X_test=X_test, y_test=y_test, resolution=60)

    assert isinstance(display, plots.DecisionBoundaryDisplay) and display.ax_ is display.axes_[0]
    assert display.view == "features" and display.axis_labels == ("x0", "x1")
    assert display.xx.shape == (60, 60)
    assert list(classifier.predict(display.grid_inputs)) == _decoded(classifier, display.y_pred)
    assert np.array_equal(display.y_pred, (display.y_proba >= 0.3).astype(int))
    # Train and test side by side, each with its own rows scattered, coloured by their true class.
    assert [ax.get_title().split()[0] for ax in display.axes_] == ["train", "test"]
    for ax, truth in zip(display.axes_, (y, y_test)):
        assert [ax.get_xlabel(), ax.get_ylabel()] == ["x0", "x1"]
        points = ax.collections[-1]
        assert np.array_equal(points.get_array(), truth["target"].to_numpy())
        assert np.allclose(points.get_offsets(), X[["x0", "x1"]].to_numpy() if truth is y else X_test.to_numpy())
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert legend == ["0", "1", "threshold 0.3"]
    # The contour is drawn at the threshold, and the model's probability on it is the threshold.
    for contour in display.contours_.values():
        assert list(contour.levels) == [0.3]
        vertices = np.vstack([path.vertices for path in contour.get_paths() if len(path.vertices)])
        assert len(vertices) > 20
        on_line = classifier.predict_proba_tensor(pd.DataFrame(vertices, columns=["x0", "x1"])).numpy()
        assert np.abs(on_line - 0.3).max() < 0.05
    # Shading is P(positive) on the RdYlBu map: low = red (class 0), high = blue (class 1).
    shading = display.regions_[0]
    assert shading.get_cmap().name == "RdYlBu" and shading.norm.vmin == 0 and shading.norm.vmax == 1
    assert np.allclose(shading.get_array(), display.y_proba.reshape(display.xx.shape))


def test_boundary_leaves_the_model_on_its_device_and_in_its_mode(moons, monkeypatch):
    run, X, y, _, _ = moons
    model = run.classifier.model
    before = {k: (v.device, v.data_ptr(), v.clone()) for k, v in model.state_dict().items()}
    # Every .to()/.cpu()/.cuda()/.float() of a module goes through Module._apply: record any call.
    moved = []
    original_apply = torch.nn.Module._apply
    monkeypatch.setattr(torch.nn.Module, "_apply",
                        lambda self, fn, *a, **k: moved.append(type(self).__name__) or original_apply(self, fn, *a, **k))
    for training in (True, False):
        model.train(training)
        modes = [m.training for m in model.modules()]
        plots.plot_decision_boundary(run, X, y, resolution=20)
        plots.plot_decision_boundary(run, X, y, features="pca", resolution=20)
        plots.plot_roc(run, X, y)
        assert [m.training for m in model.modules()] == modes
    for key, value in model.state_dict().items():
        device, pointer, saved = before[key]
        assert value.device == device and value.data_ptr() == pointer and torch.equal(value, saved)
    assert moved == []
    model.eval()


def test_multiclass_regions_blend_class_colours_smoothly_under_visible_points(spirals):
    run, X, y, X_test, y_test = spirals
    classifier = run.classifier
    display = plots.plot_decision_boundary(run, X, y, X_test=X_test, y_test=y_test, resolution=50)
    assert list(classifier.predict(display.grid_inputs)) == _decoded(classifier, display.y_pred)
    n_classes = len(classifier.classes)
    colours = _style.class_colours(n_classes)
    tints = _style.tints(colours)
    (legend,) = display.figure_.legends  # one legend, below the panels
    assert [t.get_text() for t in legend.get_texts()] == [str(c) for c in classifier.classes]
    for index, ax in enumerate(display.axes_):
        regions = display.regions_[index]
        # Each cell is the class tints mixed by the predicted probabilities: a continuous blend, smoothed
        # between cells, not one flat colour per argmax cell (the jagged staircase this replaced).
        expected = (display.y_proba @ tints).reshape(*display.xx.shape, 3)
        assert np.allclose(regions.get_array(), expected)
        assert regions.get_interpolation() == "bilinear"
        assert len(np.unique(np.round(expected.reshape(-1, 3), 3), axis=0)) > 10 * n_classes
        # The borders between classes are contours of p_k - max_{j!=k} p_j = 0: interpolated lines whose
        # steps mostly run diagonally, where a staircase would only step along the axes.
        steps = _segments(display.contours_[index])
        axis_aligned = np.isclose(steps[:, 0], 0) | np.isclose(steps[:, 1], 0)
        assert len(steps) > 50 and axis_aligned.mean() < 0.3
        # The points: saturated class colours with a dark rim over a white halo (drawn just before them).
        halo, points = ax.collections[-2], ax.collections[-1]
        assert np.allclose(halo.get_facecolor()[0], (1, 1, 1, 1)) and halo.get_sizes()[0] > points.get_sizes()[0]
        assert np.allclose(points.get_edgecolor()[0], to_rgba(_style.EDGE))
        for k in range(n_classes):
            assert np.allclose(points.cmap(points.norm(k)), colours[k])
            assert np.allclose(legend.get_patches()[k].get_facecolor(), colours[k])


def test_points_stand_out_on_every_region_colour():
    # Any point's dark rim against any class's pale region, and each class's point against its own region.
    for n_classes in (3, 10, 14):
        colours = _style.class_colours(n_classes)
        for colour, tint in zip(colours, _style.tints(colours)):
            assert _style.contrast(_style.EDGE, tuple(tint)) >= 4.5
            assert _style.contrast(colour, tuple(tint)) >= 1.8
        assert len({tuple(c) for c in np.round(colours, 3)}) == n_classes
    # Binary shading at its darkest (alpha 0.75 over white) against the white halo.
    from matplotlib import colormaps

    for end in (0.0, 1.0):
        rgb = np.array(colormaps["RdYlBu"](end)[:3]) * 0.75 + 0.25
        assert _style.contrast("white", tuple(rgb)) >= 3.0


def test_multilabel_boundary_one_panel_row_per_label_on_pca_of_preprocessed_features(multilabel):
    run, X, y, X_test, y_test = multilabel
    classifier = run.classifier
    display = plots.plot_decision_boundary(run, X, y, X_test=X_test, y_test=y_test, labels=["label_1", "label_3"],
                                           resolution=40)
    assert display.view == "pca"
    assert all(label.startswith(("PC1", "PC2")) and "preprocessed" in label for label in display.axis_labels)
    assert "principal components" in display.figure_._suptitle.get_text()
    assert len(display.axes_) == 4
    assert [ax.get_title() for ax in display.axes_] == ["train: P(label_1)", "test: P(label_1)",
                                                         "train: P(label_3)", "test: P(label_3)"]
    # The grid went through the network unchanged: the stored inputs give the stored probabilities.
    logits = classifier.model(torch.from_numpy(display.grid_inputs)).detach()
    assert np.allclose(torch.sigmoid(logits).numpy(), display.y_proba, atol=1e-6)
    assert np.array_equal(display.y_pred, (display.y_proba >= classifier.threshold).astype(int))
    # Each row colours its points by its own label, and its contour sits at the threshold.
    assert np.array_equal(display.axes_[2].collections[-1].get_array(), y["label_3"].to_numpy())
    assert all(list(c.levels) == [classifier.threshold] for c in display.contours_.values())
    with pytest.raises(tc.ConfigError, match="unknown label"):
        plots.plot_decision_boundary(run, X, y, labels=["nope"])


def test_a_weak_pca_plane_says_so_and_suggests_two_columns(multilabel, moons):
    run, X, y, _, _ = multilabel  # six noisy columns: two components keep little of the variance
    display = plots.plot_decision_boundary(run, X, y, resolution=20)
    assert display.low_variance and float(np.sum(display.explained_variance)) < 0.5
    a, b = display.feature_hint
    assert a != b and {a, b} <= set(run.classifier.feature_columns)
    note = display.variance_note()
    assert f"--features {a},{b}" in note and f"{float(np.sum(display.explained_variance)):.0%}" in note
    assert display.note_ == note and note in [t.get_text() for t in display.figure_.texts]
    # Drawing the suggested columns works, and needs no note.
    named = plots.plot_decision_boundary(run, X, y, features=[a, b], resolution=20)
    assert named.variance_note() is None and named.note_ is None
    # Two inputs: the PCA plane keeps everything, so no note.
    run, X, y, _, _ = moons
    full = plots.plot_decision_boundary(run, X, y, features="pca", resolution=20)
    assert np.sum(full.explained_variance) == pytest.approx(1.0) and full.note_ is None
    assert all("variance" not in t.get_text() for t in full.figure_.texts)


def test_named_features_hold_the_others_at_typical_values(table_run):
    run, X, y = table_run
    classifier = run.classifier
    assert plots.plot_decision_boundary(run, X, y, resolution=10).view == "pca"  # a categorical column: PCA
    display = plots.plot_decision_boundary(run, X, y, features=["b", "a"], resolution=30)
    assert display.axis_labels == ("b", "a")
    grid = display.grid_inputs
    assert list(grid.columns) == classifier.feature_columns
    most_frequent = X["colour"].value_counts().idxmax()
    assert set(grid["colour"]) == {most_frequent}
    assert np.allclose(grid["b"].to_numpy(), display.xx.ravel())
    assert list(classifier.predict(grid)) == _decoded(classifier, display.y_pred)
    assert "held at their training median" in display.figure_._suptitle.get_text()
    with pytest.raises(tc.ConfigError, match="categorical"):
        plots.plot_decision_boundary(run, X, y, features=["a", "colour"])
    with pytest.raises(tc.ConfigError, match="unknown feature"):
        plots.plot_decision_boundary(run, X, y, features=["a", "zz"])
    with pytest.raises(tc.ConfigError, match="two different feature columns"):  # review: a,a was drawn
        plots.plot_decision_boundary(run, X, y, features=["a", "a"])
    with pytest.raises(tc.ConfigError, match="multilabel run's labels; this run is"):  # review: was ignored
        plots.plot_decision_boundary(run, X, y, features=["a", "b"], labels=["x"])


def test_bare_module_on_tensors():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    X = torch.randn(60, 2)
    y = torch.randint(0, 3, (60,))
    classifier = plots.classifier_from_model(model, X, y, class_names=["a", "b", "c"])
    display = plots.plot_decision_boundary(classifier, X, y, resolution=25)
    expected = model(torch.from_numpy(display.grid_inputs.to_numpy(np.float32))).argmax(1).numpy()
    assert np.array_equal(display.y_pred, expected)
    assert [t.get_text() for t in display.figure_.legends[0].get_texts()] == ["a", "b", "c"]


# ------------------------------------------------------------------------------- the other pictures


def test_training_curves_mark_best_epoch_and_learning_rate():
    history = [{"epoch": e, "train_loss": 1 / e, "valid_loss": abs(e - 4) + 0.1, "train_accuracy": e / 10,
                "valid_accuracy": e / 11, "lr": 0.1 * 0.5 ** (e // 3)} for e in range(1, 9)]
    display = plots.plot_training_curves(history, "accuracy")
    assert isinstance(display, plots.TrainingCurvesDisplay)
    assert display.panels == ["loss", "accuracy", "learning rate"]
    assert display.best_epoch == 4
    loss_ax = display.axes_[0]
    labels = [t.get_text() for t in loss_ax.get_legend().get_texts()]
    assert labels == ["train", "valid", "best epoch 4"]
    assert np.allclose(loss_ax.lines[1].get_ydata(), [h["valid_loss"] for h in history])
    assert list(loss_ax.lines[2].get_xdata()) == [4, 4]
    assert display.axes_[2].get_yscale() == "log"
    constant = plots.TrainingCurvesDisplay.from_history([{**h, "lr": 0.1} for h in history])
    assert constant.panels == ["loss", "accuracy"] and constant.main_metric == "accuracy"


def _overlaps(boxes) -> list[tuple[int, int]]:
    return [(i, j) for i in range(len(boxes)) for j in range(i + 1, len(boxes)) if boxes[i].overlaps(boxes[j])]


def _tick_boxes(display):
    """Rendered boxes of every axis' x and y tick labels, and the figure's box."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure = display.figure_
    canvas = FigureCanvasAgg(figure)  # what savefig uses for PNG
    canvas.draw()  # lays the figure out (constrained layout) and places the text
    renderer = canvas.get_renderer()
    boxes = [([t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()],
              [t.get_window_extent(renderer) for t in ax.get_yticklabels() if t.get_text()]) for ax in display.axes_]
    return boxes, figure.bbox


def test_confusion_matrix_counts_and_legible_names(spirals, multilabel):
    run, _, _, X_test, y_test = spirals
    display = plots.plot_confusion_matrix(run, X_test, y_test)
    predicted = run.classifier.predict(X_test)
    assert np.array_equal(display.confusion_matrix,
                          confusion_matrix(y_test["target"], list(predicted), labels=run.classifier.classes))
    assert np.allclose(display.normalised.sum(axis=1), 1.0)
    for ax in display.axes_:
        assert [t.get_text() for t in ax.get_xticklabels()] == [str(c) for c in run.classifier.classes]
    # Multilabel: one 2x2 matrix per label, titled with the label, short no/yes ticks.
    run, _, _, X_test, y_test = multilabel
    display = plots.plot_confusion_matrix(run, X_test, y_test)
    assert [ax.get_title() for ax in display.axes_] == run.classifier.classes
    assert all([t.get_text() for t in ax.get_xticklabels()] == ["no", "yes"] for ax in display.axes_)
    predicted = run.classifier.predict(X_test)
    assert np.array_equal(display.confusion_matrix[2], confusion_matrix(y_test["label_2"], predicted["label_2"]))


@pytest.mark.parametrize("names", [
    ["not mood_happy", "mood_happy_and_then_some", "calm"],  # long, and one without spaces
    [f"a fairly long class name {k}" for k in range(8)],
    [f"label_with_a_long_name_{k}" for k in range(4)],  # multilabel
])
def test_confusion_tick_labels_never_overlap_or_leave_the_figure(names):
    rng = np.random.default_rng(0)
    n = 200
    if names[0].startswith("label_"):
        y_true = rng.integers(0, 2, size=(n, len(names)))
        y_proba = rng.random((n, len(names)))
    else:
        y_true = rng.integers(0, len(names), n)
        y_proba = rng.dirichlet(np.ones(len(names)), n)
    display = plots.ConfusionMatrixDisplay.from_predictions(y_true, y_proba, class_names=names)
    boxes, figure_box = _tick_boxes(display)
    for x_boxes, y_boxes in boxes:
        assert x_boxes and y_boxes
        assert _overlaps(x_boxes) == [] and _overlaps(y_boxes) == []
        for box in x_boxes + y_boxes:
            assert figure_box.x0 <= box.x0 and box.x1 <= figure_box.x1 + 1
            assert figure_box.y0 <= box.y0 and box.y1 <= figure_box.y1 + 1
    titles = [ax.get_title().replace("\n", "") for ax in display.axes_]
    if names[0].startswith("label_"):
        assert titles == names  # the label is the title, wrapped if long, never cut


def test_long_class_names_stay_apart_and_inside_the_figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    # Names that differ only at their ends: cutting the end would make them one name.
    names = [f"customer_segment_{side}_region_{k}" for side in ("north", "south") for k in "ab"] + ["x"]
    short = _style.short_names(names, 18, 1)
    assert len(set(short)) == len(names) and all(len(text) <= 18 for text in short)
    assert short[0] == "…north_region_a" and short[-1] == "x"  # the shared start goes first
    twins = _style.short_names(["a" * 30 + "1" + "b" * 30, "a" * 30 + "2" + "b" * 30, "c"], 14, 2)
    assert len(set(twins)) == 3 and all(len(line) <= 14 for t in twins for line in t.split("\n"))
    rng = np.random.default_rng(0)
    xx, yy = np.meshgrid(np.linspace(-1, 1, 30), np.linspace(-1, 1, 30))
    y_proba = rng.dirichlet(np.ones(len(names)), xx.size)
    xy, y = rng.uniform(-1, 1, (40, 2)), rng.integers(0, len(names), 40)
    display = plots.DecisionBoundaryDisplay(xx=xx, yy=yy, y_proba=y_proba, task="multiclass", class_names=names,
                                            points=[("train", xy, y), ("test", xy, y)]).plot()
    figure = display.figure_
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    (legend,) = figure.legends
    texts = [t.get_text().replace("\n", "") for t in legend.get_texts()]
    assert texts == names  # below the panels there is room for the whole name
    box = legend.get_window_extent(renderer)
    assert figure.bbox.x0 <= box.x0 and box.x1 <= figure.bbox.x1 and figure.bbox.y0 <= box.y0
    assert all(box.y1 <= ax.get_tightbbox(renderer).y0 for ax in display.axes_)  # under the axis labels
    matrix = plots.ConfusionMatrixDisplay.from_predictions(y, rng.dirichlet(np.ones(len(names)), 40), class_names=names)
    ticks = [t.get_text() for t in matrix.axes_[0].get_xticklabels()]
    assert len(set(ticks)) == len(names)


def test_roc_pr_and_calibration_match_sklearn(spirals, moons):
    from sklearn.calibration import calibration_curve

    run, _, _, X_test, y_test = spirals
    proba = run.classifier.predict_proba(X_test)
    roc = plots.plot_roc(run, X_test, y_test)
    for k, name in enumerate(map(str, run.classifier.classes)):
        assert roc.scores[name] == pytest.approx(roc_auc_score(y_test["target"] == k, proba[name]))
    assert [t.get_text().split(" (")[0] for t in roc.ax_.get_legend().get_texts()] == ["0", "1", "2", "chance"]
    pr = plots.plot_precision_recall(run, X_test, y_test)
    assert set(pr.scores) == {"0", "1", "2"}
    run, _, _, X_test, y_test = moons
    calibration = plots.plot_calibration(run, X_test, y_test, n_bins=5)
    predicted, observed, counts = calibration.bins["P(1)"]
    expected_observed, expected_predicted = calibration_curve(
        y_test["target"], run.classifier.predict_proba(X_test)["1"], n_bins=5)
    assert np.allclose(observed, expected_observed) and np.allclose(predicted, expected_predicted)
    assert counts.sum() == len(y_test)
    assert calibration.ax_.get_xlabel() == "mean predicted probability"


def test_from_predictions_gives_what_the_classifier_wrappers_draw(spirals):
    run, _, _, X_test, y_test = spirals
    y_true, y_proba = plots.scores(run, X_test, y_test)
    assert y_true.shape == (len(X_test),) and y_proba.shape == (len(X_test), 3)
    names = [str(c) for c in run.classifier.classes]
    direct = plots.RocCurveDisplay.from_predictions(y_true, y_proba, class_names=names)
    assert direct.scores == plots.plot_roc(run, X_test, y_test).scores
    matrix = plots.ConfusionMatrixDisplay.from_predictions(y_true, y_proba, class_names=names)
    assert np.array_equal(matrix.confusion_matrix, plots.plot_confusion_matrix(run, X_test, y_test).confusion_matrix)


def test_calibration_shows_rows_per_bin_and_fades_thin_bins():
    rng = np.random.default_rng(1)
    # 300 confident rows, 4 hesitant ones: the hesitant bins are too thin to trust.
    y_proba = np.concatenate([rng.uniform(0.9, 1.0, 150), rng.uniform(0.0, 0.1, 150), [0.42, 0.45, 0.55, 0.58]])
    y_true = np.concatenate([np.ones(150), np.zeros(150), [0, 1, 1, 0]]).astype(int)
    display = plots.CalibrationDisplay.from_predictions(y_true, y_proba, class_names=["no", "yes"], n_bins=10)
    predicted, observed, counts = display.bins["P(yes)"]
    assert counts.sum() == len(y_true) and list(counts) == [150, 2, 2, 150]
    solid, faded = display.ax_.collections[0], display.ax_.collections[1]
    assert len(solid.get_offsets()) == 2 and len(faded.get_offsets()) == 2
    assert faded.get_alpha() < 0.5 and (solid.get_alpha() or 1.0) == 1.0
    assert solid.get_sizes()[0] > faded.get_sizes()[0]  # marker area grows with the rows
    assert [t.get_text() for t in display.ax_.texts] == ["150", "2", "2", "150"]  # counts beside the points
    assert "hollow, not joined: under 10 rows" in display.ax_.get_title()
    # The line joins neighbouring trusted bins only: it stops at a thin bin instead of jumping over it.
    (line,) = [line for line in display.ax_.lines if line.get_label() == "P(yes)"]
    assert np.isnan(line.get_ydata()).sum() == 2 and np.isfinite(line.get_ydata()).sum() == 2
    # Multilabel: one panel per label, named, with its own counts; each label's counts add up to the rows.
    y_true = rng.integers(0, 2, (120, 3))
    display = plots.CalibrationDisplay.from_predictions(y_true, rng.random((120, 3)), class_names=["a", "b", "c"])
    assert [bins[2].sum() for bins in display.bins.values()] == [120, 120, 120]
    assert [ax.get_title() for ax in display.axes_] == ["a", "b", "c"]
    for ax, (_, _, counts) in zip(display.axes_, display.bins.values()):
        assert sorted(int(t.get_text()) for t in ax.texts) == sorted(counts.tolist())
    # On one given Axes, every label is drawn there (no counts: they would crowd each other).
    from matplotlib.figure import Figure

    ax = Figure().subplots()
    display = plots.CalibrationDisplay.from_predictions(y_true, rng.random((120, 3)), class_names=["a", "b", "c"], ax=ax)
    assert display.axes_ == [ax] and {"a", "b", "c"} <= {line.get_label() for line in ax.lines} and not ax.texts


def test_lines_read_on_white(spirals, multilabel):
    """Every drawn line of the white-background pictures reaches 3:1 contrast against white."""
    from torchclassify.compare import Comparison, curves_figure

    run, _, _, X_test, y_test = spirals
    labels_run, _, _, labels_X, labels_y = multilabel
    history = [{"epoch": e, "train_loss": 1 / e, "valid_loss": 1 / e + 0.1, "train_accuracy": 0.5, "valid_accuracy": 0.6,
                "lr": 0.1 / e} for e in range(1, 6)]
    runs = [{"variant": f"v{k}", "seed": 0, "history": history} for k in range(10)]
    figures = [plots.plot_roc(run, X_test, y_test), plots.plot_precision_recall(run, X_test, y_test),
               plots.plot_calibration(run, X_test, y_test), plots.plot_training_curves(history),
               plots.plot_calibration(labels_run, labels_X, labels_y)]
    figures = [d.figure_ for d in figures]
    figures.append(curves_figure(Comparison("out", "accuracy", runs=runs, ranking=[])))
    figures.append(plots.SearchHistoryDisplay.from_trials([{"number": 0, "state": "finished", "value": 0.5}],
                                                          "accuracy", 0).figure_)
    figures.append(plots.LRFinderDisplay(lrs=[1e-3, 1e-2, 1e-1], losses=[1, 0.5, 2], raw_losses=[1.1, 0.4, 2.5],
                                         suggestion=1e-2, lr_min_loss=1e-2).plot().figure_)
    n_lines = 0
    for figure in figures:
        for ax in figure.axes:
            for line in ax.lines:
                n_lines += 1
                seen = to_rgba(line.get_color(), line.get_alpha())  # a line's alpha pales it
                assert _style.contrast(seen, "white") >= _style.MIN_LINE_CONTRAST, \
                    (ax.get_title(), line.get_label(), line.get_color())
    assert n_lines > 30


def test_user_axes_are_drawn_on(moons):
    from matplotlib.figure import Figure

    run, X, y, X_test, y_test = moons
    fig = Figure()
    ax = fig.subplots()
    display = plots.plot_roc(run, X_test, y_test, ax=ax)
    assert display.figure_ is fig and display.axes_ == [ax] and len(ax.lines) == 2
    with pytest.raises(tc.ConfigError, match="both X_test and y_test"):
        plots.plot_decision_boundary(run, X, y, X_test=X_test)
    with pytest.raises(tc.ConfigError, match="needs 2 axes"):
        plots.plot_decision_boundary(run, X, y, X_test=X_test, y_test=y_test, axes=ax)


def test_matplotlib_lives_in_the_plots_package_and_pyplot_nowhere():
    import ast
    from pathlib import Path

    package = Path(tc.__file__).parent
    offenders = []
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                inside = path.parent.name == "plots"
                if "pyplot" in name or (name.startswith("matplotlib") and not inside):
                    offenders.append(f"{path.relative_to(package)}: {name}")
    assert offenders == []
    assert all(len(p.read_text().splitlines()) < 300 for p in (package / "plots").glob("*.py"))


def test_a_text_column_beside_two_numbers_is_held_empty_and_the_default_view_is_pca():
    # Seen in a report: "the boundary picture could not be drawn: KeyError: "['note'] not in index"".
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=300), rng.normal(size=300)
    words = np.array("alpha beta gamma delta epsilon zeta eta theta iota kappa".split())
    note = [" ".join(rng.choice(words, size=6)) + f" ref{i}" for i in range(300)]
    frame = pd.DataFrame({"a": a, "b": b, "note": note, "y": np.where(a + b > 0, "u", "d")})
    run = tc.train(data=frame, target="y", **{k: v for k, v in SETTINGS.items() if k != "n_samples"})
    assert run.classifier.preprocessor.text, "the note column should be read as free text"
    X, y = frame.drop(columns="y").iloc[run.splits["train"]], frame[["y"]].iloc[run.splits["train"]]
    assert plots.plot_decision_boundary(run, X, y, resolution=10).view == "pca"
    display = plots.plot_decision_boundary(run, X, y, features=["a", "b"], resolution=10)
    assert set(display.grid_inputs["note"]) == {""}
    assert list(run.classifier.predict(display.grid_inputs)) == _decoded(run.classifier, display.y_pred)


def test_a_model_on_one_input_column_says_why_it_has_no_boundary():
    # Review: `plot` on a one-column run was an internal error (PCA n_components=2 on one feature).
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    frame = pd.DataFrame({"x": x, "y": np.where(x > 0, "u", "d")})
    run = tc.train(data=frame, target="y", **{k: v for k, v in SETTINGS.items() if k != "n_samples"})
    X, y = frame[["x"]].iloc[run.splits["train"]], frame[["y"]].iloc[run.splits["train"]]
    with pytest.raises(tc.ConfigError, match="drawn on a plane"):
        plots.plot_decision_boundary(run, X, y, resolution=10)
