"""The task table: detection, overrides, probabilities and labels."""

import pytest
import torch

from torchclassify.errors import ConfigError, DataError
from torchclassify.tasks import detect_task, get_task, metric_from_counts


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


@pytest.mark.parametrize("task_name", ["binary", "multiclass", "multilabel"])
@pytest.mark.parametrize("threshold", [0.5, 0.3])
def test_per_epoch_metric_counts_equal_sklearn(task_name, threshold):
    """The cheap per-epoch metric (counts that add up over batches) equals sklearn's, batched or not."""
    from sklearn.metrics import accuracy_score, f1_score

    task = get_task(task_name)
    g = torch.Generator().manual_seed(1)
    n, k = 257, 4
    logits = torch.randn(n, task.n_outputs(k), generator=g)
    if task_name == "multiclass":
        y = torch.randint(0, k, (n,), generator=g)
    else:
        y = (torch.rand(n, task.n_outputs(k), generator=g) > 0.7).float().squeeze(-1)
    y_pred = task.to_labels(task.to_proba(task.squeeze_logits(logits)), threshold).numpy()
    expected = (f1_score(y.numpy(), y_pred, average="micro") if task_name == "multilabel"
                else accuracy_score(y.numpy(), y_pred))
    whole = metric_from_counts(task.logit_counts(logits, y, threshold))
    batched = metric_from_counts(sum(task.logit_counts(logits[i:i + 64], y[i:i + 64], threshold)
                                     for i in range(0, n, 64)))
    assert whole == pytest.approx(expected, abs=1e-12)
    assert batched == pytest.approx(expected, abs=1e-12)
    assert 0.2 < expected < 0.9  # a case where a wrong formula would show


def test_micro_f1_with_no_positives_anywhere_is_zero_as_in_torchmetrics():
    task = get_task("multilabel")
    counts = task.logit_counts(torch.full((5, 3), -9.0), torch.zeros(5, 3))
    assert metric_from_counts(counts) == 0.0


def test_labels_read_back_as_text_match_the_trained_classes():
    # Review: a run trained on True/False refused 'True'/'False' strings ("not seen in training") while an
    # integer run accepted '1' and '2'.
    import pandas as pd

    from torchclassify.data.labels import LabelEncoding

    booleans = LabelEncoding.fit(pd.DataFrame({"y": [True, False, True]}))
    assert booleans.encode(pd.DataFrame({"y": ["True", "false", " TRUE", True]})).tolist() == [1, 0, 1, 1]
    integers = LabelEncoding.fit(pd.DataFrame({"y": [1, 2, 2]}))
    assert integers.encode(pd.DataFrame({"y": ["1", 2.0, "2"]})).tolist() == [0, 1, 1]
    words = LabelEncoding.fit(pd.DataFrame({"y": ["yes", "no"]}))
    with pytest.raises(DataError, match="not seen in training"):
        words.encode(pd.DataFrame({"y": ["True"]}))


def test_labels_that_only_read_as_one_number_stay_distinct_classes():
    # Review: every label went through float(), so the codes "01", "1" and "001", "1_000" and "1000", "1e3" and
    # "1000", and the int64 ids 2**53 and 2**53 + 1 each became one class.
    import pandas as pd

    from torchclassify.data.labels import LabelEncoding

    for labels in (["01", "1", "001"], ["1_000", "1000"], ["1e3", "1000"], [2**53, 2**53 + 1, 5]):
        encoding = LabelEncoding.fit(pd.DataFrame({"y": labels}))
        assert encoding.n_classes == len(labels), labels
        assert sorted(encoding.encode(pd.DataFrame({"y": labels})).tolist()) == list(range(len(labels)))
    integers = LabelEncoding.fit(pd.DataFrame({"y": [1, 1000]}))
    assert integers.encode(pd.DataFrame({"y": ["1000", 1000.0, " 1 ", "1.0"]})).tolist() == [1, 1, 0, 0]
    strings = LabelEncoding.fit(pd.DataFrame({"y": ["1", "1000"]}))  # classes written as text stay exact
    with pytest.raises(DataError, match="not seen in training"):
        strings.encode(pd.DataFrame({"y": ["01"]}))
    # Where every class is a number (a model whose CSV labels 01, 02 were read as 1, 2, before leading-zero codes
    # were kept as text), text Python reads as one of them matches it: review, its evaluate broke; and "+1".
    assert integers.encode(pd.DataFrame({"y": ["01", "+1", "1e3"]})).tolist() == [0, 0, 1]
    signs = LabelEncoding.fit(pd.DataFrame({"y": [1, -1]}))
    assert signs.encode(pd.DataFrame({"y": ["+1", "-1"]})).tolist() == [1, 0] and signs.index_of("+1") == 1
