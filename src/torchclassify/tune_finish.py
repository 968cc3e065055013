"""How a tune worker ends its part of a shared study, and which worker is the last one (it retrains the best).

Every worker says in the study when it has joined (JOINED, once its study and setup are accepted) and when its
budget is spent (FINISHED), as study user attrs named after its machine and process. A finishing worker runs
the retries of dead workers' trials, then is the last one only when nothing runs and every other worker that
joined has finished or is gone: a process of this machine is asked directly (waited for at most LOCAL_WAIT, in
case its pid was reused); another machine's worker is taken for dead once it has been silent (no trial of the
study running) for the grace period of a stale heartbeat. The last worker retrains the best trial under a lock
on OUT/.best.lock, so exactly one run is written to OUT/best however the workers end.

A worker that joins after every other one finished runs its trials and retrains the best again when it ends:
OUT/best always holds the best trial of the study as the last worker to end saw it.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .files import pid_alive
from .tune_study import BEST_LOCK, ENDED_BY, GRACE_FACTOR, HOST, fail_dead_trials

RETRY_SETTLE = 10.0  # seconds a finishing worker waits for a failed dead trial's retry to be enqueued
QUIET_SECONDS = 2.0  # with other workers, how long nothing may run before this worker takes itself for last
LOCAL_WAIT = 60.0  # at most this long it waits for a live worker of this machine that has not finished its budget
JOINED = "joined {} {}"  # study user attr (host, pid): that worker takes part in the study
FINISHED = "finished {} {}"  # study user attr (host, pid): that worker's budget is spent (or it ended early)


def join_study(study) -> None:
    """Say that this process works on the study: until it says it finished, a finishing worker waits for it."""
    study.set_user_attr(JOINED.format(HOST, os.getpid()), True)


def leave_study(study) -> None:
    """Say that this process runs no more of the study's trials (its budget is spent, or it stops early).
    Best effort when it stops on an error: the storage may be what failed."""
    try:
        study.set_user_attr(FINISHED.format(HOST, os.getpid()), True)
    except Exception:  # noqa: BLE001 - the error that stopped the worker is the one to report
        pass


def joined_workers(attrs: dict) -> set[tuple[str, int]]:
    """The (host, pid) of every worker that said it joined, read from the study's user attrs (JOINED keys)."""
    prefix = JOINED.format("", "").strip() + " "  # "joined "
    workers = set()
    for key in attrs:
        host, _, pid = key[len(prefix):].rpartition(" ")
        if key.startswith(prefix) and host and pid.isdigit():
            workers.add((host, int(pid)))
    return workers


@contextmanager
def left_on_error(study):
    """Leave the study (leave_study) if the block raises: a worker refused or stopped early is not waited for."""
    try:
        yield
    except BaseException:
        leave_study(study)
        raise


def unfinished_workers(study, trials) -> tuple[bool, list, list]:
    """(whether a process other than this one joined the study or ran one of `trials`; the live processes of this
    machine that have not finished; the other machines' workers that joined and have not finished).

    Workers are (host, pid). Trials name their worker too (mark_worker), which also covers a worker of an
    earlier version that did not say it joined.
    """
    attrs, me = study.user_attrs, (HOST, os.getpid())
    seen = {(t.user_attrs.get("host"), t.user_attrs.get("worker")) for t in trials if "worker" in t.user_attrs}
    joined = joined_workers(attrs)
    others = (seen | joined) - {me}
    unfinished = [(host, pid) for host, pid in others if FINISHED.format(host, pid) not in attrs]
    here = [(host, pid) for host, pid in unfinished if host == HOST and isinstance(pid, int) and pid_alive(pid)]
    remote = [(host, pid) for host, pid in unfinished if host != HOST and (host, pid) in joined]
    return bool(others), here, remote


