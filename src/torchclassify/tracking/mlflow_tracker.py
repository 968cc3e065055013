"""MLflow: one run per training, nested under a parent run for compare and tune.

A training's run holds its resolved settings as params, each epoch's numbers as metrics with step=epoch, the
final validation and test metrics ("valid/accuracy", "test/roc_auc"...), and the report and run folder as
artifacts. It ends FINISHED, FAILED on an error, KILLED on Ctrl-C. Everything goes through `MlflowClient`, so
the caller's own active MLflow run and MLflow's global settings are left alone.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from ..errors import ConfigError
from . import Tracking
from .base import Tracker, epoch_numbers, final_numbers, flat_settings

# MLflow 3 refuses a plain ./mlruns folder as a store (its file store is retired): a SQLite file inside it holds
# the runs, and the artifacts go into an artifacts/ folder beside it.
DEFAULT_URI = "sqlite:///mlruns/mlflow.db"
DEFAULT_EXPERIMENT = "torchclassify"
FLUSH_SECONDS = 5.0  # per-epoch metrics go out in one batch every few seconds, not one request per epoch
_BATCH = 1000  # MLflow's limit of metrics per log_batch call


def resolve_uri(given: str | None) -> str:
    """--tracking-uri, else $MLFLOW_TRACKING_URI, else sqlite:///mlruns/mlflow.db under the current folder."""
    return given or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI


def open_store(given_uri: str | None) -> tuple[MlflowClient, str, str]:
    """(client, experiment id, URI): the experiment is $MLFLOW_EXPERIMENT_NAME or "torchclassify", created on
    first use. ConfigError when the store cannot be opened (a bad URI, a server that does not answer)."""
    uri = resolve_uri(given_uri)
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT
    try:
        database = _sqlite_file(uri)
        if database is not None:  # SQLite creates the file, not the folder it sits in
            database.parent.mkdir(parents=True, exist_ok=True)
        client = MlflowClient(tracking_uri=uri)
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            # A local store keeps the files beside its database, wherever the command runs (MLflow's own
            # default is ./mlruns under the folder the first run happened to start in); a server decides itself.
            artifacts = (database.resolve().parent / "artifacts").as_uri() if database is not None else None
            try:
                return client, client.create_experiment(name, artifact_location=artifacts), uri
            except MlflowException:  # another process created it in between (tune workers starting together)
                experiment = client.get_experiment_by_name(name)
        return client, experiment.experiment_id, uri
    except Exception as err:  # noqa: BLE001 - MLflow, SQLAlchemy and requests raise assorted types
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"cannot open the MLflow store {uri}: {first[:300]}") from None


