"""Resume after a crash: SIGKILL at random points then --resume ends bit-identical to an uninterrupted run;
Ctrl-C keeps the best model and says how to resume; early stopping and the LR schedule survive a resume;
a NaN loss stops the run and keeps the last good checkpoint."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

import torchclassify as tc
from _faults import InterruptAt, PoisonWeights
from torchclassify.engine.callbacks import Callback
from torchclassify.engine.checkpoint import CHECKPOINT, checkpoint_epoch, read_checkpoint
from torchclassify.errors import TrainingError

# Early stopping stays on (its best weights are checkpointed) but patience 60 > 40 epochs never stops early,
# so every run trains all 40 epochs and a kill at any checkpoint lands mid-training.
CLI_ARGS = ["--data", "circles", "--n-samples", "400", "--hidden", "16", "--epochs", "40", "--batch-size", "16",
            "--patience", "60", "--schedule", "cosine", "--seed", "7", "--quiet", "--checkpoint-every", "1"]
ENV = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")  # identical in every process


# Ctrl-C as KeyboardInterrupt in the child whatever it inherits: a suite started in the background by a shell
# without job control (`make test &`) passes SIGINT on ignored, and Python then keeps it ignored. (Set in the
# child's own code: preexec_fn is unsafe in a parent with threads.)
TRAIN = ("import signal, runpy; signal.signal(signal.SIGINT, signal.default_int_handler); "
         "runpy.run_module('torchclassify', run_name='__main__')")


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", TRAIN, "train", *args], env=ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for(condition, proc: subprocess.Popen, timeout: float = 120) -> bool:
    """Poll until condition() is true (True) or the process ends (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc.poll() is not None:
            return condition()
        time.sleep(0.005)
    raise AssertionError("timed out waiting for the training subprocess")


def assert_same_run(a: Path, b: Path) -> None:
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key
    assert json.loads((a / "metrics.json").read_text()) == json.loads((b / "metrics.json").read_text())
    ha, hb = pd.read_csv(a / "history.csv"), pd.read_csv(b / "history.csv")
    pd.testing.assert_frame_equal(ha.drop(columns="seconds"), hb.drop(columns="seconds"), check_exact=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run, started in the background while a test kills its twin."""
    out = tmp_path_factory.mktemp("ref") / "run"
    proc = start(*CLI_ARGS, "--out", str(out))
    yield proc, out


def finished_reference(reference) -> Path:
    proc, out = reference
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return out


def test_sigkill_and_ctrl_c_at_random_points_then_resume_is_bit_identical(tmp_path, reference):
    """Kill -9 three times (before the first checkpoint, then after random checkpoints), Ctrl-C once,
    resume each time: the final run folder equals the uninterrupted run's, bit for bit."""
    rng = random.Random(20261127)
    out = tmp_path / "run"
    partial = Path(f"{out}.partial")
    checkpoint = partial / CHECKPOINT
    kills = []
    # 1st kill: as soon as the run has claimed its folder, usually before the first checkpoint.
    proc = start(*CLI_ARGS, "--out", str(out))
    wait_for(lambda: (partial / "config.json").exists(), proc)
    time.sleep(rng.uniform(0, 0.02))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kills.append(checkpoint_epoch(checkpoint))
    # Then resume and kill again a random moment after random checkpoints.
    target_kill, target_int = sorted(rng.sample(range(3, 37), 2))
    # (each wait is for a checkpoint newer than the killed process's last one, so the signal reaches the new
    # process in training, not while its interpreter is still starting)
    proc = start("--resume", str(out), "--checkpoint-every", "1")
    target_kill = max(target_kill, (kills[-1] or 0) + 1)
    assert wait_for(lambda: (checkpoint_epoch(checkpoint) or 0) >= target_kill, proc), proc.communicate()[1]
    time.sleep(rng.uniform(0, 0.03))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kills.append(checkpoint_epoch(checkpoint))
    assert kills[-1] is not None and 1 <= kills[-1] < 40, kills
    assert not out.exists(), "a killed run must not leave a run folder"

    # Ctrl-C: a clean stop with exit code 130, the best model so far saved, and the resume command printed.
    proc = start("--resume", str(out), "--checkpoint-every", "1")
    target_int = max(target_int, kills[-1] + 1)
    assert wait_for(lambda: (checkpoint_epoch(checkpoint) or 0) >= target_int, proc), proc.communicate()[1]
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert f"resume with: torchclassify train --resume {out}" in err and "Traceback" not in err
    assert not out.exists()
    best = tc.load(partial / "best")
    assert set(best.predict(pd.DataFrame({"x0": [0.0, 1.0], "x1": [0.0, 0.0]}))) <= {0, 1}

    done = subprocess.run([sys.executable, "-m", "torchclassify", "train", "--resume", str(out)], env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert not partial.exists()
    assert_same_run(finished_reference(reference), out)


def assert_same_result(a, b) -> None:
    """Two Run objects: identical weights, history (but for timings) and metrics."""
    wa, wb = a.classifier.model.state_dict(), b.classifier.model.state_dict()
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    strip = lambda history: [{k: v for k, v in row.items() if k != "seconds"} for row in history]  # noqa: E731
    assert strip(a.history) == strip(b.history)
    assert a.metrics == b.metrics


SETTINGS = dict(data="moons", n_samples=200, noise=0.3, hidden=[16], epochs=80, patience=6, batch_size=32,
                lr=0.02, seed=3, progress="quiet")


@pytest.mark.parametrize("schedule, every", [("plateau", 1), ("onecycle", 3)])
def test_early_stopping_and_lr_schedule_survive_resume(tmp_path, schedule, every):
    ref = tc.train(schedule=schedule, **SETTINGS)
    assert ref.summary["stop_reason"].startswith("early stopping") and ref.summary["epochs_run"] < 80
    # Interrupt between the best epoch and the stop: early stopping is counting and holds older best weights.
    stop_at = ref.summary["best_epoch"] + every + 1  # so the last checkpoint comes after the best epoch
    assert stop_at < ref.summary["epochs_run"]
    with pytest.raises(KeyboardInterrupt):
        tc.train(out=tmp_path / "run", schedule=schedule, callbacks=[InterruptAt(stop_at)],
                 checkpoint_every=every, **SETTINGS)
    saved = read_checkpoint(tmp_path / "run.partial" / CHECKPOINT)["meta"]
    assert saved["callbacks"]["EarlyStopping"]["wait"] >= 1
    assert saved["scheduler"] is not None
    resumed = tc.train(resume=tmp_path / "run", progress="quiet")
    assert resumed.summary["best_epoch"] == ref.summary["best_epoch"]
    assert resumed.summary["stop_reason"] == ref.summary["stop_reason"]
    lrs = [row["lr"] for row in resumed.history]
    assert lrs == [row["lr"] for row in ref.history] and len(set(lrs)) > 1
    assert_same_result(ref, resumed)


def test_a_finished_checkpoint_resumes_without_training_again(tmp_path):
    """Killed after the last checkpoint but before the run folder was renamed into place."""
    with pytest.raises(KeyboardInterrupt):
        tc.train(out=tmp_path / "run", callbacks=[InterruptAt(None)], **{**SETTINGS, "epochs": 6})
    assert read_checkpoint(tmp_path / "run.partial" / CHECKPOINT)["meta"]["epoch"] == 6
    resumed = tc.train(resume=tmp_path / "run", progress="quiet")
    assert resumed.summary["epochs_run"] == 6 and len(resumed.history) == 6
    assert (tmp_path / "run" / "model.safetensors").exists()


def test_a_kill_inside_safetensors_save_still_resumes(tmp_path):
    """safetensors' save_file writes its own .tmpXXXXXXXX beside the checkpoint and renames it: a SIGKILL in
    between left one, and --resume then called OUT.partial 'not an interrupted training' (seen under load)."""
    with pytest.raises(KeyboardInterrupt):
        tc.train(out=tmp_path / "run", callbacks=[InterruptAt(3)], checkpoint_every=1, **{**SETTINGS, "epochs": 6})
    (tmp_path / "run.partial" / ".tmp5vJuG6").write_bytes(b"half a checkpoint")
    resumed = tc.train(resume=tmp_path / "run", progress="quiet")
    assert resumed.summary["epochs_run"] == 6 and not (tmp_path / "run.partial").exists()


def test_nan_loss_stops_with_the_epoch_and_keeps_the_last_good_checkpoint(tmp_path):
    with pytest.raises(TrainingError) as info:
        tc.train(out=tmp_path / "run", callbacks=[PoisonWeights(3)], checkpoint_every=1, **SETTINGS)
    message = str(info.value)
    assert "at epoch 4" in message and "learning rate" in message and "epoch 2" in message
    assert "\n" not in message
    assert not (tmp_path / "run").exists()
    kept = read_checkpoint(tmp_path / "run.partial" / CHECKPOINT)
    assert kept["meta"]["epoch"] == 2
    assert all(bool(torch.isfinite(t).all()) for t in kept["tensors"].values() if t.is_floating_point())


def test_exploding_gradients_are_reported(tmp_path, capsys):
    tc.train(data="circles", n_samples=200, hidden=[32, 32], epochs=2, optimizer="rmsprop", lr=5.0,
             progress="quiet")
    assert re.search(r"^warning: exploding gradients at epoch [12] \(gradient norm [0-9.e+]+\): lower --lr",
                     capsys.readouterr().err, re.M)


def test_resume_refuses_flags_and_missing_runs(tmp_path):
    from conftest import cli_in_process

    result = cli_in_process("train", "--resume", str(tmp_path / "run"), "--lr", "0.1", "--data", "moons")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --resume continues with the settings the run started with: drop --data, --lr"
    with pytest.raises(tc.ConfigError, match="nothing to resume"):
        tc.train(resume=tmp_path / "run", progress="quiet")


def test_default_interval_checkpoints_first_epoch_then_by_time(tmp_path, monkeypatch):
    """every=None: a checkpoint after epoch 1, then only once AUTO_CHECKPOINT_SECONDS have passed, and at the end."""
    from torchclassify.engine import checkpoint as ckpt

    clock = iter(float(t) for t in range(0, 1000, 4))  # each monotonic() call advances 4 "seconds"
    monkeypatch.setattr(ckpt.time, "monotonic", lambda: next(clock))
    saved_epochs = []
    real_save = ckpt.save_checkpoint
    monkeypatch.setattr(ckpt, "save_checkpoint", lambda path, state, *a: (saved_epochs.append(state.epoch),
                                                                            real_save(path, state, *a)))
    tc.train(out=tmp_path / "run", **{**SETTINGS, "epochs": 12, "patience": 50})
    assert saved_epochs[0] == 1 and saved_epochs[-1] == 12
    assert 3 <= len(saved_epochs) < 12  # by time, not every epoch


def test_a_run_from_before_the_log_scale_resumes_reading_numbers_as_it_did(tmp_path):
    """A checkpoint holds no preprocessing: resume fits it again from the stored settings. A run written before
    log_skewed existed has no such key, and must not pick up today's default (True) and feed its weights
    log-scaled values."""
    import numpy as np
    from safetensors import safe_open
    from safetensors.torch import save_file

    from torchclassify.engine.checkpoint import META_KEY

    rng = np.random.default_rng(0)
    jobs = np.floor(rng.lognormal(0, 2, 300))
    z = rng.normal(size=300)
    pd.DataFrame({"jobs": jobs, "z": z, "y": (np.log1p(jobs) + z > 1).astype(int)}).to_csv(tmp_path / "t.csv",
                                                                                        index=False)
    settings = dict(data=str(tmp_path / "t.csv"), target="y", epochs=6, hidden=[8], seed=1, progress="quiet",
                    log_skewed=False)
    ref = tc.train(**settings)
    with pytest.raises(KeyboardInterrupt):
        tc.train(out=tmp_path / "run", callbacks=[InterruptAt(3)], checkpoint_every=1, **settings)
    path = tmp_path / "run.partial" / CHECKPOINT
    with safe_open(str(path), "pt") as stored:  # as an older version wrote it: no log_skewed anywhere
        meta = json.loads(stored.metadata()[META_KEY])
        tensors = {name: stored.get_tensor(name) for name in stored.keys()}
    del meta["config"]["data"]["log_skewed"]
    save_file(tensors, str(path), metadata={META_KEY: json.dumps(meta)})
    config = json.loads((tmp_path / "run.partial" / "config.json").read_text())
    del config["data"]["log_skewed"]
    (tmp_path / "run.partial" / "config.json").write_text(json.dumps(config))
    resumed = tc.train(resume=tmp_path / "run", progress="quiet")
    assert [c.log_scale for c in resumed.classifier.preprocessor.numeric] == [None, None]
    assert_same_result(ref, resumed)


class ThreadsSeen(Callback):
    def __init__(self):
        self.seen = set()

    def on_epoch_end(self, state):
        self.seen.add(torch.get_num_threads())


def test_a_run_resumed_under_another_load_keeps_its_thread_count(tmp_path, monkeypatch):
    """The default thread count follows the machine's load (engine.device.free_cpus), and a CPU reduction
    split over another count rounds differently: a run interrupted on an idle machine and resumed on a busy
    one was not bit-identical (seen in the streamed resume test under parallel load)."""
    from torchclassify.engine import device
    from torchclassify.engine.checkpoint import ResumeFrom

    if device.allowed_cpus() < 2:
        pytest.skip("this process may use one CPU: no second thread count to resume under")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(device, "free_cpus", lambda: 2)  # idle
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:  # 67k weights x 64 rows a step: past the one-thread rule, so the load decides
        settings = dict(SETTINGS, n_samples=400, hidden=[256, 256], batch_size=64, epochs=6, patience=None)
        ref = tc.train(**settings)
        with pytest.raises(KeyboardInterrupt):
            tc.train(out=tmp_path / "run", callbacks=[InterruptAt(3)], checkpoint_every=1, **settings)
        assert read_checkpoint(tmp_path / "run.partial" / CHECKPOINT)["meta"]["threads"] == 2
        monkeypatch.setattr(device, "free_cpus", lambda: 1)  # busy now
        seen = ThreadsSeen()
        resumed = tc.train(resume=tmp_path / "run", progress="quiet", callbacks=[seen])
    finally:
        torch.set_num_threads(before)
    assert seen.seen == {2}
    assert_same_result(ref, resumed)
    # A limit the user sets now wins; a count this process may not use is not taken.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert ResumeFrom({"meta": {"threads": 2}}).threads is None
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert ResumeFrom({"meta": {"threads": 2}}).threads == 2
    assert ResumeFrom({"meta": {"threads": device.allowed_cpus() + 1}}).threads is None
    assert ResumeFrom({"meta": {"threads": True}}).threads is None and ResumeFrom({"meta": {}}).threads is None
