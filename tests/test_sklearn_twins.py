"""The numpy toy generators draw exactly scikit-learn's rows for the same seed, so runs stay what they were."""

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
