"""tune's input errors, killed workers and several workers on one SQLite study (PostgreSQL:
test_tune_postgres.py): one line for bad input, nothing left behind, the defaults trial always run, a dead
worker's trial failed and retried, exactly one worker retraining the best run."""

from __future__ import annotations

import json
import socket
import time

import numpy as np
import pandas as pd
import pytest

from conftest import cli_in_process
from tune_workers import TINY, check_study, finish, kill_mid_trial, start_together, start_worker

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_bad_target_is_one_line_and_leaves_no_study(tmp_path):
    # Issue 16 #6: 26 lines of Optuna warnings and a traceback; study.db left; the rerun never ran the defaults.
    rng = np.random.default_rng(0)
    a = rng.normal(size=120)
    pd.DataFrame({"a": a, "b": rng.normal(size=120), "y": np.where(a > 0, "u", "d")}).to_csv(tmp_path / "base.csv",
                                                                                          index=False)
    out = tmp_path / "o" / "tb"
    result = cli_in_process("tune", "--data", str(tmp_path / "base.csv"), "--target", "nope", "--trials", "1",
                            "--out", str(out))
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: target column 'nope' not found")
    assert not (tmp_path / "o").exists()
    result = cli_in_process("tune", "--data", str(tmp_path / "base.csv"), "--target", "y", "--trials", "1",
                            "--epochs", "3", "--batch-size", "full", "--hidden", "8", "--out", str(out))
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "tune.json").read_text())
    assert summary["n_trials"] == 1 and summary["defaults_valid_accuracy"] is not None


def test_a_worker_killed_in_its_first_trial_is_retried_by_the_next(tmp_path):
    # Issue 16 #14: the rerun said "4 trials (1 running, 3 complete)" and defaults_valid_accuracy null.
    out = tmp_path / "t"
    storage = f"sqlite:///{out / 'study.db'}"
    # (the same --epochs in both workers: a study continues only with the settings its trials were scored with;
    # 300 of them keep the trial running long enough to be caught, now that it reports every 10th epoch only)
    worker = start_worker(storage, "torchclassify", out, trials=2, epochs=300)
    killed = kill_mid_trial(worker, storage, "torchclassify")
    assert killed == 0  # the defaults trial
    results = finish([start_worker(storage, "torchclassify", out, trials=1, epochs=300)])
    study = check_study(storage, "torchclassify", out, results)
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    assert trials[0].state.name == "FAIL"
    retry = next(t for t in trials.values() if t.system_attrs.get("failed_trial") == 0)
    assert retry.state.name == "COMPLETE" and retry.user_attrs.get("defaults")
    # (killed before its settings were drawn, trial 0 holds only the defaults it was enqueued with)
    assert retry.params == (trials[0].params or trials[0].system_attrs["fixed_params"])
    summary = json.loads((out / "tune.json").read_text())
    assert summary["defaults_valid_accuracy"] == retry.value
    assert summary["trial_states"].get("running") is None


def test_two_workers_on_one_out_folder_both_finish_and_one_retrains(tmp_path):
    # Issue 16 #13: the README's two workers: the second exited 2 ("another training is writing to o/tt/best").
    out = tmp_path / "tt"
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    workers = start_together(storage, "shared", out, 2, trials=3, epochs=30)
    results = finish(workers)
    study = check_study(storage, "shared", out, results, n_finished=6)
    assert len({t.user_attrs["worker"] for t in study.get_trials(deepcopy=False)}) == 2


ASK_AT_ONCE = """
import sys, time, warnings
from pathlib import Path
import optuna
from torchclassify.tune_study import open_study
optuna.logging.set_verbosity(optuna.logging.ERROR)
warnings.simplefilter("ignore")
studies = [open_study(url, "s", Path(sys.argv[1]), heartbeat=30) for url in sys.argv[3:]]
for round_, study in enumerate(studies):
    while time.time() < float(sys.argv[2]) + round_:  # every process asks at the same instant, once a second
        pass
    print(study.ask().number)
"""


