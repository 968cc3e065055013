"""The task table: detection, overrides, probabilities and labels."""

import pytest
import torch

from torchclassify.errors import ConfigError, DataError
from torchclassify.tasks import detect_task, get_task


@pytest.mark.parametrize("n_columns,n_classes,requested,expected", [
    (1, 2, None, "binary"), (1, 5, None, "multiclass"), (4, 0, None, "multilabel"),
    (1, 2, "multiclass", "multiclass"), (1, 3, "auto", "multiclass"),
])
def test_detect(n_columns, n_classes, requested, expected):
    assert detect_task(n_columns, n_classes, requested) == expected


@pytest.mark.parametrize("n_columns,n_classes,requested,message", [
    (1, 3, "binary", "exactly 2 classes"), (1, 2, "multilabel", "several 0/1"),
    (3, 0, "binary", "one target column"), (1, 2, "regression", "unknown task"),
])
def test_impossible_combinations_are_refused(n_columns, n_classes, requested, message):
    with pytest.raises(ConfigError, match=message):
        detect_task(n_columns, n_classes, requested)


def test_one_class_is_refused():
    with pytest.raises(DataError, match="at least 2 classes"):
        detect_task(1, 1)


def test_proba_and_labels():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 3.0, 0.0]])
    multiclass = get_task("multiclass")
    proba = multiclass.to_proba(logits)
    assert torch.allclose(proba.sum(dim=1), torch.ones(2))
    assert multiclass.to_labels(proba).tolist() == [0, 1]
    multilabel = get_task("multilabel")
    assert multilabel.to_labels(multilabel.to_proba(logits)).tolist() == [[1, 1, 0], [1, 1, 1]]
    binary = get_task("binary")
    p = binary.to_proba(binary.squeeze_logits(torch.tensor([[0.1], [-0.1]])))
    assert binary.to_labels(p, 0.5).tolist() == [1, 0]
    assert binary.to_labels(p, 0.6).tolist() == [0, 0]


def test_balanced_weights():
    y = torch.tensor([0, 0, 0, 1])
    w = get_task("multiclass").balanced_weights(y, 2)
    assert torch.allclose(w, torch.tensor([4 / 6, 4 / 2]))
    pos = get_task("binary").balanced_weights(y.float(), 2)
    assert torch.allclose(pos, torch.tensor([3.0]))
