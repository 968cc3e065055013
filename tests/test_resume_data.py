"""--resume checks the rows: a run started on one table never continues silently on another (a column added,
labels changed, rows appended), and the checkpoint's own mismatch message is one whole line."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

import torchclassify as tc
from conftest import cli_in_process
from torchclassify.engine.callbacks import Callback

pytestmark = pytest.mark.usefixtures("one_thread")


class StopAt(Callback):
    """Ctrl-C after an epoch: the run keeps OUT.partial/ with a checkpoint to resume from."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_epoch_end(self, state) -> None:
        if state.epoch == self.epoch:
            raise KeyboardInterrupt


def _table(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    return pd.DataFrame({"a": a, "b": rng.normal(size=n), "y": np.where(a > 0, "up", "down")})


@pytest.fixture
def interrupted(tmp_path):
    """A CSV and a run on it interrupted after its second epoch (checkpoint kept)."""
    path = tmp_path / "rows.csv"
    _table().to_csv(path, index=False)
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        tc.train(data=str(path), target="y", epochs=6, batch_size=32, hidden=[8], out=out, progress="quiet",
                 callbacks=[StopAt(2)], checkpoint_every=1)
    assert (tmp_path / "run.partial" / "checkpoint.safetensors").exists()
    assert json.loads((tmp_path / "run.partial" / "data.json").read_text())["n_rows"] == 200
    return path, out


def _resume(out):
    return cli_in_process("train", "--resume", str(out), "--quiet")


def test_resume_on_unchanged_data_completes(interrupted):
    _, out = interrupted
    result = _resume(out)
    assert result.returncode == 0, result.stderr
    assert (out / "model.json").exists()


@pytest.mark.parametrize("change, words", [
    ("column", "column(s) 'c' added"),  # Issue 16 #8: was a two-line message cut mid-shape
    ("labels", "the labels changed"),  # Issue 16 #10: went ahead silently
    ("rows", "200 rows became 210"),
    ("values", "the feature values changed"),
    ("type", "type(s) changed: b float64 -> "),
])
def test_resume_refuses_data_that_changed_naming_what(interrupted, change, words):
    path, out = interrupted
    frame = pd.read_csv(path)
    if change == "column":
        frame["c"] = np.random.default_rng(2).normal(size=len(frame))
    elif change == "labels":
        flip = np.random.default_rng(1).random(len(frame)) < 0.3
        frame.loc[flip, "y"] = np.where(frame.loc[flip, "y"] == "up", "down", "up")
    elif change == "rows":
        frame = pd.concat([frame, frame.iloc[:10]], ignore_index=True)
    elif change == "values":
        frame.loc[5, "a"] += 1.0
    else:
        frame["b"] = frame["b"].astype(str) + "x"
    frame.to_csv(path, index=False)
    result = _resume(out)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: the data changed since the run started: ") and words in result.stderr
    assert (out.parent / "run.partial" / "checkpoint.safetensors").exists()  # kept: restore the data and resume
    assert not out.exists()


def test_a_checkpoint_mismatch_is_one_whole_line(interrupted):
    """Without the fingerprint (a folder from before it), the checkpoint's own error is the guard: one line,
    never cut in the middle of a shape."""
    path, out = interrupted
    (out.parent / "run.partial" / "data.json").unlink()
    frame = pd.read_csv(path)
    frame["c"] = np.random.default_rng(2).normal(size=len(frame))
    frame.to_csv(path, index=False)
    result = _resume(out)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    # (the third column also turns the plain MLP into an ensemble: its keys are missing from the checkpoint)
    assert "size mismatch" in result.stderr or "Missing key" in result.stderr
    for shape in re.findall(r"torch\.Size\(\[[^\]]*", result.stderr):
        assert result.stderr[result.stderr.index(shape) + len(shape)] == "]", shape
