"""The toy generators (circles, moons, blobs, multilabel counts) in numpy alone.

They draw the same rows as scikit-learn's `make_circles`, `make_moons`, `make_blobs` and
`make_multilabel_classification` for the same seed (the same geometry and the same draws from a
`RandomState`, checked in tests/test_sklearn_twins.py), so runs, splits and figures stay what they were, while a
toy run no longer imports scikit-learn and the scipy under it (~0.6-0.9 s of start-up).
"""

from __future__ import annotations

import numpy as np


def _shuffled(rng: np.random.RandomState, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # One shuffle of the row order, drawn as scikit-learn's `shuffle` draws it (arange, then shuffle in place).
    order = np.arange(len(X))
    rng.shuffle(order)
    return X[order], y[order]


def _two_arcs(outer: tuple, inner: tuple, n_out: int, seed: int, noise: float | None):
    """Rows of two point sets (class 0: outer, class 1: inner), shuffled, with Gaussian noise added.

    outer, inner: ((n,) x, (n,) y) coordinates. Returns X (n_out + n_in, 2) float64, y (n,) int64.
    """
    rng = np.random.RandomState(seed)
    X = np.stack([np.concatenate([outer[0], inner[0]]), np.concatenate([outer[1], inner[1]])], axis=1)
    y = np.concatenate([np.zeros(n_out, dtype=np.int64), np.ones(len(X) - n_out, dtype=np.int64)])
    X, y = _shuffled(rng, X, y)
    if noise is not None:
        X = X + rng.normal(scale=noise, size=X.shape)
    return X, y


def make_circles(n_samples: int, noise: float | None, factor: float, seed: int):
    """Two concentric circles: n // 2 points evenly spaced on the unit circle (class 0), the rest on the
    circle of radius `factor` (class 1). Returns X (n, 2) float64, y (n,) int64."""
    n_out = n_samples // 2
    angle_out = np.linspace(0, 2 * np.pi, n_out, endpoint=False)  # no point twice at 0 and 2 pi
    angle_in = np.linspace(0, 2 * np.pi, n_samples - n_out, endpoint=False)
    return _two_arcs((np.cos(angle_out), np.sin(angle_out)),
                     (factor * np.cos(angle_in), factor * np.sin(angle_in)), n_out, seed, noise)


def make_moons(n_samples: int, noise: float | None, seed: int):
    """Two interleaving half circles: the upper one centred at (0, 0) (class 0), the lower one at (1, 0.5).
    Returns X (n, 2) float64, y (n,) int64."""
    n_out = n_samples // 2
    angle_out = np.linspace(0, np.pi, n_out)
    angle_in = np.linspace(0, np.pi, n_samples - n_out)
    return _two_arcs((np.cos(angle_out), np.sin(angle_out)),
                     (1 - np.cos(angle_in), 1 - np.sin(angle_in) - 0.5), n_out, seed, noise)


def blob_centers(n_centers: int, n_features: int, seed: int) -> np.ndarray:
    """(n_centers, n_features) centres drawn uniformly in [-10, 10), as make_blobs draws them."""
    return np.random.RandomState(seed).uniform(-10.0, 10.0, size=(n_centers, n_features))


def make_blobs(n_samples: int, centers: np.ndarray, cluster_std: float, seed: int):
    """Gaussian clusters around `centers` (K, d): n // K rows each (the first n % K one more), shuffled.
    Returns X (n, d) float64, y (n,) int64 cluster index."""
    rng = np.random.RandomState(seed)
    n_centers, n_features = centers.shape
    sizes = np.full(n_centers, n_samples // n_centers)
    sizes[: n_samples % n_centers] += 1
    X = np.concatenate([rng.normal(loc=centers[k], scale=cluster_std, size=(sizes[k], n_features))
                        for k in range(n_centers)])
    y = np.repeat(np.arange(n_centers, dtype=np.int64), sizes)
    return _shuffled(rng, X, y)


def make_multilabel(n_samples: int, n_features: int, n_classes: int, n_labels: int, seed: int,
                    length: int = 50):
    """Bag-of-words documents with several labels each (labels may be none).

    Each label has a probability and a word distribution; a row draws Poisson(n_labels) distinct labels
    (at most n_classes), then Poisson(length) words (at least one) from the mixture of its labels' word
    distributions (uniform words when it has none). X (n, n_features) float64: word counts;
    Y (n, n_classes) int64 0/1.
    """
    rng = np.random.RandomState(seed)
    label_p = rng.uniform(size=n_classes)
    label_cdf = np.cumsum(label_p / label_p.sum())
    word_p = rng.uniform(size=(n_features, n_classes))
    word_p /= word_p.sum(axis=0)  # each label's column sums to 1
    X = np.zeros((n_samples, n_features))
    Y = np.zeros((n_samples, n_classes), dtype=np.int64)
    for row in range(n_samples):
        n_row_labels = n_classes + 1
        while n_row_labels > n_classes:  # redraw a count larger than the labels there are
            n_row_labels = rng.poisson(n_labels)
        labels: set = set()
        while len(labels) != n_row_labels:  # draw labels by their probability until enough distinct ones
            labels.update(np.searchsorted(label_cdf, rng.uniform(size=n_row_labels - len(labels))).tolist())
        n_words = 0
        while n_words == 0:
            n_words = rng.poisson(length)
        if labels:
            ordered = list(labels)  # the set's own order decides the cumulative sum, as it does in sklearn
            word_cdf = word_p.take(ordered, axis=1).sum(axis=1).cumsum()
            words = np.searchsorted(word_cdf / word_cdf[-1], rng.uniform(size=n_words))
        else:
            words = rng.randint(n_features, size=n_words)
        X[row] = np.bincount(words, minlength=n_features)
        Y[row, [label for label in labels if label < n_classes]] = 1
    return X, Y