def _sqlite_file(uri: str) -> Path | None:
    """The database file of a sqlite:/// URI (relative or absolute), else None."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri[len("sqlite:///"):].split("?")[0])


@dataclass
class OpenRun:
    """A started MLflow run: every call after its start is guarded, so a store that goes away mid-training
    costs one warning and the rest of the tracking, never the training or its run folder."""

    client: MlflowClient
    run_id: str
    uri: str
    ended: bool = False
    broken: bool = False

    def call(self, what: str, method: str, *args, **kwargs) -> None:
        if self.broken:
            return
        try:
            getattr(self.client, method)(self.run_id, *args, **kwargs)
        except Exception as err:  # noqa: BLE001 - network, database or validation errors alike
            self.broken = True
            warnings.warn(f"MLflow tracking stopped while {what} ({type(err).__name__}: {str(err)[:200]}); the run "
                          "folder is unaffected", stacklevel=3)

    def log_metrics(self, steps: list[tuple[int, dict[str, float]]]) -> None:
        """steps: [(step, {name: value}), ...], sent in as few calls as MLflow allows."""
        stamp = int(time.time() * 1000)
        metrics = [Metric(key, value, stamp, step) for step, numbers in steps for key, value in numbers.items()]
        for start in range(0, len(metrics), _BATCH):
            self.call("logging metrics", "log_batch", metrics=metrics[start:start + _BATCH])

    def finish(self, files=(), metrics: dict | None = None, tags: dict | None = None) -> None:
        """Log files (each at the artifact root), metrics and tags, then end FINISHED (FAILED if a call failed)."""
        if tags:
            self.call("tagging the run", "log_batch", tags=[RunTag(k, str(v)) for k, v in tags.items()])
        if metrics:
            self.log_metrics([(0, metrics)])
        for path in files:
            if Path(path).is_dir():
                self.call(f"uploading {path}", "log_artifacts", str(path), artifact_path=Path(path).name)
            elif Path(path).exists():
                self.call(f"uploading {path}", "log_artifact", str(path))
        self.end("FAILED" if self.broken else "FINISHED")

    def end(self, status: str) -> None:
        self.broken = False  # a last try, whatever failed before: a run left RUNNING is the worst outcome
        self.call("ending the run", "set_terminated", status=status)
        self.ended = True


def start_run(tracking: Tracking, name: str, params: dict, tags: dict | None = None,
              store: tuple | None = None) -> OpenRun:
    """Create a run named `name` (nested under tracking.parent_run_id, if any) with its params logged."""
    client, experiment_id, uri = store or open_store(tracking.tracking_uri)
    tags = {**(tags or {}), **({MLFLOW_PARENT_RUN_ID: tracking.parent_run_id} if tracking.parent_run_id else {})}
    run = OpenRun(client, client.create_run(experiment_id, run_name=name, tags=tags).info.run_id, uri)
    items = [Param(key, str(value)[:6000]) for key, value in params.items()]
    for start in range(0, len(items), 100):  # MLflow's limit of params per call
        run.call("logging the settings", "log_batch", params=items[start:start + 100])
    return run


def start_parent(tracking: Tracking, command: str, name: str, settings=None, params: dict | None = None) -> OpenRun:
    """The parent run of a compare or tune command: the settings every child shares, and the command's own."""
    shared = flat_settings(settings) if settings is not None else {}
    return start_run(tracking, name, {**shared, **(params or {})}, tags={"torchclassify.command": command})


class MlflowTracker(Tracker):
    """Logs one training to MLflow (see the module docstring); the run starts when training starts."""

    def __init__(self, tracking: Tracking, config, name: str):
        self.store = open_store(tracking.tracking_uri)  # fail now, before the data is read, if it cannot open
        self.tracking, self.config, self.name = tracking, config, name
        self.run: OpenRun | None = None
        self.flushed_at = time.monotonic()

    def on_train_begin(self, state) -> None:
        # By now the settings left to the data (epochs, batch size, task...) are resolved in self.config.
        try:
            self.run = start_run(self.tracking, self.name, flat_settings(self.config),
                                 tags={"torchclassify.task": self.config.data.task}, store=self.store)
        except Exception as err:  # noqa: BLE001 - the store opened a moment ago: train on, untracked
            warnings.warn(f"MLflow tracking stopped while starting the run ({type(err).__name__}: "
                          f"{str(err)[:200]}); the run folder is unaffected", stacklevel=2)
            return
        self.state = state
        self._flush()  # a resumed run starts with the epochs of its checkpoint: the MLflow run holds them too

    def on_epoch_end(self, state) -> None:
        if time.monotonic() - self.flushed_at >= FLUSH_SECONDS:
            self._flush()

    def on_train_end(self, state) -> None:
        self._flush()

    def on_saved(self, run) -> None:
        if self.run is None:
            return
        s = run.summary
        tags = {f"torchclassify.{key}": s.get(key) for key in ("epochs_run", "best_epoch", "stop_reason",
                                                               "training_path") if s.get(key) not in (None, "")}
        files = []
        if run.run_dir is not None:
            tags["torchclassify.run_dir"] = str(Path(run.run_dir).resolve())
            files = [Path(run.run_dir) / "report.html", Path(run.run_dir)]  # the report at the top, one click away
        self.run.finish(files=files, metrics=final_numbers(run.metrics), tags=tags)
        run.tracked["mlflow"] = {"run_id": self.run.run_id, "tracking_uri": self.run.uri}

    def on_failed(self, err: BaseException) -> None:
        if self.run is not None and not self.run.ended:
            self._flush()  # the epochs it did train (the one whose loss turned NaN included)
            self.run.end("KILLED" if isinstance(err, KeyboardInterrupt) else "FAILED")

    def _flush(self) -> None:
        records = self.unsent_records()
        if self.run is not None and records:
            self.run.log_metrics([(record["epoch"], epoch_numbers(record)) for record in records])
        self.flushed_at = time.monotonic()
