"""The pictures' content, checked through matplotlib's objects (never pixels): grids, contours, legends, colours."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import confusion_matrix, roc_auc_score

import torchclassify as tc
from conftest import make_table
from torchclassify import plots
from torchclassify.data.sources import load_data

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
def blobs():
    return _trained("blobs")


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


def test_binary_boundary_grid_is_the_models_prediction_and_contour_sits_at_the_threshold(moons):
    run, X, y, X_test, y_test = moons
    classifier = copy.copy(run.classifier)
    classifier.threshold = 0.3  # not 0.5: the contour must follow the model's own threshold
    display = plots.plot_decision_boundary(classifier, X, y, X_test=X_test, y_test=y_test, resolution=60)

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
    for contour in display.contours.values():
        assert list(contour.levels) == [0.3]
        vertices = np.vstack([path.vertices for path in contour.get_paths() if len(path.vertices)])
        assert len(vertices) > 20
        on_line = classifier.predict_proba_tensor(pd.DataFrame(vertices, columns=["x0", "x1"])).numpy()
        assert np.abs(on_line - 0.3).max() < 0.05
    # Shading is P(positive) on the RdYlBu map: low = red (class 0), high = blue (class 1).
    shading = display.axes_[0].images[0]
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


@pytest.mark.parametrize("fixture", ["blobs", "spirals"])
def test_multiclass_boundary_colours_classes_and_names_them(fixture, request):
    run, X, y, X_test, y_test = request.getfixturevalue(fixture)
    classifier = run.classifier
    display = plots.plot_decision_boundary(run, X, y, X_test=X_test, y_test=y_test, resolution=50)
    assert list(classifier.predict(display.grid_inputs)) == _decoded(classifier, display.y_pred)
    n_classes = len(classifier.classes)
    for ax in display.axes_:
        legend = ax.get_legend()
        assert [t.get_text() for t in legend.get_texts()] == [str(c) for c in classifier.classes]
        regions, points = ax.images[0], ax.collections[-1]
        assert np.array_equal(regions.get_array(), display.y_pred.reshape(display.xx.shape))
        # One colour per class, the same in the regions, the points and the legend.
        for k, patch in enumerate(legend.get_patches()):
            assert np.allclose(patch.get_facecolor(), points.cmap(points.norm(k)))
            assert np.allclose(patch.get_facecolor()[:3], regions.cmap(regions.norm(k))[:3])
        assert len({tuple(points.cmap(points.norm(k))) for k in range(n_classes)}) == n_classes


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
    assert all(list(c.levels) == [classifier.threshold] for c in display.contours.values())
    with pytest.raises(tc.ConfigError, match="unknown label"):
        plots.plot_decision_boundary(run, X, y, labels=["nope"])


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


def test_bare_module_on_tensors(moons):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    X = torch.randn(60, 2)
    y = torch.randint(0, 3, (60,))
    classifier = plots.classifier_from_model(model, X, y, class_names=["a", "b", "c"])
    display = plots.plot_decision_boundary(classifier, X, y, resolution=25)
    expected = model(torch.from_numpy(display.grid_inputs.to_numpy(np.float32))).argmax(1).numpy()
    assert np.array_equal(display.y_pred, expected)
    assert [t.get_text() for t in display.axes_[0].get_legend().get_texts()] == ["a", "b", "c"]


def test_training_curves_mark_best_epoch_and_learning_rate():
    history = [{"epoch": e, "train_loss": 1 / e, "valid_loss": abs(e - 4) + 0.1, "train_accuracy": e / 10,
                "valid_accuracy": e / 11, "lr": 0.1 * 0.5 ** (e // 3)} for e in range(1, 9)]
    display = plots.plot_training_curves(history, "accuracy")
    assert display.data_["panels"] == ["loss", "accuracy", "learning rate"]
    assert display.data_["best_epoch"] == 4
    loss_ax = display.axes_[0]
    labels = [t.get_text() for t in loss_ax.get_legend().get_texts()]
    assert labels == ["train", "valid", "best epoch 4"]
    assert np.allclose(loss_ax.lines[1].get_ydata(), [h["valid_loss"] for h in history])
    assert list(loss_ax.lines[2].get_xdata()) == [4, 4]
    assert display.axes_[2].get_yscale() == "log"
    constant = plots.plot_training_curves([{**h, "lr": 0.1} for h in history])
    assert constant.data_["panels"] == ["loss", "accuracy"]


def test_confusion_matrix_counts_and_names(spirals, multilabel):
    run, _, _, X_test, y_test = spirals
    display = plots.plot_confusion_matrix(run, X_test, y_test)
    predicted = run.classifier.predict(X_test)
    assert np.array_equal(display.data_["counts"],
                          confusion_matrix(y_test["target"], list(predicted), labels=run.classifier.classes))
    assert np.allclose(display.data_["normalised"].sum(axis=1), 1.0)
    for ax in display.axes_:
        assert [t.get_text() for t in ax.get_xticklabels()] == [str(c) for c in run.classifier.classes]
    run, _, _, X_test, y_test = multilabel
    display = plots.plot_confusion_matrix(run, X_test, y_test)
    assert [ax.get_title() for ax in display.axes_] == run.classifier.classes
    predicted = run.classifier.predict(X_test)
    assert np.array_equal(display.data_["matrices"][2], confusion_matrix(y_test["label_2"], predicted["label_2"]))


def test_roc_pr_and_calibration_match_sklearn(spirals, moons):
    run, _, _, X_test, y_test = spirals
    proba = run.classifier.predict_proba(X_test)
    roc = plots.plot_roc(run, X_test, y_test)
    for k, name in enumerate(map(str, run.classifier.classes)):
        assert roc.data_["scores"][name] == pytest.approx(roc_auc_score(y_test["target"] == k, proba[name]))
    assert [t.get_text().split(" (")[0] for t in roc.axes_[0].get_legend().get_texts()] == ["0", "1", "2", "chance"]
    pr = plots.plot_precision_recall(run, X_test, y_test)
    assert set(pr.data_["scores"]) == {"0", "1", "2"}
    from sklearn.calibration import calibration_curve

    run, _, _, X_test, y_test = moons
    calibration = plots.plot_calibration(run, X_test, y_test, n_bins=5)
    predicted, observed = calibration.data_["points"]["P(1)"]
    expected_observed, expected_predicted = calibration_curve(
        y_test["target"], run.classifier.predict_proba(X_test)["1"], n_bins=5)
    assert np.allclose(observed, expected_observed) and np.allclose(predicted, expected_predicted)
    assert calibration.axes_[0].get_xlabel() == "mean predicted probability"


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
