"""Two trainings writing to the same --out: the second refuses (documented in README "Safety"), never a mix."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import torchclassify as tc
from torchclassify.errors import ConfigError
from torchclassify.run_folder import RunFolderWriter

ENV = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
ARGS = ["train", "--data", "circles", "--n-samples", "120", "--hidden", "4", "--epochs", "3", "--quiet"]


def test_a_second_writer_is_refused_while_the_first_holds_the_lock(tmp_path):
    first = RunFolderWriter(tmp_path / "run")
    try:
        with pytest.raises(ConfigError, match=rf"another training \(pid {os.getpid()}\) is writing to"):
            RunFolderWriter(tmp_path / "run")
        with pytest.raises(ConfigError, match="another training"):
            RunFolderWriter(tmp_path / "run", overwrite=True)  # --overwrite does not override a live run
        # ... and the same lock holds across processes: a real CLI training refuses with exit code 2.
        result = subprocess.run([sys.executable, "-m", "torchclassify", *ARGS, "--out", str(tmp_path / "run")],
                                env=ENV, capture_output=True, text=True, timeout=300)
        assert result.returncode == 2
        assert result.stderr.startswith("error: another training (pid") and result.stderr.count("\n") == 1
    finally:
        first.abort()
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


def test_two_trainings_started_together_one_completes_one_refuses(tmp_path):
    out = tmp_path / "run"
    procs = [subprocess.Popen([sys.executable, "-m", "torchclassify", *ARGS, "--seed", str(seed), "--out", str(out)],
                              env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    refusal = next(err for code, err in results if code == 2)
    # Whichever came second saw either the live lock or the finished folder.
    assert "another training" in refusal or "already exists" in refusal, refusal
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no .partial, no temporary folder left
    winner_seed = tc.RunConfig.from_dict(__import__("json").loads((out / "config.json").read_text())).train.seed
    assert winner_seed in (1, 2)
    assert tc.load(out).model is not None


def test_an_interrupted_partial_folder_is_not_silently_reused(tmp_path):
    """A crashed run's OUT.partial/ (no live lock): a new training refuses and names --resume / --overwrite."""
    partial = tmp_path / "run.partial"
    partial.mkdir()
    (partial / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"interrupted training: continue it with `torchclassify train --resume"):
        RunFolderWriter(tmp_path / "run")
    writer = RunFolderWriter(tmp_path / "run", overwrite=True)  # starts over: the old state is cleared
    assert sorted(p.name for p in partial.iterdir() if not p.name.startswith(".final-")) == ["lock"]
    writer.abort()
    assert not partial.exists()


def test_finished_run_is_not_resumed_and_not_overwritten(tmp_path):
    out = tmp_path / "run"
    tc.train(data="circles", n_samples=120, hidden=[4], epochs=2, progress="quiet", out=out)
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    with pytest.raises(ConfigError, match="already exists"):
        tc.train(data="circles", n_samples=120, hidden=[4], epochs=2, progress="quiet", out=out)
    with pytest.raises(ConfigError, match="finished run: there is nothing to resume"):
        tc.train(resume=out, progress="quiet")
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
