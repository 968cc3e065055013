"""How a tune worker ends its part of a shared study (tune_finish): retries of dead workers' trials run
first, and a worker is the last one (the one that retrains) only once no other worker can still run a trial."""

from __future__ import annotations

import time

import pytest


def test_a_dead_trial_failed_but_not_yet_retried_keeps_the_study_open(tmp_path, monkeypatch):
    """The window between another worker failing a dead trial and enqueuing its retry: the study has nothing
    running or waiting, yet is not finished. Seen in CI: two workers each believed they were last, and both
    retrained the best run. The wait starts again after each retry this worker runs."""
    import threading

    import optuna
    from optuna.trial import TrialState

    from torchclassify import tune_finish
    from torchclassify.tune_finish import awaiting_retry, finish_study
    from torchclassify.tune_study import open_study, optimize, retry_once

    # (each wait has ~3 s to spare either way: a loaded machine must not decide the outcome)
    monkeypatch.setattr(tune_finish, "RETRY_SETTLE", 4.0)
    study = open_study(None, "s", tmp_path, heartbeat=30)
    lr = {"lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)}

    def diverged(trial):
        raise ValueError("the loss diverged")  # a caught error (tune's TrainingError): never retried

    def interrupted(trial):
        raise KeyboardInterrupt

    optimize(study, diverged, 1, None, (ValueError,))
    with pytest.raises(KeyboardInterrupt):
        optimize(study, interrupted, 1, None, ())
    assert [t.state for t in study.get_trials(deepcopy=False)] == [TrialState.FAIL, TrialState.FAIL]
    assert awaiting_retry(study.get_trials(deepcopy=False)) == []  # both ended in a live worker, which said so

    def dies(delay: float):
        """A trial whose worker was killed: failed now by another worker, which enqueues it `delay` s later."""
        dead = study.ask(lr)
        study._storage.set_trial_state_values(dead._trial_id, state=TrialState.FAIL)
        frozen = study._storage.get_trial(dead._trial_id)
        timers.append(threading.Timer(delay, lambda: retry_once()(study, frozen)))
        timers[-1].start()
        return dead.number

    timers = []

    first = dies(1.0)
    assert awaiting_retry(study.get_trials(deepcopy=False)) == [first]
    ran, second = [], []

    def run_leftovers(n):
        ran.append(n)
        study.optimize(lambda trial: trial.suggest_float("lr", 1e-4, 1e-1, log=True), n_trials=n)
        if len(ran) == 1:  # a long retry, during which a second dead trial's retry is on its way
            second.append(dies(6.0))
            time.sleep(5.0)  # past the first wait's 4 s: without a fresh wait the study would look finished

    finish = finish_study(study, run_leftovers, heartbeat=30)
    for timer in timers:
        timer.join()
    assert finish.last and ran == [1, 1] and finish.retried == 2
    retries = [t for t in study.get_trials(deepcopy=False) if "failed_trial" in t.system_attrs]
    assert [t.system_attrs["failed_trial"] for t in retries] == [first, second[0]]
    assert all(t.state == TrialState.COMPLETE for t in retries)
    assert awaiting_retry(study.get_trials(deepcopy=False)) == []  # and a retry that dies in turn is not retried again:
    again = study.ask(lr)
    study._storage.set_trial_system_attr(again._trial_id, "retry_history", [first])
    study._storage.set_trial_state_values(again._trial_id, state=TrialState.FAIL)
    assert awaiting_retry(study.get_trials(deepcopy=False)) == []


def test_a_worker_between_two_trials_keeps_the_study_open(monkeypatch):
    """Another worker has told one trial and not yet asked for its next: nothing runs for a moment, and a
    finishing worker took itself for the last one (seen in CI: two of three workers retrained the best)."""
    import os
    import threading

    import optuna

    from torchclassify import tune_finish
    from torchclassify.tune_finish import finish_study
    from torchclassify.tune_study import HOST

    monkeypatch.setattr(tune_finish, "QUIET_SECONDS", 10.0)  # (the trial comes after 1 s: 9 s to spare)
    study = optuna.create_study(direction="maximize")
    lr = {"lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)}
    for pid in (os.getpid(), os.getpid() + 1):  # one trial of ours, one of the other worker's: both told
        trial = study.ask(lr)
        trial.set_user_attr("host", HOST)
        trial.set_user_attr("worker", pid)
        study.tell(trial, 0.5)

    def next_trial():  # the other worker asks for its next trial a second later
        time.sleep(1.0)
        trial = study.ask(lr)
        trial.set_user_attr("host", HOST)
        trial.set_user_attr("worker", os.getpid() + 1)

    asker = threading.Thread(target=next_trial)
    asker.start()
    finish = finish_study(study, lambda n: None, heartbeat=30)
    asker.join()
    assert not finish.last and [t.number for t in finish.running] == [2]


def test_a_live_worker_of_this_machine_with_budget_left_keeps_the_study_open(monkeypatch):
    """Nothing ran for longer than QUIET_SECONDS while another worker of this machine was between two trials (a
    loaded machine; seen in CI: two workers retrained, the second a trial that finished after the first had).
    A live worker of this machine that has not said its budget is spent is waited for; once it has, or once its
    process is gone, it is not."""
    import os
    import subprocess
    import sys
    import threading

    import optuna

    from torchclassify import tune_finish
    from torchclassify.tune_finish import FINISHED, finish_study, unfinished_workers
    from torchclassify.tune_study import HOST

    monkeypatch.setattr(tune_finish, "QUIET_SECONDS", 0.1)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        study = optuna.create_study(direction="maximize")
        lr = {"lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)}
        for host, pid in ((HOST, os.getpid()), (HOST, other.pid), ("another-machine", 12345)):
            trial = study.ask(lr)
            trial.set_user_attr("host", host)
            trial.set_user_attr("worker", pid)
            study.tell(trial, 0.5)
        assert unfinished_workers(study, study.get_trials()) == (True, [(HOST, other.pid)], [])

        def budget_spent():  # the other worker finishes two seconds later
            time.sleep(2.0)
            study.set_user_attr(FINISHED.format(HOST, other.pid), True)

        finisher = threading.Thread(target=budget_spent)
        started = time.monotonic()
        finisher.start()
        finish = finish_study(study, lambda n: None, heartbeat=30)
        finisher.join()
        assert finish.last and time.monotonic() - started >= 2.0  # not after QUIET_SECONDS (0.1 s)
        assert unfinished_workers(study, study.get_trials()) == (True, [], [])
        assert study.user_attrs[FINISHED.format(HOST, os.getpid())]  # this worker said so too
    finally:
        other.kill()
        other.wait()
    fresh = optuna.create_study(direction="maximize")  # a worker whose process is gone is not waited for
    trial = fresh.ask(lr)
    trial.set_user_attr("host", HOST)
    trial.set_user_attr("worker", other.pid)
    fresh.tell(trial, 0.5)
    assert unfinished_workers(fresh, fresh.get_trials()) == (True, [], [])


def _sleeper():
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])


def test_a_worker_that_joined_and_ran_no_trial_yet_keeps_the_study_open(monkeypatch):
    """A worker still starting (its study opened, no trial asked yet) while another ran its whole budget: seen
    in CI, where the fast worker retrained trial 1 and a later one retrained trial 11. It is waited for until
    it says it finished; one whose process is gone is not."""
    import os
    import threading

    import optuna

    from torchclassify import tune_finish
    from torchclassify.tune_finish import FINISHED, JOINED, finish_study, join_study, joined_workers, unfinished_workers
    from torchclassify.tune_study import HOST

    monkeypatch.setattr(tune_finish, "QUIET_SECONDS", 0.1)
    other = _sleeper()
    try:
        study = optuna.create_study(direction="maximize")
        join_study(study)
        study.set_user_attr(JOINED.format(HOST, other.pid), True)  # the other worker opened the study
        study.set_user_attr(FINISHED.format("h", 7), True)  # (not a join)
        assert joined_workers(study.user_attrs) == {(HOST, os.getpid()), (HOST, other.pid)}
        trial = study.ask({"lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)})
        trial.set_user_attr("host", HOST)
        trial.set_user_attr("worker", os.getpid())
        study.tell(trial, 0.5)  # this worker's whole budget
        assert unfinished_workers(study, study.get_trials()) == (True, [(HOST, other.pid)], [])

        def other_leaves():  # it stops (Ctrl-C) 1.5 s later, having run nothing, and says so
            time.sleep(1.5)
            study.set_user_attr(FINISHED.format(HOST, other.pid), True)

        leaver, started = threading.Thread(target=other_leaves), time.monotonic()
        leaver.start()
        finish = finish_study(study, lambda n: None, heartbeat=30)
        leaver.join()
        assert finish.last and time.monotonic() - started >= 1.5
    finally:
        other.kill()
        other.wait()
    gone = optuna.create_study(direction="maximize")  # joined, then killed before its first trial
    gone.set_user_attr(JOINED.format(HOST, other.pid), True)
    assert unfinished_workers(gone, gone.get_trials()) == (True, [], [])
    started = time.monotonic()
    assert finish_study(gone, lambda n: None, heartbeat=30).last and time.monotonic() - started < 5


def test_another_machines_unfinished_worker_is_waited_for_until_the_study_is_silent_a_grace_period(monkeypatch):
    """Another machine's process cannot be asked: a worker of it that joined and has not finished keeps the study
    open until nothing has run for GRACE_FACTOR heartbeats (then it is taken for dead, like a stale trial); if it
    asks for a trial meanwhile, this worker is not the last one."""
    import threading

    import optuna

    from torchclassify import tune_finish
    from torchclassify.tune_finish import JOINED, finish_study, unfinished_workers

    monkeypatch.setattr(tune_finish, "QUIET_SECONDS", 0.1)
    lr = {"lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)}
    silent = optuna.create_study(direction="maximize")
    silent.set_user_attr(JOINED.format("another-machine", 4321), True)
    assert unfinished_workers(silent, silent.get_trials()) == (True, [], [("another-machine", 4321)])
    started = time.monotonic()
    assert finish_study(silent, lambda n: None, heartbeat=1).last  # grace: 3 heartbeats of 1 s
    assert 3.0 <= time.monotonic() - started < 10

    busy = optuna.create_study(direction="maximize")
    busy.set_user_attr(JOINED.format("another-machine", 4321), True)

    def asks():  # its first trial, 1 s later: it was alive
        time.sleep(1.0)
        trial = busy.ask(lr)
        trial.set_user_attr("host", "another-machine")
        trial.set_user_attr("worker", 4321)

    asker = threading.Thread(target=asks)
    asker.start()
    finish = finish_study(busy, lambda n: None, heartbeat=1)
    asker.join()
    assert not finish.last and [t.number for t in finish.running] == [0]


def test_a_worker_stopped_by_an_error_or_refused_says_it_left(tmp_path, monkeypatch):
    """Ctrl-C (or a bug) in a trial ends the worker without its budget, and a worker whose space clashes with the
    study's is refused after it joined: the others must not wait for either."""
    import os

    import optuna

    from torchclassify import make_config, tune_finish
    from torchclassify import tune as tune_module
    from torchclassify.errors import ConfigError
    from torchclassify.tune_finish import FINISHED, JOINED
    from torchclassify.tune_study import HOST

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tune_module, "train", interrupted)
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    base = make_config(source="moons", n_samples=120, epochs=2, batch_size=0, hidden=(8,))
    with pytest.raises(KeyboardInterrupt):
        tune_module.tune(base, ["lr=1e-3..1e-1:log"], n_trials=3, out=tmp_path / "out", storage=storage,
                         study_name="s", retrain=False)
    attrs = optuna.load_study(study_name="s", storage=storage).user_attrs
    assert attrs[JOINED.format(HOST, os.getpid())] and attrs[FINISHED.format(HOST, os.getpid())]

    monkeypatch.setattr(tune_finish, "HOST", "refused-worker")  # (marks of its own, in this process)
    with pytest.raises(ConfigError, match="lr"):  # lr on another scale than the study's trial drew it on
        tune_module.tune(base, ["lr=1e-3..1e-1"], n_trials=3, out=tmp_path / "out", storage=storage,
                         study_name="s", retrain=False)
    attrs = optuna.load_study(study_name="s", storage=storage).user_attrs
    assert attrs[JOINED.format("refused-worker", os.getpid())]
    assert attrs[FINISHED.format("refused-worker", os.getpid())]
