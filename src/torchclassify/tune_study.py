"""The study several tune workers share: opened with heartbeats, its setup checked, stale trials failed and
retried (how a worker ends its part, and which one retrains the best: tune_finish).

Every worker records a heartbeat for the trial it runs (Optuna's RDBStorage, `heartbeat` seconds apart); a
trial whose heartbeat is older than GRACE_FACTOR x heartbeat belongs to a worker that died (SIGKILL, a lost
machine): it is marked failed and enqueued again once (RetryFailedTrialCallback), and the next worker runs it.
A worker that finds its own machine's trial owned by a process that no longer exists fails it at once.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
import warnings
from pathlib import Path

from .data.fingerprint import describe_change
from .errors import ConfigError
from .files import clean_for_json, pid_alive, to_json_text

DEFAULT_HEARTBEAT = 30  # seconds between a running trial's heartbeats
GRACE_FACTOR = 3  # a trial silent for this many heartbeats belongs to a dead worker
ENDED_BY = "ended_by"  # user attr: the error that ended a trial in a live worker (see awaiting_retry)
BEST_LOCK = ".best.lock"
HOST = socket.gethostname()
# MedianPruner's gates, in epochs: no pruning before WARMUP_EPOCHS, then a check every CHECK_EVERY epochs, on
# the epochs every trial reports (the median compares trials at the same step: tune.PruneOnValidation).
WARMUP_EPOCHS, CHECK_EVERY = 10, 10
SETUP = "torchclassify"  # study user attr: the data and fixed settings its trials were scored on, and a key
# Settings that change where and how fast a trial trains, not what it scores (workers on other machines may
# differ); the data's path is judged by its fingerprint.
MACHINE_SETTINGS = ("source", "device", "threads", "compile")


def open_study(storage: str | None, study_name: str, out: Path, direction: str = "maximize", sampler_seed=None,
               heartbeat: int = DEFAULT_HEARTBEAT):
    """Create or join a study; default storage: sqlite:///OUT/study.db. Safe when workers start together.

    heartbeat: seconds between a running trial's heartbeats (a whole number >= 1).
    """
    import optuna

    check_heartbeat(heartbeat)
    out.mkdir(parents=True, exist_ok=True)  # the summary files go there, whatever the storage
    if storage is None:
        storage = f"sqlite:///{(out / 'study.db').resolve()}"
    shown = _shown_url(storage)
    engine_kwargs = {"connect_args": {"timeout": 120}} if storage.startswith("sqlite") else {"pool_pre_ping": True}
    sampler = optuna.samplers.TPESampler(seed=sampler_seed)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=WARMUP_EPOCHS, interval_steps=CHECK_EVERY)
    for attempt in range(10):
        try:
            with warnings.catch_warnings():  # the heartbeat is "experimental": not the user's concern
                warnings.simplefilter("ignore")
                rdb = optuna.storages.RDBStorage(
                    storage, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat,
                    grace_period=GRACE_FACTOR * heartbeat,
                    heartbeat_stale_trial_callback=retry_once())
                if storage.startswith("sqlite") and rdb.engine.url.database not in (None, "", ":memory:"):
                    _serialise_sqlite(rdb.engine)  # (an in-memory database is one process's: nothing to race)
                try:  # creating is atomic (a unique name): exactly one of several starting workers creates
                    study = optuna.create_study(storage=rdb, study_name=study_name, direction=direction,
                                                sampler=sampler, pruner=pruner)
                    study.created_here = True
                except optuna.exceptions.DuplicatedStudyError:
                    study = optuna.load_study(study_name=study_name, storage=rdb, sampler=sampler, pruner=pruner)
                    study.created_here = False
                return study
        except ImportError as err:
            raise ConfigError(f"--storage {shown} needs a database driver that is not installed: {err}") from None
        except Exception as err:  # noqa: BLE001 - two workers creating the tables at once: the loser retries
            text = str(err).lower()
            racing = any(word in text for word in ("locked", "exists", "unique", "duplicate"))
            if attempt == 9 or not racing:
                if isinstance(err, ValueError) or type(err).__module__.startswith("sqlalchemy"):
                    reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
                    raise ConfigError(f"cannot open the study {study_name!r} in {shown}: {reason}") from None
                raise
            time.sleep(0.2 + 0.3 * attempt)


def _serialise_sqlite(engine) -> None:
    """Make every SQLite transaction take the write lock when it begins (BEGIN IMMEDIATE).

    Why: Python's sqlite3 opens a transaction only at the first write, so Optuna's "is this trial still
    WAITING? then mark it RUNNING" read and write were two transactions. Workers starting together all read
    WAITING and all ran the same enqueued trial (10 rounds of 10 with six workers; CI saw 5 trials of 6). This is
    SQLAlchemy's documented pysqlite recipe; the pooled connections made before it are dropped.
    """
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _no_implicit_transactions(dbapi_connection, _record):
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin_with_the_write_lock(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()


def _shown_url(storage: str) -> str:
    """The storage URL as messages show it: the password hidden."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(storage).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL sqlalchemy understands: say so without echoing it
        return "(an invalid database URL)"


