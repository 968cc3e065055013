"""Helpers for the tests that run several `torchclassify tune` workers on one study (SQLite or PostgreSQL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
# Tiny and fast: moons 120 rows, full batch, hidden 8; heartbeats every second (a dead worker's trial is
# stale after 3 s).
TINY = ["--data", "moons", "--n-samples", "120", "--batch-size", "full", "--hidden", "8", "--heartbeat", "1"]


def start_worker(storage: str, study: str, out: Path, trials: int, epochs: int = 3) -> subprocess.Popen:
    command = [sys.executable, "-m", "torchclassify", "tune", *TINY, "--epochs", str(epochs), "--trials", str(trials),
               "--storage", storage, "--study-name", study, "--out", str(out)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)


def start_together(storage: str, study: str, out: Path, n: int, trials: int, epochs: int = 3,
                   timeout: float = 120) -> list[subprocess.Popen]:
    """n workers that all join the study before any runs a trial (the test holds the database).

    Why: a worker that joins after every other one has finished retrains the best again when it ends (by
    design: OUT/best holds the study's best as the last worker saw it), and a tiny trial takes milliseconds,
    so a worker slow to start on a loaded machine would join late. PostgreSQL: nothing may read or write the
    trials table until every worker has said it joined (it does before its first read of the trials). SQLite
    locks the whole file: the workers are held before they open the study, until each has said it is
    searching, and each has `trials` trials to run while the others open it.
    """
    import sqlite3

    import optuna

    rdb = optuna.storages.RDBStorage(storage)  # (the tables, for the lock to hold)
    held: dict[int, list[str]] = {}
    try:
        if storage.startswith("sqlite"):
            lock = sqlite3.connect(rdb.engine.url.database, isolation_level=None)
            lock.execute("BEGIN EXCLUSIVE")
            workers = [start_worker(storage, study, out, trials, epochs) for _ in range(n)]
            for worker in workers:  # its data read, the study next
                lines = held.setdefault(worker.pid, [])
                while not lines or "searching" not in lines[-1]:
                    lines.append(worker.stderr.readline())
                    assert lines[-1], f"the worker ended before it searched: {''.join(lines)[-2000:]}"
            lock.rollback()
            lock.close()
        else:
            with rdb.engine.connect() as lock:
                lock.exec_driver_sql("LOCK TABLE trials IN ACCESS EXCLUSIVE MODE")
                workers = [start_worker(storage, study, out, trials, epochs) for _ in range(n)]
                deadline = time.monotonic() + timeout
                while _joined(rdb, study) < n:
                    assert time.monotonic() < deadline and all(w.poll() is None for w in workers), \
                        [w.stderr.read()[-2000:] for w in workers if w.poll() is not None]
                    time.sleep(0.05)
                lock.rollback()
    finally:
        rdb.engine.dispose()
    for worker in workers:
        worker.held_stderr = "".join(held.get(worker.pid, []))
    return workers


def _joined(rdb, study_name: str) -> int:
    """How many workers have said they joined the study (tune_finish.JOINED)."""
    import optuna

    from torchclassify.tune_finish import joined_workers

    try:
        study = optuna.load_study(study_name=study_name, storage=rdb)
    except KeyError:  # not created yet
        return 0
    return len(joined_workers(study.user_attrs))


def finish(workers: list[subprocess.Popen], timeout: float = 240) -> list[tuple[int, str, str]]:
    """(exit code, stdout, stderr) of each worker, in order."""
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=timeout)
        results.append((worker.returncode, out, getattr(worker, "held_stderr", "") + err))
    return results


def kill_mid_trial(worker: subprocess.Popen, storage: str, study_name: str, timeout: float = 120) -> int:
    """SIGKILL `worker` while one of its trials is training; returns that trial's number."""
    import optuna
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    # One storage (one connection pool) for the whole watch: a fresh `load_study(storage=url)` per poll opens
    # a new pool every 20 ms and exhausts PostgreSQL's max_connections before the garbage collector runs.
    rdb = None
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                rdb = rdb or optuna.storages.RDBStorage(storage)
                study = optuna.load_study(study_name=study_name, storage=rdb)
                # training, not still drawing its settings: it has reported an epoch
                running = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                           if t.user_attrs.get("worker") == worker.pid and t.intermediate_values]
            except Exception:  # noqa: BLE001 - the study or its tables do not exist yet
                running = []
            if running:
                worker.send_signal(signal.SIGKILL)
                worker.wait(30)
                return running[0].number
            if worker.poll() is not None:
                raise AssertionError(f"the worker ended before a trial could be caught running: "
                                     f"{worker.stderr.read()[-2000:]}")
            time.sleep(0.02)
        raise AssertionError("no trial of the worker was seen running")
    finally:
        if rdb is not None:
            rdb.engine.dispose()


def check_study(storage: str, study_name: str, out: Path, results, n_finished: int | None = None):
    """The study is complete (nothing running or waiting), exactly one worker retrained the best trial into
    out/best, and the others said where it is. Returns the study."""
    import json

    import optuna
    from optuna.trial import TrialState

    for code, stdout, stderr in results:
        assert code == 0, stderr[-3000:]
        assert "Traceback" not in stderr, stderr[-3000:]
    study = optuna.load_study(study_name=study_name, storage=storage)
    trials = study.get_trials(deepcopy=False)
    assert not [t.number for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    if n_finished is not None:
        assert len(finished) == n_finished, [(t.number, t.state.name) for t in trials]
    retrainers = [stdout for _, stdout, _ in results if "this worker retrained the best trial" in stdout]
    assert len(retrainers) == 1, [stdout[-500:] for _, stdout, _ in results]
    others = [stdout for _, stdout, _ in results if stdout not in retrainers]
    assert all(str(out / "best") in stdout for stdout in others), others
    best = max((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: t.value)
    summary = json.loads((out / "tune.json").read_text())
    assert summary["best_run"] == str(out / "best") and summary[f"best_valid_{summary['main_metric']}"] == best.value
    config = json.loads((out / "best" / "config.json").read_text())
    assert config["train"]["lr"] == summary["best_params"]["lr"]
    assert not list(out.glob("best.partial*")) and not list(out.glob(".best.old-*"))
    return study
