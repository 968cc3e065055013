"""The task table's metrics (metrics.py), checked against sklearn.metrics as the oracle."""

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from torchclassify.evaluate import compute_metrics
from torchclassify.tasks import get_task

rng = np.random.default_rng(0)


def test_binary_against_sklearn():
    y_true = rng.integers(0, 2, 200)
    y_proba = np.clip(y_true * 0.3 + rng.random(200) * 0.7, 0, 1).astype(np.float32)
    m = compute_metrics(get_task("binary"), torch.from_numpy(y_proba), torch.from_numpy(y_true), ["n", "p"], 0.5)
    y_pred = (y_proba >= 0.5).astype(int)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred), abs=1e-6)
    assert m["precision"] == pytest.approx(skm.precision_score(y_true, y_pred), abs=1e-6)
    assert m["recall"] == pytest.approx(skm.recall_score(y_true, y_pred), abs=1e-6)
    assert m["f1"] == pytest.approx(skm.f1_score(y_true, y_pred), abs=1e-6)
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y_true, y_proba), abs=1e-5)
    assert m["average_precision"] == pytest.approx(skm.average_precision_score(y_true, y_proba), abs=1e-5)
    assert m["confusion_matrix"] == skm.confusion_matrix(y_true, y_pred).tolist()


def test_multiclass_against_sklearn():
    y_true = rng.integers(0, 4, 300)
    logits = rng.normal(size=(300, 4)) + 2 * np.eye(4)[y_true]
    y_proba = torch.softmax(torch.tensor(logits, dtype=torch.float32), dim=1)
    y_pred = y_proba.argmax(1).numpy()
    classes = ["a", "b", "c", "d"]
    m = compute_metrics(get_task("multiclass"), y_proba, torch.from_numpy(y_true), classes)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred), abs=1e-6)
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y_true, y_pred), abs=1e-6)
    assert m["f1_macro"] == pytest.approx(skm.f1_score(y_true, y_pred, average="macro"), abs=1e-6)
    assert m["f1_weighted"] == pytest.approx(skm.f1_score(y_true, y_pred, average="weighted"), abs=1e-6)
    assert m["roc_auc_ovr"] == pytest.approx(skm.roc_auc_score(y_true, y_proba.numpy(), multi_class="ovr"), abs=1e-5)
    per_class = skm.f1_score(y_true, y_pred, average=None)
    assert list(m["f1_per_class"]) == classes
    np.testing.assert_allclose(list(m["f1_per_class"].values()), per_class, atol=1e-6)
    assert m["confusion_matrix"] == skm.confusion_matrix(y_true, y_pred).tolist()


def test_multilabel_against_sklearn():
    y_true = rng.integers(0, 2, (250, 5))
    y_proba = np.clip(y_true * 0.4 + rng.random((250, 5)) * 0.6, 0, 1).astype(np.float32)
    y_pred = (y_proba >= 0.5).astype(int)
    m = compute_metrics(get_task("multilabel"), torch.from_numpy(y_proba), torch.from_numpy(y_true),
                        list("vwxyz"))
    assert m["subset_accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred), abs=1e-6)
    assert m["hamming_loss"] == pytest.approx(skm.hamming_loss(y_true, y_pred), abs=1e-6)
    assert m["f1_micro"] == pytest.approx(skm.f1_score(y_true, y_pred, average="micro"), abs=1e-6)
    assert m["f1_macro"] == pytest.approx(skm.f1_score(y_true, y_pred, average="macro"), abs=1e-6)
    np.testing.assert_allclose(list(m["f1_per_label"].values()), skm.f1_score(y_true, y_pred, average=None),
                               atol=1e-6)


def test_auc_is_none_when_one_class_present():
    m = compute_metrics(get_task("binary"), torch.tensor([0.2, 0.7]), torch.tensor([1, 1]), [0, 1])
    assert m["roc_auc"] is None and m["accuracy"] == 0.5