def retry_once():
    """Optuna's callback that enqueues a dead worker's trial again, once (named RetryHeartbeatStaleTrialCallback
    since Optuna 4.9, RetryFailedTrialCallback before)."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        callback = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None) \
            or optuna.storages.RetryFailedTrialCallback
        return callback(max_retry=1)


def check_heartbeat(heartbeat) -> None:
    if not isinstance(heartbeat, int) or isinstance(heartbeat, bool) or heartbeat < 1:
        raise ConfigError(f"--heartbeat must be a whole number of seconds >= 1, got {heartbeat!r}")


def mark_worker(trial) -> None:
    """Record which process runs the trial (so a dead one's trial is recognised on its machine)."""
    trial.set_user_attr("worker", os.getpid())
    trial.set_user_attr("host", HOST)
    # A retry inherits its failed trial's attributes: until this line runs, its "worker" is the dead one's,
    # which fail_dead_trials must not take for the retry's own process.
    trial.set_user_attr("worker_trial", trial.number)


def needs_defaults(study) -> bool:
    """Whether this worker enqueues the defaults trial. The worker that created the study does; a joining
    worker only when an earlier run left none that counts (none finished, running or waiting: it failed on
    bad input or was killed) — never while the study has no finished trial, since then its creator started
    with this worker and is enqueueing the defaults itself (a check-then-enqueue by every worker would race)."""
    from optuna.trial import TrialState

    if getattr(study, "created_here", False):
        return True
    trials = study.get_trials(deepcopy=False)
    counted = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)
    finished = any(t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL) for t in trials)
    return finished and not any(t.user_attrs.get("defaults") and t.state in counted for t in trials)


def check_same_space(study, space: dict) -> None:
    """Refuse a space whose distributions clash with those the study's trials already used (a setting
    searched on another scale or over other choices): Optuna would fail in the middle of the first trial.

    space: {name: {"choices": [...]} | {"low", "high", "log"}}, as tune.suggest reads it.
    """
    from optuna.distributions import check_distribution_compatibility

    wanted = space_distributions(space)
    for trial in study.get_trials(deepcopy=False):
        for name, used in trial.distributions.items():
            if name not in wanted:
                continue
            try:
                check_distribution_compatibility(used, wanted.pop(name))
            except ValueError:
                raise ConfigError(
                    f"the study {study.study_name!r} already searched {name} over {_shown_distribution(used)}; "
                    f"this --space gives {_shown_distribution(space_distributions({name: space[name]})[name])}: "
                    "give the same --space as its other workers, or start a new study (another --out or "
                    "--study-name)") from None


def check_same_setup(study, settings: dict, fingerprint: dict, searched, shared: bool = False) -> None:
    """Refuse to continue a study whose trials were scored on other data or other fixed settings (their values
    would be ranked against each other); a study without a record (new, or from an older version) gets one.

    settings: the base config's flat settings; searched: the names this run searches (left out of the check,
    with those the study searched); fingerprint: data.fingerprint.data_fingerprint of the rows.
    """
    settings = json.loads(to_json_text(clean_for_json(settings)))  # as the storage gives it back
    stored = study.user_attrs.get(SETUP)
    if not isinstance(stored, dict):
        study.set_user_attr(SETUP, {"key": uuid.uuid4().hex, "settings": settings, "searched": sorted(searched),
                                    "data": fingerprint})
        return
    how = ("give a new --study-name to start another study in that storage" if shared  # (--storage: not in OUT)
           else "give a new --out (or --study-name) to start another study")
    change = describe_change(stored.get("data") or {}, fingerprint)
    if change:
        raise ConfigError(f"the study {study.study_name!r} was scored on other data ({change}): {how}")
    skip = {*searched, *stored.get("searched", ()), *MACHINE_SETTINGS}
    before = stored.get("settings") or {}
    changed = [f"{k}={before[k]} (now {v})" for k, v in settings.items()
               if k in before and k not in skip and before[k] != v]
    if changed:
        raise ConfigError(f"the study {study.study_name!r} was scored with {', '.join(changed[:3])}: {how}")


