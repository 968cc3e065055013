"""A run's life: settings -> prepared rows -> training -> run folder, with checkpoints, resume and Ctrl-C.

`train(...)` is what `torchclassify train` runs. With `out`, the run lives in OUT.partial/ while it trains
(settings, checkpoints, a lock) and is renamed to OUT when complete (run_folder.RunFolderWriter).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from ..classifier import TrainedClassifier, save_model
from ..config import RunConfig, make_config
from ..data.fingerprint import data_fingerprint, describe_change
from ..data.prepare import prepare
from ..data.row_hashes import HASHES, row_hashes
from ..data.sources import Dataset
from ..engine.callbacks import Callback
from ..engine.checkpoint import CHECKPOINT, ResumeFrom, SaveCheckpoints, read_checkpoint
from ..engine.distributed import launched_by_torchrun, process_rank
from ..errors import ConfigError, DataError, ModelFileError, TrainingError
from ..files import atomic_write, clean_for_json, read_json, write_json
from ..report import RunView, write_report
from ..run_folder import CONFIG, DATA_FINGERPRINT, HISTORY, METRICS, RunFolderWriter, read_run_config
from ..settings import DATAFRAME_SOURCE
from ..tracking import Tracking, make_tracking, start_trackers
from .training import Run, train_prepared


@dataclass
class Resumable:
    """Where and how often a run with a folder checkpoints, and the checkpoint it resumes from (if any)."""

    folder: Path  # OUT.partial/
    out: Path
    every: int | None  # None: after the first epoch, then every ~10 s (engine.checkpoint)
    config: dict  # the settings before resolution: what `--resume` rebuilds the run from
    checkpoint: dict | None = None
    continue_with: str = ""  # what to run after Ctrl-C (train's continue_with)


def train(config: RunConfig | None = None, *, data: pd.DataFrame | Dataset | None = None, out=None,
          overwrite: bool = False, progress: str = "auto", callbacks: list[Callback] = (),
          resume=None, checkpoint_every: int | None = None, track=None, tracking_uri: str | None = None,
          continue_with: str = "", **settings) -> Run:
    """Run the whole workflow; with `out`, write the run folder atomically.

    config: a RunConfig, or None for defaults; keyword settings override it (see config.make_config).
    data: an in-memory DataFrame (with settings target=...) or Dataset instead of config.data.source.
        With stream=True, data is a Parquet path read a chunk of row groups at a time (data/streamed.py).
    progress: "auto" (bar on a terminal, lines when piped), "bar", "lines" or "quiet".
    resume: the `out` folder of an interrupted run; continues it from OUT.partial/ with the settings stored
        there (give no config or settings), ending bit-identical (on CPU) to an uninterrupted run.
    checkpoint_every: with `out`, checkpoint into OUT.partial/ every this many epochs (None: after the
        first epoch, then every ~10 seconds of training).
    track: "mlflow", "tensorboard" or both (a list) to log the run there too (tracking/); tracking_uri: MLflow's
        store or server (default: $MLFLOW_TRACKING_URI, else sqlite:///mlruns/mlflow.db).
    continue_with: what Ctrl-C tells the user to run to go on (default `torchclassify train --resume OUT`;
        compare names its own command, which reuses its finished runs).
    """
    if isinstance(data, (str, Path)):
        settings["source"], data = str(data), None
    if checkpoint_every is not None and (not isinstance(checkpoint_every, int) or isinstance(checkpoint_every, bool)
                                         or checkpoint_every < 1):
        raise ConfigError(f"--checkpoint-every must be a whole number >= 1, got {checkpoint_every!r}")
    tracking = make_tracking(track, tracking_uri)  # a missing library fails here, before anything is written
    if resume is not None:
        if config is not None or settings or out is not None:
            raise ConfigError("resume takes every setting from the interrupted run: give no other settings or out")
        if launched_by_torchrun():  # refused on every rank alike, before any rank starts
            raise ConfigError("--resume is not supported under torchrun yet: resume in one process")
        out = Path(resume)
        out = out.with_name(out.name[:-len(".partial")]) if out.name.endswith(".partial") else out
    else:
        config = make_config(config, **settings)
        if data is not None:
            config.data.source = DATAFRAME_SOURCE
    if process_rank() != 0:
        out, progress, tracking = None, "quiet", Tracking()  # only rank 0 writes the run folder, prints, tracks
    keep = [config.data.source] if resume is None and config.data.source not in (None, DATAFRAME_SOURCE) else []
    writer = RunFolderWriter(Path(out), overwrite, resume=resume is not None, keep=keep) if out is not None else None
    continue_with = continue_with or f"torchclassify train --resume {out}"
    trackers = []
    try:
        saving = None
        if writer is not None:
            checkpoint = None
            if resume is not None:
                config, checkpoint = _read_resume_state(writer.partial)
                if config.data.source == DATAFRAME_SOURCE and data is None:
                    raise ConfigError(f"{out} was trained on an in-memory table: pass the same data= to resume it")
            else:
                write_json(writer.partial / CONFIG, config.to_dict())
            saving = Resumable(writer.partial, Path(out), checkpoint_every, config.to_dict(), checkpoint,
                               continue_with)
        trackers = start_trackers(tracking, config, folder=writer.tmp if writer else None,
                                  name=Path(out).name if out is not None else Path(str(config.data.source)).stem)
        prepared = prepare(config, data)
        if saving is not None:
            _check_data(saving.folder, prepared, resuming=resume is not None)
        run = _train_saving(config, prepared, progress, [*callbacks, *trackers], saving)
        for tracker in trackers:
            tracker.on_evaluated(run)
        if writer is not None:
            write_run(writer, run, prepared.picture_rows())
            run.run_dir = writer.commit()
        for tracker in trackers:
            tracker.on_saved(run)
        return run
    except BaseException as err:
        for tracker in trackers:  # MLflow: FAILED, or KILLED on Ctrl-C; TensorBoard: its files closed
            tracker.on_failed(err)
        if writer is not None:
            # Keep OUT.partial/ when there is progress to resume from; a run that failed before its first
            # checkpoint (bad data, bad settings) leaves nothing behind.
            writer.abort(keep=isinstance(err, KeyboardInterrupt) or resume is not None
                         or (writer.partial / CHECKPOINT).exists())
            if isinstance(err, KeyboardInterrupt) and not getattr(err, "reported", False):
                print(f"interrupted outside training: resume with: {continue_with}", file=sys.stderr, flush=True)
        raise


def _train_saving(config: RunConfig, prepared, progress: str, callbacks: list[Callback],
                  saving: Resumable | None) -> Run:
    """train_prepared with checkpoints into OUT.partial/ (and resuming from one) when the run has a folder."""
    if saving is None:
        return train_prepared(config, prepared, progress=progress, callbacks=callbacks)
    # Checkpoints hold early stopping's state for their epoch, so they come after it (after_fit);
    # resuming puts every callback's state back before anything else (before_fit).
    checkpoints = SaveCheckpoints(saving.folder, saving.every, saving.config)
    before = [] if saving.checkpoint is None else [ResumeFrom(saving.checkpoint)]
    try:
        return train_prepared(config, prepared, progress=progress, callbacks=callbacks, before_fit=before,
                              after_fit=[checkpoints], on_interrupt=lambda best: _save_interrupted(
                                  saving, best, checkpoints))
    except TrainingError as err:
        if checkpoints.saved_epoch is None:
            raise
        raise TrainingError(f"{err} (the last good checkpoint, epoch {checkpoints.saved_epoch}, is kept in "
                            f"{saving.folder})") from None
    except KeyboardInterrupt as err:
        err.reported = True  # _save_interrupted has said where the best model is
        raise


def _read_resume_state(partial: Path) -> tuple[RunConfig, dict | None]:
    """(settings, checkpoint or None) of an interrupted run: from its checkpoint, else from its config.json."""
    if (partial / CHECKPOINT).exists():
        checkpoint = read_checkpoint(partial / CHECKPOINT)
        config = _stored_config(checkpoint["meta"]["config"])
        if config.model.members is None and not any(name.startswith("model/members.") for name in checkpoint["tensors"]):
            config.model.members = 1  # a run from before ensembles: one network, whatever the rule says now
        if config.model.piecewise is None:
            # The settings were stored before the data chose the count: the weights say what was built (none in
            # a run from before piecewise members), whatever the rule says now.
            config.model.piecewise = 0 if config.model.custom else len({
                name.split("piecewise.")[0] for name in checkpoint["tensors"]
                if name.startswith("model/") and "piecewise." in name})
        return config, checkpoint
    raw = read_run_config(partial)  # killed before its first checkpoint: start again with the same settings
    if not raw:
        raise ConfigError(f"{partial} holds no settings to resume from: start the run again with --overwrite")
    return _stored_config(raw), None


def _stored_config(raw) -> RunConfig:
    """An interrupted run's settings as it started them: a run from before log_skewed read every number as it
    was (the checkpoint does not hold the preprocessing, which resume fits again from these settings)."""
    config = RunConfig.from_dict(raw)
    if isinstance(raw, dict) and "log_skewed" not in (raw.get("data") or {}):
        config.data.log_skewed = False
    return config


def _check_data(partial: Path, prepared, resuming: bool) -> None:
    """Record the data's fingerprint when a run starts (OUT.partial/data.json); on resume, refuse rows that
    changed since then in one line naming what changed (a resumed run must train on the rows it started on)."""
    now = data_fingerprint(prepared)
    path = partial / DATA_FINGERPRINT
    if resuming and (path.exists() or path.is_symlink()):
        stored = read_json(path, ModelFileError, f"{path}")
        change = describe_change(stored if isinstance(stored, dict) else {}, now)
        if change:
            raise DataError(f"the data changed since the run started: {change} - restore the data it started on to "
                            "resume, or start again with --overwrite")
        return
    write_json(path, now)


def _save_interrupted(saving: Resumable, best: TrainedClassifier, checkpoints: SaveCheckpoints) -> None:
    """After Ctrl-C: write the best model so far to OUT.partial/best/ and say how to resume."""
    tmp = Path(tempfile.mkdtemp(prefix=".best-", dir=saving.folder))
    try:
        save_model(best, tmp)
        shutil.rmtree(saving.folder / "best", ignore_errors=True)
        tmp.rename(saving.folder / "best")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    state = checkpoints.state
    done = f"after epoch {checkpoints.saved_epoch}" if checkpoints.saved_epoch else "before the first checkpoint"
    best_epoch = f" (epoch {state.best_epoch})" if state is not None and state.best_epoch else ""
    print(f"interrupted: progress is saved {done}; the best model so far{best_epoch} is in {saving.folder / 'best'}\n"
          f"resume with: {saving.continue_with}", file=sys.stderr, flush=True)


def _write_row_hashes(path: Path, picture_rows) -> None:
    """The training rows' hashes (data/row_hashes.py), for evaluate's overlap warning; in-memory runs only
    (a streamed run's rows for pictures are a sample)."""
    from safetensors.torch import save_file

    dataset, splits, note = picture_rows
    if note or dataset is None:
        return
    columns = [str(c) for c in dataset.X.columns] + [str(c) for c in dataset.y.columns]
    train = splits["train"]
    rows = pd.concat([dataset.X.iloc[train], dataset.y.iloc[train]], axis=1)
    hashes = torch.from_numpy(row_hashes(rows, columns).copy())
    atomic_write(path, lambda tmp: save_file({"hashes": hashes}, str(tmp), metadata={"columns": json.dumps(columns)}))


def write_run(writer: RunFolderWriter, run: Run, picture_rows) -> None:
    """config.json, model.safetensors, model.json, history.csv, metrics.json, report.html.

    picture_rows: the prepared data's (Dataset, splits, note) for the report's pictures (not read again).
    """
    write_json(writer.path(CONFIG), run.config.to_dict())
    run.classifier.info.update({"summary": clean_for_json(run.summary)})
    save_model(run.classifier, writer.tmp)
    atomic_write(writer.path(HISTORY), pd.DataFrame(run.history).to_csv(index=False))
    write_json(writer.path(METRICS), clean_for_json(run.metrics))
    _write_row_hashes(writer.path(HASHES), picture_rows)
    # The report last, from what is already computed; a failure there must not cost the trained model.
    try:
        write_report(RunView.from_run(run, picture_rows), writer.path("report.html"))
    except Exception as err:
        warnings.warn(f"report.html was not written ({type(err).__name__}: {err}); rebuild it later with "
                      "`torchclassify report RUN`", stacklevel=2)