def awaiting_retry(trials) -> list[int]:
    """The numbers of the failed trials (among `trials`, the study's FrozenTrials) of dead workers whose retry
    is not enqueued yet.

    A trial that failed in a live worker says so (ENDED_BY, set by `optimize` on any error, KeyboardInterrupt
    included); one whose worker died (SIGKILL, a lost machine) cannot, and is retried once: so a retry
    (system attr retry_history) that dies is not, and a retried trial is in a later trial's retry_history.
    A dead worker's trial left failed without a retry (its failer died in between) only delays a finishing
    worker by RETRY_SETTLE seconds.
    """
    from optuna.trial import TrialState

    retried = {number for t in trials for number in t.system_attrs.get("retry_history", ())}
    return [t.number for t in trials if t.state == TrialState.FAIL and ENDED_BY not in t.user_attrs
            and not t.system_attrs.get("retry_history") and t.number not in retried]


@dataclass
class Finish:
    """How this worker's part of the study ended: whether it is the last one (and retrains), and what is
    still running elsewhere."""

    last: bool
    running: list = field(default_factory=list)  # FrozenTrials still running in live workers
    retried: int = 0


def finish_study(study, run_leftovers, heartbeat: int) -> Finish:
    """After this worker's budget: fail dead workers' trials, run their retries (run_leftovers(n)), and wait
    (at most a grace period) for other machines' silent trials and workers to prove alive or dead.

    Same-machine workers are known at once (their process exists or not); another machine's trial is only
    known dead once its heartbeat is GRACE_FACTOR x heartbeat old, and its worker once that long has passed
    with nothing of the study running.
    """
    from optuna.trial import TrialState

    deadline, local_until = time.monotonic() + (GRACE_FACTOR + 1) * heartbeat, time.monotonic() + LOCAL_WAIT
    settle_until, quiet, retried = None, None, 0
    leave_study(study)  # read by the others' unfinished_workers
    while True:
        fail_dead_trials(study)
        trials = study.get_trials(deepcopy=False)  # (one read of the storage a round)
        waiting = [t for t in trials if t.state == TrialState.WAITING]
        if waiting and retried < 100:
            retried += len(waiting)
            run_leftovers(len(waiting))
            settle_until = None
            continue
        running = [t for t in trials if t.state == TrialState.RUNNING]
        if not running:
            # A worker failing a dead trial sets FAIL, then enqueues the retry: in between the study looks finished,
            # and a worker that believed it would retrain before the retry ran (and so would the retry's worker).
            if awaiting_retry(trials):
                settle_until = settle_until or time.monotonic() + RETRY_SETTLE
                if time.monotonic() < settle_until:
                    time.sleep(0.2)
                    continue
            # A worker between two of its trials (or not at its first yet) leaves nothing running for a moment
            # (seen in CI: two or three workers retrained): one that joined and has not finished is waited for,
            # another machine's until the study has been silent for as long as a dead trial's heartbeat.
            if quiet is None or quiet[1] != len(trials):
                quiet = (time.monotonic(), len(trials))
            silent = time.monotonic() - quiet[0]
            others, here, remote = unfinished_workers(study, trials)
            if (here and time.monotonic() < local_until) or (remote and silent < GRACE_FACTOR * heartbeat) \
                    or (others and silent < QUIET_SECONDS):  # (a worker of an earlier version says neither)
                time.sleep(0.25)
                continue
            return Finish(True, [], retried)
        quiet = None
        remote = [t for t in running if t.user_attrs.get("host") != HOST]
        if not remote or time.monotonic() > deadline:
            return Finish(False, running, retried)
        time.sleep(min(heartbeat, 5))


class BestLock:
    """An exclusive flock on OUT/.best.lock while the best run is retrained (released by the kernel even on
    SIGKILL); taking it waits for a worker that holds it."""

    def __init__(self, out: Path):
        import fcntl

        out.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(out / BEST_LOCK, os.O_RDWR | os.O_CREAT, 0o666)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