def study_key(study) -> str | None:
    """The random key check_same_setup stored with the study: it tells this study from another of the same
    name (in another storage, or deleted and created again)."""
    stored = study.user_attrs.get(SETUP)
    return stored.get("key") if isinstance(stored, dict) else None


def space_distributions(space: dict) -> dict:
    """The Optuna distribution each searched setting is drawn from (what tune.suggest asks the trial for)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    found = {}
    for name, spec in space.items():
        if "choices" in spec:
            found[name] = CategoricalDistribution(spec["choices"])
        elif isinstance(spec["low"], int) and isinstance(spec["high"], int):
            found[name] = IntDistribution(spec["low"], spec["high"], log=spec.get("log", False))
        else:
            found[name] = FloatDistribution(float(spec["low"]), float(spec["high"]), log=spec.get("log", False))
    return found


def _shown_distribution(distribution) -> str:
    if hasattr(distribution, "choices"):
        return "|".join(str(choice) for choice in distribution.choices)
    return f"{distribution.low:g}..{distribution.high:g}" + (":log" if distribution.log else "")


def fail_dead_trials(study) -> list[int]:
    """Fail the stale trials (Optuna's heartbeat check) and the running trials of this machine whose process
    no longer exists; each is enqueued again once. Returns the numbers of the trials failed here."""
    import optuna
    from optuna.trial import TrialState

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optuna.storages.fail_stale_trials(study)
    storage, failed = study._storage, []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid, attrs = trial.user_attrs.get("worker"), trial.user_attrs
        if attrs.get("host") == HOST and attrs.get("worker_trial") == trial.number and isinstance(pid, int) \
                and pid != os.getpid() and not pid_alive(pid):
            try:
                if storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                    failed.append(trial.number)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        retry_once()(study, storage.get_trial(trial._trial_id))
            except optuna.exceptions.UpdateFinishedTrialError:
                pass  # another worker got there first
    return failed


def _mark_ended(trial, err: BaseException) -> None:
    """Say that the trial's own worker ended it (see awaiting_retry). Best effort: another worker may have
    failed it already, and the storage's error must not hide the one that ended the trial."""
    try:
        trial.set_user_attr(ENDED_BY, type(err).__name__)
    except Exception:  # noqa: BLE001
        pass


def optimize(study, objective, n_trials: int, timeout: float | None, catch: tuple, on_taken_over=None) -> None:
    """study.optimize, one trial at a time, that survives a trial another worker failed meanwhile.

    Why: on a loaded machine a live trial's heartbeat can look stale to another worker, which fails it and
    enqueues its retry; Optuna then refuses this worker's result ("Cannot tell a FAIL trial") and the worker
    would end with an internal error. The result is dropped (the retry runs those settings again),
    on_taken_over(frozen_trial) is told, and the worker goes on with its next trial.
    """
    import optuna

    deadline = None if timeout is None else time.monotonic() + timeout
    current: dict[str, int] = {}

    def tracked(trial):
        current["id"] = trial._trial_id
        try:
            result = objective(trial)
        # Optuna tells these (PRUNED, FAIL) and may find the trial failed; UpdateFinishedTrialError: a report or
        # an attribute written after another worker failed the trial. Anything else (a bug, Ctrl-C) fails the
        # trial too; either way it ended in this live worker, which marks it so that nobody waits for a retry.
        except BaseException as err:
            _mark_ended(trial, err)
            if isinstance(err, (optuna.TrialPruned, optuna.exceptions.UpdateFinishedTrialError, *catch)):
                current["ended"] = True
            raise
        current["ended"] = True  # the objective ended well: an error after this is Optuna's tell
        return result

    for _ in range(n_trials):
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return
        current.clear()
        try:
            study.optimize(tracked, n_trials=1, timeout=left, catch=catch)
        except (ValueError, AssertionError):  # Optuna's tell on a finished trial (an assert on some paths)
            frozen = study._storage.get_trial(current["id"]) if current.get("ended") else None
            if frozen is None or not frozen.state.is_finished():
                raise
            if on_taken_over is not None:
                on_taken_over(frozen)
