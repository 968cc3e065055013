"""Automatic search with Optuna: a default search space, pruning from the per-epoch validation metric,
a trial/time budget, a study shared through any Optuna storage, and the best configuration retrained
as a normal run folder.

OUT holds study.db (the default SQLite storage), trials.csv, tune.json (best params, importance),
history.png, tune.html, and best/ - the retrained best run, rerun by `train --config OUT/best/config.json`.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from .compare import parse_value
from .compare_plan import refuse_pipe
from .config import SETTINGS, ModelConfig, check_value, format_setting, make_config, setting_name
from .config import spec as spec_of
from .data.fingerprint import data_fingerprint, file_digests
from .data.prepare import check_data, load_dataset
from .data.stream import ParquetTable
from .diagnose import diagnose_error
from .engine.callbacks import Callback
from .errors import ConfigError, TrainingError
from .files import to_json_text
from .outputs import parents_made
from .run_folder import read_metrics
from .tasks import get_task
from .tracking import ParentRun, make_tracking
from .tune_finish import BestLock, finish_study, join_study, left_on_error
from .tune_study import (
    BEST_LOCK,
    CHECK_EVERY,
    DEFAULT_HEARTBEAT,
    WARMUP_EPOCHS,
    check_heartbeat,
    check_same_setup,
    check_same_space,
    fail_dead_trials,
    mark_worker,
    needs_defaults,
    open_study,
    optimize,
    space_distributions,
    study_key,
)
from .tune_summary import (
    TUNE_FILES,
    check_out,
    retrained,
    study_summary,  # noqa: F401 - commands.tune takes it from here
    to_settings,
    write_summary,
)
from .workflow import train

# Ranges that suit small tabular MLPs; every entry can be overridden, fixed or extended (see parse_space).
DEFAULT_SPACE: dict[str, Any] = {
    "lr": {"low": 1e-4, "high": 1e-1, "log": True},
    "optimizer": {"choices": ["adamw", "adam", "sgd"]},
    "hidden": {"choices": ["32", "64,64", "128,64", "256,128"]},
    "dropout": {"low": 0.0, "high": 0.5},
    "weight_decay": {"low": 1e-6, "high": 1e-2, "log": True},
}


@dataclass
class TuneResult:
    """What `tune` returns: the study (all workers' trials), the chosen trial and the retrained run."""

    study: Any  # optuna.Study
    best_params: dict[str, Any]
    best_value: float
    best_trial: int
    main_metric: str
    best_run: Any = None  # workflow.Run, or None with retrain=False
    out: Path | None = None
    importance: dict[str, float] | None = None
    note: str = ""  # where the best run is (or will be) when another worker retrains it


class PruneOnValidation(Callback):
    """Reports the validation main metric to the Optuna trial at epoch 1 and every CHECK_EVERY epochs, and
    from WARMUP_EPOCHS on asks the pruner there; stops a hopeless trial.

    Not every epoch: a report is a write to the study's storage and a check reads every finished trial, tens
    of ms on SQLite, far more than a small table's epoch. Every trial reports the same epochs, since the
    median rule compares trials at the same step (tune_study gives MedianPruner the same interval).
    Stopping sets state.should_stop (the loop's own mechanism), then `tune` raises TrialPruned.
    """

    def __init__(self, trial):
        self.trial = trial
        self.pruned = False

    def on_epoch_end(self, state) -> None:
        if state.epoch != 1 and state.epoch % CHECK_EVERY:  # epoch 1: a trial shows at once that it trains
            return
        value = state.history[-1].get(f"valid_{state.main_metric}")
        if value is None or not math.isfinite(value):
            return
        self.trial.report(float(value), state.epoch)
        if state.epoch >= WARMUP_EPOCHS and self.trial.should_prune():
            self.pruned = True
            state.should_stop = True
            state.stop_reason = f"pruned by Optuna at epoch {state.epoch}"


def parse_space(overrides: list[str] | dict[str, Any] | None, base: dict[str, Any] | None = None):
    """The search space after the user's overrides; returns (space, fixed settings).

    overrides as text (the CLI's --space): "lr=1e-4..1e-1:log" (a range, log scale), "epochs=20..200"
    (whole numbers), "hidden=32|64,64|none" (choices), "dropout=0.1" (fixed: removed from the search).
    As a dict: {"lr": {"low":..., "high":..., "log": True}, "hidden": {"choices": [...]}, "dropout": 0.1}.
    """
    space = {k: dict(v) for k, v in (DEFAULT_SPACE if base is None else base).items()}
    if base is None:  # the library's default network is always a candidate (trial 0 trains the defaults)
        default_hidden = format_setting(ModelConfig().hidden)
        if default_hidden not in space["hidden"]["choices"]:
            space["hidden"]["choices"] = [default_hidden] + space["hidden"]["choices"]
    fixed: dict[str, Any] = {}
    if isinstance(overrides, dict):
        items = list(overrides.items())
    else:
        items = []
        for text in overrides or []:
            name, sep, spec = text.partition("=")
            if not sep or not spec:
                raise ConfigError(f"--space {text!r} must look like lr=1e-4..1e-1:log, hidden=32|64,64 or dropout=0.1")
            items.append((name, _parse_spec(name, spec)))
    for name, spec in items:
        name = setting_name(name)
        if name not in SETTINGS or name == "seed":
            raise ConfigError(f"cannot search {name!r}: it is not a train setting (see `torchclassify train --help`)")
        if isinstance(spec, dict) and "choices" in spec:
            if not spec["choices"]:
                raise ConfigError(f"--space {name}: give at least one choice")
            for choice in spec["choices"]:
                parse_value(name, choice)  # refuse a bad choice now, not in trial 17
            space[name] = {"choices": list(spec["choices"])}
        elif isinstance(spec, dict) and "low" in spec:
            low, high = spec["low"], spec["high"]
            if not (isinstance(low, (int, float)) and isinstance(high, (int, float)) and low < high):
                raise ConfigError(f"--space {name}: the range needs low < high, got {low}..{high}")
            if spec.get("log") and low <= 0:
                raise ConfigError(f"--space {name}: a log range must start above 0")
            for bound in (low, high):  # a bound the setting refuses would fail only in the trial that draws it
                try:
                    check_value(name, [bound] if spec_of(name).kind == "widths" else bound)
                except ConfigError as err:
                    raise ConfigError(f"--space {name}={low}..{high}: {err}") from None
            space[name] = {"low": low, "high": high, "log": bool(spec.get("log", False))}
        else:
            space.pop(name, None)
            fixed[name] = parse_value(name, spec)
    return space, fixed


def _parse_spec(name: str, spec: str):
    if "|" in spec:
        return {"choices": [part.strip() for part in spec.split("|")]}
    if ".." in spec:
        body, _, scale = spec.partition(":")
        low_text, _, high_text = body.partition("..")
        try:
            # whole numbers for a whole-number setting (epochs, patience); any number for the others, so
            # that weight_decay=0..1 searches the interval, not {0, 1}
            as_int = name in SETTINGS and spec_of(name).kind in ("int", "batch", "widths")
            convert = int if as_int else float
            low, high = convert(low_text), convert(high_text)
        except ValueError:
            raise ConfigError(f"--space {name}={spec}: expected a range like 1e-4..1e-1 or 20..200") from None
        if scale not in ("", "log"):
            raise ConfigError(f"--space {name}={spec}: the only scale is ':log'")
        return {"low": low, "high": high, "log": scale == "log"}
    return spec


def suggest(trial, space: dict[str, Any]) -> dict[str, Any]:
    """One value per searched setting, drawn by the trial's sampler."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    params = {}
    for name, drawn in space_distributions(space).items():  # one source for the study check and the draw
        if isinstance(drawn, CategoricalDistribution):
            params[name] = trial.suggest_categorical(name, drawn.choices)
        elif isinstance(drawn, IntDistribution):
            params[name] = trial.suggest_int(name, drawn.low, drawn.high, log=drawn.log)
        else:
            params[name] = trial.suggest_float(name, drawn.low, drawn.high, log=drawn.log)
    return params


def tune(base=None, space=None, *, n_trials: int = 30, timeout: float | None = None, out="runs/tune",
         storage: str | None = None, study_name: str = "torchclassify", sampler_seed: int | None = None,
         retrain: bool = True, overwrite: bool = False, data=None, log=None, track=None,
         tracking_uri: str | None = None, heartbeat: int = DEFAULT_HEARTBEAT) -> TuneResult:
    """Search the space with TPE for n_trials (this worker's budget) or timeout seconds, then retrain the best.

    base: the RunConfig every trial starts from (its seed fixes the split, so trials share one validation set).
    space: parse_space's result, or overrides for it (text list or dict); None: DEFAULT_SPACE.
    out: a new or empty folder, or a tune folder (its summary and best/ are replaced); overwrite: any folder.
    storage/study_name: join an existing study (any Optuna database URL) - several workers share its trials;
    only the last worker to finish retrains the best (result.note says where it is, for the others). A study
    continues only on the same data and fixed settings (tune_study.check_same_setup).
    heartbeat: seconds between a running trial's heartbeats; a trial silent for 3 of them is a dead worker's,
    failed and run again by another worker (tune_study).
    The objective is the validation main metric of the weights a run keeps; ties go to the lower validation
    loss. The test split is never read while choosing. A trial whose loss turns NaN is recorded as failed.
    track, tracking_uri: as train's; MLflow nests each trial (and the retrained best) under one run for this
    worker; TensorBoard writes each trial's events to OUT/tensorboard/trial-NNNN (`tensorboard --logdir OUT`).
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # failures are reported by us, in one line
    if not isinstance(n_trials, int) or isinstance(n_trials, bool) or n_trials < 1:
        raise ConfigError(f"--trials must be at least 1, got {n_trials}")
    check_heartbeat(heartbeat)
    if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):  # NaN too
        raise ConfigError(f"--timeout must be a number of seconds above 0, got {timeout!r}")
    tracking = make_tracking(track, tracking_uri)
    if isinstance(space, tuple):
        space, fixed = space
    else:
        space, fixed = parse_space(space)
    base = make_config(base, **fixed)
    if base.data.valid_size == 0:
        raise ConfigError("tune chooses on the validation split: --valid-size must be above 0")
    fingerprint = _checked_rows(base, data)  # a bad file or target fails here, before a study exists
    out = Path(out)
    check_out(out, base.data.source, overwrite)
    if log is not None:
        log(f"searching {', '.join(space) or 'nothing'} for {n_trials} trials"
            + (f" or {timeout:g}s" if timeout else "") + f" into {out}")
    with parents_made(out / BEST_LOCK):  # (a study that cannot start leaves no new empty folders)
        study = open_study(storage, study_name, out, sampler_seed=sampler_seed, heartbeat=heartbeat)
        join_study(study)  # from now on a finishing worker waits for this one until it leaves
        with left_on_error(study):  # (refused: the others need not wait for this worker)
            check_same_space(study, space)
            check_same_setup(study, _flat(base), fingerprint, space, shared=storage is not None)
        (out / BEST_LOCK).touch()  # OUT is a tune folder from now on (tune_summary.TUNE_MARKS)
    fail_dead_trials(study)
    if needs_defaults(study):  # the defaults are a trial: the search can only match or beat them
        defaults = _defaults_in_space(base, space)
        if defaults:
            study.enqueue_trial(defaults, user_attrs={"defaults": True})

    def objective(trial):
        mark_worker(trial)
        settings = to_settings(suggest(trial, space))
        config = make_config(base, **settings)
        pruning = PruneOnValidation(trial)
        started = time.perf_counter()
        try:
            run = train(config, data=data, progress="quiet", callbacks=[pruning], track=parent.child(
                f"trial {trial.number}", tensorboard_dir=out / "tensorboard" / f"trial-{trial.number:04d}"))
        except TrainingError as err:
            trial.set_user_attr("diagnosis", diagnose_error(str(err), config))
            raise
        metric = _main_metric(run)
        trial.set_user_attr("valid_loss", kept_valid_loss(run.history, run.summary.get("best_epoch")))
        trial.set_user_attr("main_metric", metric)
        trial.set_user_attr("epochs", run.summary["epochs_run"])
        trial.set_user_attr("best_epoch", run.summary.get("best_epoch"))
        trial.set_user_attr("diagnosis", run.summary.get("diagnosis", []))
        if log is not None:
            log(f"trial {trial.number}: valid {metric} "
                f"{'pruned' if pruning.pruned else format(run.metrics['valid'][metric], '.4f')} "
                f"({time.perf_counter() - started:.1f}s) {settings}")
        if pruning.pruned:
            raise optuna.TrialPruned()
        return float(run.metrics["valid"][metric])

    def taken_over(trial) -> None:
        if log is not None:
            log(f"trial {trial.number}: another worker failed it as stale meanwhile; its retry runs it again")

    def run_trials(n: int, limit: float | None = None) -> None:
        optimize(study, objective, n, limit, (TrainingError,), taken_over)

    # MLflow: this worker's parent run, a nested run per trial and one for the retrained best.
    params = {"n_trials": n_trials, "timeout": timeout, "study_name": study_name, "space": to_json_text(space)}
    with ParentRun(tracking, "tune", out.name, base, params) as parent:
        with left_on_error(study):  # (Ctrl-C, a bug)
            run_trials(n_trials, timeout)
        finish = finish_study(study, run_trials, heartbeat)
        # OUT is this tune's folder (check_out): its best/ is the one a study retrains into
        result = _conclude(study, finish, out, retrain, lambda config: train(
            config, data=data, out=out / "best", overwrite=True, progress="quiet", track=parent.child("best")),
            base)
        parent.finish(files=[out / name for name in TUNE_FILES if (out / name).exists()],
                      metrics={f"best_valid_{result.main_metric}": result.best_value},
                      tags={"torchclassify.best_trial": result.best_trial})
    return result


def _result(study, best, out: Path) -> TuneResult:
    """The study's summary around its best trial `best`, with the settings' importance."""
    result = TuneResult(study, dict(best.params), float(best.value), best.number,
                        best.user_attrs.get("main_metric", "accuracy"), out=out)
    result.importance = importance(study)
    return result


def _conclude(study, finish, out: Path, retrain: bool, retrain_best, base) -> TuneResult:
    """The study's result for this worker; the last worker to finish (finish.last) retrains the best trial with
    retrain_best(config), under OUT/.best.lock (waiting for another last worker, then taking what is best by
    then), and writes the summary; the others say where the best run is."""
    best = best_trial(study)
    if best is None:
        if not finish.last:
            raise TrainingError(f"no trial has finished yet ({len(finish.running)} still running in other workers): "
                                "the last worker to finish retrains the best")
        raise TrainingError("no trial finished: every trial was pruned or diverged - narrow --space (e.g. a lower "
                            "lr range) or give more --trials")
    if not finish.last:
        result = _result(study, best, out)
        running = ", ".join(f"{t.number} (pid {t.user_attrs.get('worker', '?')} on {t.user_attrs.get('host', '?')})"
                            for t in finish.running)
        result.note = (f"trial(s) {running} still running: the last worker to finish retrains the best trial into "
                       f"{out / 'best'}" if retrain else f"trial(s) {running} still running")
        return result
    lock = BestLock(out)  # another last worker may be retraining: after it, see what is best now
    try:
        best = best_trial(study)  # a trial may have finished while this worker waited
        result = _result(study, best, out)
        if retrain and retrained(out, study_key(study), best.number):  # another worker finished last just now
            result.best_run = SimpleNamespace(run_dir=out / "best", metrics=read_metrics(out / "best"))
            result.note = f"the best trial {best.number} was already retrained into {out / 'best'}"
        elif retrain:
            result.best_run = retrain_best(make_config(base, **to_settings(best.params)))
            result.note = f"this worker retrained the best trial {best.number} into {out / 'best'}"
        write_summary(result)
    finally:
        lock.release()
    return result


def kept_valid_loss(history: list[dict], best_epoch: int | None) -> float | None:
    """The validation loss of the weights a run keeps: best_epoch's, which early stopping restores, or the
    last epoch's without early stopping; the tie on the metric is broken by the same weights it measured."""
    losses = [(h.get("epoch"), h["valid_loss"]) for h in history if "valid_loss" in h]
    kept = [loss for epoch, loss in losses if epoch == best_epoch]
    return kept[0] if kept else losses[-1][1] if losses else None


def _main_metric(run) -> str:
    return get_task(run.summary["task"]).main_metric


def _checked_rows(base, data) -> dict:
    """check_data, then the fingerprint of the rows every trial trains on (data/fingerprint.py): what a
    study's continuation must match."""
    if data is None:
        refuse_pipe(base.data.source, "each trial of a search")
    if base.data.stream:
        check_data(base)
        table = ParquetTable(base.data.source, base.data.target, base.data.chunk_rows)
        return data_fingerprint(SimpleNamespace(y=table.read_targets(), table=table))
    dataset = load_dataset(base, data)  # read once for both
    check_data(base, dataset)
    rows = dataset
    if dataset.image_column is not None:  # the images' names and bytes, not their paths as spelled here
        source = Path(base.data.source)
        files = file_digests(dataset.X[dataset.image_column], source if source.is_dir() else source.parent)
        rows = SimpleNamespace(X=dataset.X.assign(**{dataset.image_column: files}), image_column=None)
    return data_fingerprint(SimpleNamespace(y=dataset.y, dataset=rows))


def _flat(base) -> dict[str, Any]:
    return {**vars(base.data), **vars(base.model), **vars(base.train)}


def _defaults_in_space(base, space: dict[str, Any]) -> dict[str, Any]:
    """The base config's own values for the searched settings, where the space can hold them."""
    values = {}
    flat = _flat(base)
    for name, spec in space.items():
        value = flat.get(name)
        if value is None:
            continue
        if "choices" in spec:
            text = format_setting(value) if name == "hidden" else value
            if text in spec["choices"]:
                values[name] = text
        elif isinstance(value, (int, float)) and spec["low"] <= value <= spec["high"]:
            values[name] = value
    return values


def best_trial(study):
    """The complete trial with the highest value; among equals, the lowest validation loss."""
    import optuna

    done = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            if t.value is not None and math.isfinite(t.value)]
    if not done:
        return None
    loss = lambda t: t.user_attrs.get("valid_loss") if t.user_attrs.get("valid_loss") is not None else math.inf
    return max(done, key=lambda t: (t.value, -loss(t), -t.number))


def importance(study) -> dict[str, float]:
    """Optuna's parameter importances (its default estimator); {} until enough trials vary."""
    import optuna

    try:
        # Optuna warns (on the user's console) when the trials cannot separate the settings; study_summary
        # says so in one sentence instead and hides the numbers.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}
    except Exception:  # noqa: BLE001 - fewer than two finished trials, or a parameter that never varied
        return {}
