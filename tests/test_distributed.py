"""torchrun with 2 CPU processes (gloo): completes, matches a single-process run, and saves a reloadable model."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

import torchclassify as tc
from conftest import make_table
from torchclassify.engine.distributed import Distributed, SingleProcess
from torchclassify.engine.loop import TensorData, epoch_batches

# No dropout (its masks differ between one process and two). SGD: its update is linear in the gradient,
# so the rounding differences of averaging two half-batch gradients stay small (Adam can amplify them).
SETTINGS = dict(hidden=[16], dropout=0.0, epochs=12, batch_size=32, seed=0, patience=4, device="cpu",
                optimizer="sgd", lr=0.05)


def test_ranks_split_every_global_batch_between_them():
    data = TensorData(torch.arange(21.0).reshape(21, 1), torch.arange(21))
    single = list(epoch_batches(data, 8, torch.Generator().manual_seed(0)))
    ranks = [list(epoch_batches(data, 8, torch.Generator().manual_seed(0), Distributed(rank=r, world_size=2)))
             for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == len(single) == 3  # every rank takes the same number of steps
    for batch, part0, part1 in zip(single, *ranks):
        assert torch.equal(torch.cat([part0[1], part1[1]]), batch[1])  # the same rows as one process
        assert abs(len(part0[1]) - len(part1[1])) <= 1
    # A last batch too small to give each rank 2 rows is dropped; one process keeps 3 rows.
    data = TensorData(torch.zeros(19, 1), torch.arange(19))
    assert [len(b[1]) for b in epoch_batches(data, 8, torch.Generator(), SingleProcess())] == [8, 8, 3]
    assert [len(b[1]) for b in epoch_batches(data, 8, torch.Generator(), Distributed(rank=1, world_size=2))] == [4, 4]


@pytest.mark.parametrize("recipe", ["mlp", "tabular"])
def test_two_processes_match_one(tmp_path, recipe):
    frame, target = make_table("multiclass", n=400)
    csv = tmp_path / "table.csv"
    frame.to_csv(csv, index=False)
    flags = ["--hidden", "16", "--dropout", "0", "--epochs", str(SETTINGS["epochs"]), "--batch-size", "32",
             "--seed", "0",
             "--patience", "4", "--device", "cpu", "--optimizer", "sgd", "--lr", "0.05", "--recipe", recipe]
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "torchclassify", "train", "--data", str(csv), "--target", target, *flags,
         "--out", str(tmp_path / "ddp"), "--quiet"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ddp", "table.csv"]  # only rank 0 wrote

    single = tc.train(data=frame, target=target, progress="quiet", recipe=recipe, **SETTINGS)
    info = json.loads((tmp_path / "ddp" / "model.json").read_text())["info"]["summary"]
    assert info["processes"] == 2
    assert json.loads((tmp_path / "ddp" / "model.json").read_text())["model"]["recipe"] == recipe
    history = pd.read_csv(tmp_path / "ddp" / "history.csv").to_dict("records")
    # Same global batches, gradients averaged over the two halves: the same optimisation up to rounding.
    assert len(history) == len(single.history)  # early stopping (or the epoch limit) ended both alike
    # Epoch 1 differs only by rounding; later epochs may drift apart slowly as rounding differences compound.
    assert history[0]["train_loss"] == pytest.approx(single.history[0]["train_loss"], rel=1e-4)
    for ddp_epoch, one_epoch in zip(history, single.history):
        assert ddp_epoch["train_loss"] == pytest.approx(one_epoch["train_loss"], rel=5e-3)
    metrics = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    assert abs(metrics["test"]["accuracy"] - single.metrics["test"]["accuracy"]) <= 0.02

    loaded = tc.load(tmp_path / "ddp")
    test_rows = frame.iloc[single.splits["test"]]  # same seed, same split in both runs
    y_pred = loaded.predict(test_rows.drop(columns=[target]))
    assert np.mean(y_pred == test_rows[target].to_numpy()) == pytest.approx(metrics["test"]["accuracy"])
    agree = np.mean(y_pred == single.classifier.predict(test_rows.drop(columns=[target])))
    assert agree >= 0.98
