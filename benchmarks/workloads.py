"""The workloads of issue 5: data, network and hyperparameters, identical for every peer.

Data come from scikit-learn's generators (seeded, nothing downloaded), are split 80/20 and standardised
with the training rows' mean and deviation. All arrays are float32 features and int64 / 0-1 targets.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Workload:
    name: str
    generator: str  # circles | blobs | multilabel | classification
    n_samples: int
    n_features: int
    n_classes: int  # classes, or labels for multilabel
    task: str  # binary | multiclass | multilabel
    hidden: tuple[int, ...]
    batch_size: int  # 0 = full batch
    epochs: int
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    seed: int = 0

    @property
    def n_outputs(self) -> int:
        return 1 if self.task == "binary" else self.n_classes

    @property
    def n_train(self) -> int:
        return self.n_samples - self.n_samples // 5

    def macs_per_row(self) -> int:
        """Multiply-adds of one forward pass for one row."""
        widths = [self.n_features, *self.hidden, self.n_outputs]
        return sum(a * b for a, b in zip(widths, widths[1:]))


WORKLOADS = [
    Workload("circles_full", "circles", 10_000, 2, 2, "binary", (10, 10), 0, 1000, "sgd", 0.1),
    Workload("circles_b64", "circles", 10_000, 2, 2, "binary", (10, 10), 64, 50, "sgd", 0.1),
    Workload("blobs", "blobs", 100_000, 20, 10, "multiclass", (256, 256), 256, 10),
    Workload("multilabel", "multilabel", 50_000, 50, 20, "multilabel", (256, 256), 256, 10),
    Workload("wide_250k", "classification", 250_000, 32, 4, "multiclass", (512, 512), 1024, 3),
]
WIDE_1M = Workload("wide_1m", "classification", 1_000_000, 32, 4, "multiclass", (512, 512), 1024, 3)


def quick(work: Workload) -> Workload:
    """A smoke-test version: a tenth of the rows or epochs, same shapes."""
    if work.batch_size == 0 or work.generator == "circles":
        return replace(work, epochs=max(1, work.epochs // 10))
    return replace(work, n_samples=work.n_samples // 10, epochs=max(1, work.epochs // 3))


@dataclass
class Data:
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def make_data(work: Workload) -> Data:
    from sklearn import datasets

    rng = np.random.default_rng(work.seed)
    if work.generator == "circles":
        X, y = datasets.make_circles(work.n_samples, noise=0.1, factor=0.5, random_state=work.seed)
    elif work.generator == "blobs":
        X, y = datasets.make_blobs(work.n_samples, work.n_features, centers=work.n_classes, cluster_std=4.0,
                                   random_state=work.seed)
    elif work.generator == "multilabel":
        X, y = datasets.make_multilabel_classification(work.n_samples, work.n_features, n_classes=work.n_classes,
                                                       random_state=work.seed)
    else:
        X, y = datasets.make_classification(work.n_samples, work.n_features, n_informative=16,
                                            n_classes=work.n_classes, random_state=work.seed)
    order = rng.permutation(len(X))
    X, y = X[order].astype(np.float32), y[order].astype(np.int64)
    n_train = work.n_train
    mean, std = X[:n_train].mean(axis=0), X[:n_train].std(axis=0) + 1e-6
    X = (X - mean) / std
    return Data(X[:n_train].copy(), y[:n_train].copy(), X[n_train:].copy(), y[n_train:].copy())


def score(work: Workload, logits: np.ndarray, y_test: np.ndarray) -> float:
    """Test accuracy (binary, multiclass) or micro-F1 (multilabel) from logits (n, n_outputs)."""
    if work.task == "multiclass":
        return float(np.mean(logits.argmax(axis=1) == y_test))
    y_pred = (logits > 0).astype(np.int64)
    if work.task == "binary":
        return float(np.mean(y_pred.reshape(-1) == y_test))
    tp = np.sum((y_pred == 1) & (y_test == 1))
    return float(2 * tp / max(1, y_pred.sum() + y_test.sum()))
