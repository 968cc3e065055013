"""Shared fixtures: tiny seeded tables for each task, and a helper to run the CLI as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

TASKS = ("binary", "multiclass", "multilabel")

# The device the engine tests run on: cpu here and in CI; TORCHCLASSIFY_TEST_DEVICE=cuda on a GPU machine
# runs the same assertions on CUDA (benchmarks/gpu_check.sh).
TEST_DEVICE = os.environ.get("TORCHCLASSIFY_TEST_DEVICE", "cpu")


def make_table(task: str, n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, str]:
    """A learnable table with a numeric, a categorical and a missing-value column; returns (frame, target)."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n)
    frame = pd.DataFrame({"a": a, "b": b, "colour": colour})
    frame.loc[rng.random(n) < 0.1, "b"] = np.nan
    if task == "binary":
        frame["label"] = np.where(a + (colour == "red") > 0.3, "yes", "no")
        return frame, "label"
    if task == "multiclass":
        frame["label"] = np.select([a > 0.5, a < -0.5], ["high", "low"], "mid")
        return frame, "label"
    frame["tag_pos"] = (a > 0).astype(int)
    frame["tag_red"] = (colour == "red").astype(int)
    frame["tag_big"] = (np.abs(a) > 1).astype(int)
    return frame, "tag_*"


@pytest.fixture(params=TASKS)
def task_table(request):
    frame, target = make_table(request.param)
    return request.param, frame, target


@pytest.fixture
def one_thread():
    """One torch thread for the test: on the small shared CI box that beats contending for two cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def cli_in_process(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run `torchclassify ARGS` in this process (no interpreter start-up: ~50x faster than run_cli), with
    stdout and stderr captured as a subprocess's would be; for the many error cases."""
    import contextlib
    import io
    import warnings

    from torchclassify.cli import main

    out, err = io.StringIO(), io.StringIO()
    before, shown = Path.cwd(), warnings.showwarning
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exit:  # argparse's errors and --help
                code = exit.code if isinstance(exit.code, int) else 1
    finally:
        os.chdir(before)
        warnings.showwarning = shown
    return subprocess.CompletedProcess(["torchclassify", *args], code, out.getvalue(), err.getvalue())


def one_line(result, *words) -> str:
    """Assert a CLI result is a refusal: exit code 2, one "error: " line naming each of `words`; returns it."""
    assert result.returncode == 2, (result.returncode, result.stdout[-1000:], result.stderr[-2000:])
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr
    return result.stderr


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python -m torchclassify ARGS` in a subprocess and capture its output."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "torchclassify", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=env)


# The measured command runs as a grandchild of a small launcher: a child exec'd straight from this worker
# starts with the worker's own peak RSS in its ru_maxrss (Linux carries the old memory's high-water mark over
# exec, and subprocess uses vfork), so a 1 GB test worker made a 0.5 GB report look like 1 GB.
_PEAK_LAUNCHER = (
    "import os, sys\n"
    "pid = os.posix_spawn(sys.executable, [sys.executable, *sys.argv[2:]], os.environ)\n"
    "status, usage = os.wait4(pid, 0)[1:]\n"
    "open(sys.argv[1], 'w').write(str(usage.ru_maxrss))\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def run_cli_peak(*args: str, timeout: float = 300) -> tuple[subprocess.CompletedProcess, float]:
    """Run `python -m torchclassify ARGS` and return its result with its own peak memory in MiB.

    The peak is the command's ru_maxrss from `os.wait4` in the launcher above, which spawns it from a fresh
    small process: `RUSAGE_CHILDREN` here would report the largest of every child this worker ever started.
    """
    import signal
    import tempfile

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err, \
            tempfile.NamedTemporaryFile("r") as peak:
        command = [sys.executable, "-m", "torchclassify", *args]
        child = subprocess.Popen([sys.executable, "-c", _PEAK_LAUNCHER, peak.name, *command[1:]], stdout=out,
                                 stderr=err, text=True, env=env, start_new_session=True)
        try:
            _, status, _ = _wait4_within(child.pid, timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)  # the launcher and the command under it
            child.wait()
            raise
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        result = subprocess.CompletedProcess(command, child.returncode, out.read(), err.read())
        peak_kib = int(peak.read() or 0)
    return result, peak_kib / 1024  # KiB on Linux


def _wait4_within(pid: int, timeout: float):
    """`os.wait4(pid)` that gives up after `timeout` seconds (raising TimeoutExpired)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return done, status, usage
        if time.monotonic() > deadline:
            raise subprocess.TimeoutExpired(str(pid), timeout)
        time.sleep(0.05)
