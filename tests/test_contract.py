"""The contract every task meets: fit, shapes, valid probabilities, save -> load identity, seed reproducibility."""

import numpy as np
import pytest
import torch

import torchclassify as tc

FAST = dict(epochs=15, hidden=[16], progress="quiet")


def test_fit_predict_save_load(task_table, tmp_path):
    task, frame, target = task_table
    run = tc.train(data=frame, target=target, out=tmp_path / "run", **FAST)
    clf = run.classifier
    assert clf.task_name == task
    rows = frame.drop(columns=[c for c in frame.columns if c == "label" or c.startswith("tag_")])

    proba = clf.predict_proba(rows)
    assert proba.shape == (len(rows), 3 if task != "binary" else 2)
    assert ((proba.values >= 0) & (proba.values <= 1)).all()
    if task != "multilabel":
        np.testing.assert_allclose(proba.values.sum(axis=1), 1.0, rtol=1e-5)

    y_pred = clf.predict(rows)
    if task == "multilabel":
        assert list(y_pred.columns) == ["tag_pos", "tag_red", "tag_big"]
        assert set(np.unique(y_pred.values)) <= {0, 1}
    else:
        assert y_pred.shape == (len(rows),)
        assert set(y_pred) <= set(frame["label"])  # original string labels come back

    loaded = tc.load(tmp_path / "run")
    assert torch.equal(loaded.predict_logits(rows), clf.predict_logits(rows))  # bit-identical
    pd_equal = (loaded.predict(rows) == y_pred)
    assert np.asarray(pd_equal).all()
    for name in ("config.json", "model.safetensors", "model.json", "history.csv", "metrics.json"):
        assert (tmp_path / "run" / name).is_file()


def test_same_seed_same_result(task_table):
    task, frame, target = task_table
    first = tc.train(data=frame, target=target, seed=3, **FAST)
    second = tc.train(data=frame, target=target, seed=3, **FAST)
    other = tc.train(data=frame, target=target, seed=4, **FAST)
    for key, value in first.classifier.model.state_dict().items():
        assert torch.equal(value, second.classifier.model.state_dict()[key])
    assert first.metrics == second.metrics
    assert [h["train_loss"] for h in first.history] == [h["train_loss"] for h in second.history]
    assert [h["train_loss"] for h in first.history] != [h["train_loss"] for h in other.history]


def test_learns_the_task(task_table):
    task, frame, target = task_table
    run = tc.train(data=frame, target=target, progress="quiet", epochs=60)
    main = {"binary": "accuracy", "multiclass": "accuracy", "multilabel": "f1_micro"}[task]
    assert run.metrics["test"][main] >= 0.85, run.metrics["test"]


@pytest.mark.parametrize("loss_task,expected", [("binary", torch.nn.BCEWithLogitsLoss),
                                                ("multiclass", torch.nn.CrossEntropyLoss),
                                                ("multilabel", torch.nn.BCEWithLogitsLoss)])
def test_loss_is_chosen_by_task(loss_task, expected):
    from torchclassify.tasks import get_task

    assert isinstance(get_task(loss_task).make_loss(), expected)
