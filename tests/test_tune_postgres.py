"""Several tune workers on one Optuna study in a real PostgreSQL server, the engine a team shares a study on.

The test starts its own server (initdb in a temporary folder, pg_ctl on a free local port; as root through
`runuser -u postgres`), creates a database, and runs 3 worker processes x 4 trials on one study: 12 finished
trials, one best run, no worker fails; then a worker SIGKILLed mid-trial, whose trial the others fail and
run again, and the study still completes. It skips, with the reason, only where no server is installed (Debian:
`apt-get install postgresql`, as .ci/run does) - and never when CI is set: there it fails instead.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tune_workers import check_study, finish, kill_mid_trial, start_together

pytestmark = pytest.mark.usefixtures("one_thread")


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the PostgreSQL tests: {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres():
    """(run, base URL): a PostgreSQL server of our own for this module, stopped and removed after it."""
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    initdb = binaries[-1] if binaries else shutil.which("initdb")
    if initdb is None:
        _unavailable("no PostgreSQL server is installed (initdb not found under /usr/lib/postgresql/*/bin)")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        _unavailable("the psycopg2 driver is not installed (pip install -e '.[test]')")
    bin_dir = Path(initdb).parent
    root = Path(tempfile.mkdtemp(prefix="tc-pg-"))  # in /tmp itself: the postgres user must reach it
    prefix: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        shutil.chown(root, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()

    def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=timeout)

    result = run(str(bin_dir / "initdb"), "-D", str(root / "data"), "-U", "postgres", "-A", "trust", "--no-sync")
    if result.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        _unavailable(f"initdb failed: {result.stderr.strip()[-300:]}")
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    result = run(str(bin_dir / "pg_ctl"), "-D", str(root / "data"), "-o", options, "-l", str(root / "log"), "-w",
                 "start")
    if result.returncode != 0:
        log = (root / "log").read_text()[-500:] if (root / "log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        _unavailable(f"the server did not start: {result.stderr.strip()[-300:]} {log}")
    try:
        yield run, bin_dir, f"postgresql+psycopg2://postgres@127.0.0.1:{port}"
    finally:
        run(str(bin_dir / "pg_ctl"), "-D", str(root / "data"), "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def database(postgres, request):
    """A fresh database on the server: its SQLAlchemy URL."""
    run, bin_dir, base = postgres
    name = "tc_" + request.node.name.lower().replace("test_", "")[:40]
    port = base.rsplit(":", 1)[1]
    result = run(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", port, "-U", "postgres", name)
    assert result.returncode == 0, result.stderr
    return f"{base}/{name}"


def test_three_workers_share_one_study_and_one_retrains_the_best(database, tmp_path):
    started = time.monotonic()
    out = tmp_path / "tune"
    workers = start_together(database, "shared", out, 3, trials=4, epochs=4)
    results = finish(workers)
    study = check_study(database, "shared", out, results, n_finished=12)
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 12 and sorted(t.number for t in trials) == list(range(12))
    assert sorted(sum(t.user_attrs.get("worker") == w.pid for t in trials) for w in workers) == [4, 4, 4]
    assert sum(bool(t.user_attrs.get("defaults")) for t in trials) == 1  # the defaults ran once, not per worker
    assert time.monotonic() - started < 120


def test_a_worker_killed_mid_trial_is_retried_and_the_study_completes(database, tmp_path):
    out = tmp_path / "tune"
    # 200 epochs: a trial reports every 10th only, and must run long enough to be caught mid-trial
    workers = start_together(database, "killed", out, 3, trials=4, epochs=200)
    killed = kill_mid_trial(workers[0], database, "killed")
    results = finish(workers[1:])
    study = check_study(database, "killed", out, results)
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    assert trials[killed].state.name == "FAIL"
    retry = [t for t in trials.values() if t.system_attrs.get("failed_trial") == killed]
    assert len(retry) == 1 and retry[0].state.name in ("COMPLETE", "PRUNED") and retry[0].params == trials[killed].params
    assert sum(t.user_attrs.get("worker") in (w.pid for w in workers[1:]) for t in trials.values()) >= 8
