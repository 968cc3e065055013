"""What replaced scikit-learn on the default path draws what scikit-learn drew: the toy generators, the
split and permutation importance give the same numbers for the same seed, so runs stay what they were."""

import numpy as np
import pytest
from sklearn import datasets as skd

from torchclassify.data import toys
from torchclassify.data.sources import load_data


@pytest.mark.parametrize("n, noise, seed", [(1000, 0.03, 0), (7, 0.5, 3), (1, None, 1), (2, 0.0, 123)])
def test_circles_and_moons_are_scikit_learns(n, noise, seed):
    X, y = toys.make_circles(n, noise, 0.8, seed)
    X_ref, y_ref = skd.make_circles(n, noise=noise, factor=0.8, random_state=seed)
    np.testing.assert_array_equal(X, X_ref)
    np.testing.assert_array_equal(y, y_ref)
    X, y = toys.make_moons(n, noise, seed)
    X_ref, y_ref = skd.make_moons(n, noise=noise, random_state=seed)
    np.testing.assert_array_equal(X, X_ref)
    np.testing.assert_array_equal(y, y_ref)


@pytest.mark.parametrize("n, std, seed", [(1000, 1.5, 0), (10, 0.3, 7), (3, 1.0, 1)])
def test_blobs_are_scikit_learns(n, std, seed):
    _, _, centers_ref = skd.make_blobs(4, n_features=2, centers=4, random_state=42, return_centers=True)
    centers = toys.blob_centers(4, 2, seed=42)
    np.testing.assert_array_equal(centers, centers_ref)
    X, y = toys.make_blobs(n, centers, std, seed)
    X_ref, y_ref = skd.make_blobs(n, n_features=2, centers=centers_ref, cluster_std=std, random_state=seed)
    np.testing.assert_array_equal(X, X_ref)
    np.testing.assert_array_equal(y, y_ref)


@pytest.mark.parametrize("n, seed", [(2000, 0), (50, 9)])
def test_multilabel_is_scikit_learns(n, seed):
    X, Y = toys.make_multilabel(n, n_features=10, n_classes=5, n_labels=2, seed=seed)
    X_ref, Y_ref = skd.make_multilabel_classification(n, n_features=10, n_classes=5, n_labels=2,
                                                      allow_unlabeled=True, random_state=seed)
    np.testing.assert_array_equal(X, X_ref)
    np.testing.assert_array_equal(Y, Y_ref)


@pytest.mark.parametrize("name, n_classes", [("circles", 2), ("moons", 2), ("blobs", 4)])
def test_toy_datasets_have_their_shape_and_balanced_classes(name, n_classes):
    data = load_data(name, n_samples=401, seed=5)
    assert data.X.shape == (401, 2) and data.y.shape == (401, 1)
    counts = np.bincount(data.y["target"].to_numpy())
    assert len(counts) == n_classes and counts.max() - counts.min() <= 1
    assert not np.array_equal(data.X.to_numpy(), load_data(name, n_samples=401, seed=6).X.to_numpy())
    multi = load_data("multilabel", n_samples=300, seed=1)
    assert multi.X.shape == (300, 10) and multi.y.shape == (300, 5)
    assert set(np.unique(multi.y.to_numpy())) == {0, 1} and (multi.X.to_numpy().sum(axis=1) > 0).all()


@pytest.mark.parametrize("seed", range(12))
def test_the_numpy_split_draws_scikit_learns_split(seed):
    """Same rows in the same order as train_test_split, stratified or not, on uneven classes and odd sizes."""
    from sklearn.model_selection import train_test_split

    from torchclassify.data.split import shuffled_cut, stratified_cut

    rng = np.random.default_rng(seed)
    n = int(rng.integers(12, 300))
    n_classes = int(rng.integers(2, 6))
    strat = rng.choice(n_classes, size=n, p=rng.dirichlet(np.ones(n_classes)))
    strat[:2 * n_classes] = np.repeat(np.arange(n_classes), 2)  # every class has at least 2 rows
    idx = rng.permutation(n) + 1000
    size = int(rng.integers(n_classes, n - n_classes + 1))
    rest, part = stratified_cut(idx, strat, size, np.random.RandomState(seed))
    rest_ref, part_ref = train_test_split(idx, test_size=size, random_state=seed, stratify=strat)
    np.testing.assert_array_equal(rest, rest_ref)
    np.testing.assert_array_equal(part, part_ref)
    rest, part = shuffled_cut(idx, size, np.random.RandomState(seed))
    rest_ref, part_ref = train_test_split(idx, test_size=size, random_state=seed)
    np.testing.assert_array_equal(rest, rest_ref)
    np.testing.assert_array_equal(part, part_ref)


def test_permutation_importance_is_scikit_learns():
    """The report's importance: the same shuffles and figures as sklearn.inspection.permutation_importance."""
    import pandas as pd
    from sklearn.inspection import permutation_importance

    import torchclassify as tc
    from torchclassify import interpret

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"signal": rng.normal(size=120), "colour": rng.choice(["red", "blue", "green"], 120),
                          "noise": rng.normal(size=120)})
    frame["y"] = np.where(frame["signal"] + (frame["colour"] == "red") > 0.3, "yes", "no")
    run = tc.train(data=frame, target="y", epochs=5, valid_size=0.0, test_size=0.0, seed=0)
    X, y = frame.drop(columns="y"), frame["y"]
    ours = interpret.permutation_importance(run.classifier, X, y, n_repeats=3, seed=4)

    class Fitted:
        def fit(self, X, y):
            raise NotImplementedError

    def scorer(_, X_, y_):
        return -interpret.mean_loss(run.classifier, X_, y_)

    reference = permutation_importance(Fitted(), X, y, scoring=scorer, n_repeats=3, random_state=4)
    by_column = ours.set_index("column").loc[list(X.columns)]
    np.testing.assert_allclose(by_column["importance"], reference.importances_mean, rtol=0, atol=1e-12)
    np.testing.assert_allclose(by_column["std"], reference.importances_std, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed, shape", [(0, (200, 10)), (1, (30, 3)), (2, (5, 8)), (3, (500, 2))])
def test_the_boundary_plane_is_scikit_learns_pca(seed, shape):
    """The decision-boundary picture's plane: PCA(2)'s components (and their signs), variance shares, mapping."""
    from sklearn.decomposition import PCA

    from torchclassify.plots._views import _Plane

    rng = np.random.default_rng(seed)
    Z = rng.normal(size=shape) @ rng.normal(size=(shape[1], shape[1])) + rng.normal(size=shape[1])
    ours, reference = _Plane(Z), PCA(n_components=2).fit(Z)
    np.testing.assert_allclose(ours.components_, reference.components_, atol=1e-8)
    np.testing.assert_allclose(ours.explained_variance_ratio_, reference.explained_variance_ratio_, atol=1e-10)
    np.testing.assert_allclose(ours.transform(Z), reference.transform(Z), atol=1e-8)
    grid = rng.normal(size=(7, 2))
    np.testing.assert_allclose(ours.inverse_transform(grid), reference.inverse_transform(grid), atol=1e-8)