def test_workers_asking_at_once_never_share_an_enqueued_trial(tmp_path):
    # CI, fresh clone: two SQLite workers ended with 5 trials of 6, all complete. Both had popped the enqueued
    # defaults trial: SQLite read "WAITING" and wrote "RUNNING" in two transactions (six workers asking at
    # once: 2-6 of them ran trial 0, in 10 rounds of 10; a review's busy machine: 3 rounds of 8).
    import subprocess
    import sys

    from torchclassify.tune_study import open_study

    storages = [f"sqlite:///{tmp_path / f'study{round_}.db'}" for round_ in range(8)]
    for storage in storages:
        open_study(storage, "s", tmp_path, heartbeat=30).enqueue_trial({"x": 1.0})
    start = time.time() + 5.0  # every process has opened its studies by then
    askers = [subprocess.Popen([sys.executable, "-c", ASK_AT_ONCE, str(tmp_path), str(start), *storages],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(6)]
    numbers = []
    for asker in askers:
        stdout, stderr = asker.communicate(timeout=120)
        assert asker.returncode == 0, stderr[-2000:]
        numbers.append([int(line) for line in stdout.split()])
    for round_ in range(len(storages)):
        assert sorted(asked[round_] for asked in numbers) == list(range(6)), (round_, numbers)


def test_a_silent_trial_of_another_machine_is_failed_once_its_heartbeat_is_stale(tmp_path):
    """The heartbeat path proper: a trial whose worker is on another host cannot be checked by pid, so it
    is failed (and enqueued again) only when its last heartbeat is older than the grace period."""
    import optuna
    from optuna.trial import TrialState

    from torchclassify.tune_study import GRACE_FACTOR, fail_dead_trials, open_study

    study = open_study(None, "s", tmp_path, heartbeat=1)
    trial = study.ask({"lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)})
    trial.set_user_attr("host", "another-machine-" + socket.gethostname())
    trial.set_user_attr("worker", 1)
    study._storage.record_heartbeat(trial._trial_id)
    assert fail_dead_trials(study) == [] and study.trials[0].state == TrialState.RUNNING  # still fresh
    time.sleep(GRACE_FACTOR * 1 + 1.5)
    fail_dead_trials(study)
    states = [t.state for t in study.get_trials(deepcopy=False)]
    assert states == [TrialState.FAIL, TrialState.WAITING]
    assert study.trials[1].params == study.trials[0].params


def test_a_dead_process_on_this_machine_is_known_at_once(tmp_path):
    import optuna
    from optuna.trial import TrialState

    from torchclassify.tune_study import HOST, fail_dead_trials, open_study

    study = open_study(None, "s", tmp_path, heartbeat=30)
    trial = study.ask({"lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)})
    trial.set_user_attr("host", HOST)
    trial.set_user_attr("worker", 2**22 + 12345)  # no such process
    trial.set_user_attr("worker_trial", trial.number)  # (mark_worker's three attributes)
    assert fail_dead_trials(study) == [0]
    assert [t.state for t in study.get_trials(deepcopy=False)] == [TrialState.FAIL, TrialState.WAITING]
    # Its retry inherits those attributes: picked up by a live worker, it is not that dead process's trial
    # (fresh-clone CI: a live worker's retry was failed this way before its objective marked it).
    retry = study.ask()
    assert retry.number == 1 and study.trials[1].user_attrs["worker"] == 2**22 + 12345
    assert fail_dead_trials(study) == [] and study.trials[1].state == TrialState.RUNNING


def test_heartbeat_must_be_a_whole_number_of_seconds(tmp_path):
    result = cli_in_process("tune", *TINY[:-2], "--heartbeat", "0", "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and "--heartbeat" in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_a_trial_failed_by_another_worker_meanwhile_does_not_end_this_worker(tmp_path):
    # Seen under load: a live trial's heartbeat looked stale to another worker, which failed it; this worker
    # then ended with "internal error: ValueError: Cannot tell a FAIL trial".
    from optuna.trial import TrialState

    from torchclassify.tune_study import open_study, optimize

    study = open_study(None, "s", tmp_path, heartbeat=30)

    def objective(trial):
        x = trial.suggest_float("x", 0, 1)
        if trial.number == 0:  # "another worker" fails this one while it runs
            study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        return x

    taken = []
    optimize(study, objective, 3, None, (), taken.append)
    states = [t.state for t in study.get_trials(deepcopy=False)]
    assert [t.number for t in taken] == [0]
    assert states == [TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]

    def reported_after(trial):  # fresh-clone CI: failed meanwhile, then the next epoch's report refused
        if trial.number == 3:
            study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        trial.report(0.5, step=1)
        return trial.suggest_float("x", 0, 1)

    optimize(study, reported_after, 2, None, (), taken.append)
    assert [t.number for t in taken] == [0, 3] and study.trials[4].state == TrialState.COMPLETE

    def broken(trial):
        raise ValueError("a real bug in the objective")

    with pytest.raises(ValueError, match="a real bug"):
        optimize(study, broken, 1, None, ())
