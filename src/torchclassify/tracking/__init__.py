"""Experiment tracking, optional: MLflow runs and TensorBoard event files, fed by callbacks as a run trains.

`track=` of train, compare and tune names what to track ("mlflow", "tensorboard" or both); `make_tracking`
checks it and imports the library it needs (a one-line ConfigError with the pip command when missing). Nothing
here imports torch, MLflow or TensorBoard at the top: the command line reads TRACKERS for its --track flag.
The run folder stays the record of a run; tracking copies its numbers and files elsewhere.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import ConfigError

TRACKERS = ("mlflow", "tensorboard")
# What `--track NAME` imports, and what pip installs for it. The MLflow client is all a run needs to log
# (mlflow-skinny: no server, no UI, none of the full package's pins); `mlflow ui` needs the full `mlflow`.
_PACKAGES = {"mlflow": ("mlflow", "mlflow-skinny"), "tensorboard": ("tensorboard", "tensorboard")}


@dataclass(frozen=True)
class Tracking:
    """What one run tracks and where.

    backends: names from TRACKERS. tracking_uri: MLflow's store or server (None: $MLFLOW_TRACKING_URI, else
    sqlite:///mlruns/mlflow.db under the current folder). run_name: the MLflow run's name (default: the run
    folder's). parent_run_id: nest the MLflow run under this one (compare's and tune's runs). tensorboard_dir:
    where the event files go (default: RUN/tensorboard, inside the run folder).
    """

    backends: tuple[str, ...] = ()
    tracking_uri: str | None = None
    run_name: str | None = None
    parent_run_id: str | None = None
    tensorboard_dir: Path | None = None


def make_tracking(track=None, tracking_uri: str | None = None) -> Tracking:
    """A checked Tracking from `track=` ("mlflow", "tensorboard", "mlflow,tensorboard", a list of names, or a
    Tracking) and `tracking_uri=`; imports the libraries it names, so a missing one fails before any work."""
    if isinstance(track, Tracking):
        tracking = track if tracking_uri is None else replace(track, tracking_uri=tracking_uri)
    else:
        names = track.split(",") if isinstance(track, str) else list(track or [])
        for name in names:
            if name not in TRACKERS:
                raise ConfigError(f"--track {name!r} is not one of: {', '.join(TRACKERS)}")
        tracking = Tracking(tuple(dict.fromkeys(names)), tracking_uri)
    if tracking.tracking_uri is not None:
        if not isinstance(tracking.tracking_uri, str) or not tracking.tracking_uri.strip():
            raise ConfigError(f"--tracking-uri must be an MLflow tracking URI, got {tracking.tracking_uri!r}")
        if "mlflow" not in tracking.backends:
            raise ConfigError("--tracking-uri is where MLflow logs: add --track mlflow")
    for name in tracking.backends:
        require(name)
    return tracking


def require(name: str) -> None:
    """Import the library `--track name` needs; ConfigError naming the pip command when it is not installed."""
    module, package = _PACKAGES[name]
    try:
        importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"--track {name} needs the {package} package, which is not installed: "
                          f"pip install 'torchclassify[{name}]' (or pip install {package})") from None


def start_trackers(tracking: Tracking, config, *, folder: Path | None, name: str) -> list:
    """The trackers (callbacks, tracking.base.Tracker) of one run; `config` is read when training starts,
    once the settings left to the data are resolved. folder: where the run folder is being written, if any."""
    if not tracking.backends:
        return []
    log_dir = tracking.tensorboard_dir or (Path(folder) / "tensorboard" if folder is not None else None)
    if "tensorboard" in tracking.backends and log_dir is None:
        raise ConfigError("--track tensorboard writes its event files into the run folder: give an --out folder "
                          "(out= in Python)")
    trackers = []
    # Imported here, not at the top: they import torch, and the command line reads this module for --help.
    if "mlflow" in tracking.backends:
        from .mlflow_tracker import MlflowTracker

        trackers.append(MlflowTracker(tracking, config, tracking.run_name or name))
    if "tensorboard" in tracking.backends:
        from .tensorboard_tracker import TensorBoardTracker

        trackers.append(TensorBoardTracker(log_dir))
    return trackers


class ParentRun:
    """The MLflow run that holds one command's trainings (compare's variants x seeds, tune's trials) as nested runs.

    Use as a context manager: it ends FINISHED, FAILED on an exception, KILLED on Ctrl-C. It is created when its
    first child asks for it, so a command refused before training leaves no run behind. Without MLflow it only
    hands each child its tracking (TensorBoard: the child's own folder).
    """

    def __init__(self, tracking: Tracking, command: str, name: str, settings=None, params: dict | None = None):
        self.tracking, self.command, self.name = tracking, command, name
        self.settings, self.params = settings, dict(params or {})
        self.run = None  # mlflow_tracker.OpenRun once created

    def child(self, name: str, tensorboard_dir: Path | None = None) -> Tracking:
        """The tracking of one training inside this command."""
        if "mlflow" in self.tracking.backends and self.run is None:
            from .mlflow_tracker import start_parent

            self.run = start_parent(self.tracking, self.command, self.name, self.settings, self.params)
        return replace(self.tracking, run_name=name, parent_run_id=self.run.run_id if self.run else None,
                       tensorboard_dir=tensorboard_dir)

    def finish(self, files=(), metrics: dict | None = None, tags: dict | None = None) -> None:
        """Log the command's own files, metrics and tags, and end the run FINISHED."""
        if self.run is not None:
            self.run.finish(files=files, metrics=metrics, tags=tags)

    def __enter__(self) -> "ParentRun":
        return self

    def __exit__(self, kind, err, traceback) -> None:
        if self.run is not None and not self.run.ended:
            self.run.end("FINISHED" if err is None else "KILLED" if isinstance(err, KeyboardInterrupt) else "FAILED")
