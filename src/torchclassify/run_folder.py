"""The run folder: written under OUT.partial/ while a run trains, renamed to OUT when complete; read back checked.

OUT.partial/ holds the run's settings, its checkpoint and a lock file that the training holds (flock) while
it runs, so a second training to the same OUT refuses instead of mixing files, and `train --resume OUT` finds
it after a crash. The finished folder is renamed into place in one step, so OUT is either absent or complete.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pandas as pd

from .config import RunConfig
from .errors import ConfigError, ModelFileError
from .files import read_bytes, read_json, temporary_folder
from .outputs import remove_created_parents

PARTIAL_SUFFIX = ".partial"
LOCK = "lock"
CONFIG = "config.json"
METRICS = "metrics.json"
HISTORY = "history.csv"
DATA_FINGERPRINT = "data.json"  # in OUT.partial/: the rows a run started on, checked by --resume
MAX_HISTORY_BYTES = 64 * 2**20


def partial_path(out: Path) -> Path:
    """Where a run to `out` lives while it trains: the sibling OUT.partial/ (checkpoints, lock, config)."""
    out = Path(out)
    return out.with_name(out.name + PARTIAL_SUFFIX)


# What an interrupted training's OUT.partial/ may hold: its lock, settings, checkpoint, the best model saved on
# Ctrl-C, and the temporaries of those (a finished run folder has model.json at its top: never one of these).
_PARTIAL_NAMES = (LOCK, CONFIG, DATA_FINGERPRINT, "checkpoint.safetensors", "best")
# ".tmp": safetensors' save_file writes its own temporary (tempfile's .tmpXXXXXXXX) beside the checkpoint and
# renames it, so a kill during a checkpoint leaves one.
_PARTIAL_PREFIXES = (".final-", ".best-", f".{CONFIG}.tmp-", f".{DATA_FINGERPRINT}.tmp-",
                     ".checkpoint.safetensors.tmp-", ".tmp")


def is_partial_folder(folder: Path) -> bool:
    """Whether `folder` holds only what an interrupted training leaves (or nothing): safe to resume or clear."""
    try:
        names = os.listdir(folder)
    except OSError:
        return False
    return all(name in _PARTIAL_NAMES or name.startswith(_PARTIAL_PREFIXES) for name in names)


class RunFolderWriter:
    """Builds a run folder inside OUT.partial/ and renames it to OUT when complete.

    Refuses an existing non-empty OUT unless overwrite=True, an OUT named *.partial, and an OUT.partial that
    is not an interrupted training (a folder of the user's that happens to have that name is never touched).
    resume=True continues an interrupted training instead of starting one.
    """

    def __init__(self, out: Path, overwrite: bool = False, resume: bool = False, keep=()):
        """keep: paths the run reads (its data file), which an --overwrite of `out` must not delete."""
        self.out = Path(out)
        if not str(out).strip() or self.out.name in ("", ".", ".."):
            raise ConfigError(f"--out {str(out)!r} names no folder: give a folder path, e.g. runs/NAME")
        if self.out.name.endswith(PARTIAL_SUFFIX):
            raise ConfigError(f"--out {self.out}: names ending in {PARTIAL_SUFFIX} are where interrupted trainings "
                              "live; choose another name")
        self.overwrite = overwrite
        self.partial = partial_path(self.out)
        if self.partial.exists() and (not self.partial.is_dir() or not is_partial_folder(self.partial)):
            raise ConfigError(f"{self.partial} exists but is not an interrupted training of {self.out}: move it "
                              "away or choose another --out")
        if resume:
            if self.out.exists() and self.out.is_dir() and any(self.out.iterdir()) and not self.partial.is_dir():
                raise ConfigError(f"{self.out} is a finished run: there is nothing to resume")
            if not self.partial.is_dir():
                raise ConfigError(f"nothing to resume for {self.out}: {self.partial} does not exist (give the --out "
                                  "folder of an interrupted training)")
        else:
            check_out_folder(self.out, overwrite, keep)
        # Parent folders this run creates (e.g. runs/) are removed again if it fails.
        self.created_parents = [p for p in self.out.parents if not p.exists()]
        try:
            self.partial.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ConfigError(f"cannot create {self.partial}: {err.strerror}") from None
        self._lock = _acquire_lock(self.partial, self.out)
        try:
            if resume and self.out.exists() and any(self.out.iterdir()):
                raise ConfigError(f"{self.out} is a finished run: there is nothing to resume - delete {self.partial}")
            if not resume:
                check_out_folder(self.out, overwrite, keep)  # again, under the lock: another run may have finished
                leftovers = [p for p in self.partial.iterdir() if p.name != LOCK]
                if leftovers and not overwrite:
                    raise ConfigError(f"{self.partial} holds an interrupted training: continue it with "
                                      f"`torchclassify train --resume {self.out}`, or pass --overwrite to start again")
                for path in leftovers:
                    shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
            for stale in self.partial.glob(".final-*"):  # from a run killed while writing its files
                shutil.rmtree(stale, ignore_errors=True)
            self.tmp = temporary_folder(self.partial, ".final-")
        except BaseException:
            self._release()
            raise

    def path(self, name: str) -> Path:
        return self.tmp / name

    def commit(self) -> Path:
        old = None
        if self.out.exists() and self.overwrite:
            old = self.out.with_name(f".{self.out.name}.old-{os.getpid()}")
            os.rename(self.out, old)
        try:
            os.rename(self.tmp, self.out)
        except OSError:
            self.abort(keep=False)
            raise ConfigError(f"{self.out} was created by another run while this one trained; "
                              "nothing was written - use another --out") from None
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        shutil.rmtree(self.partial, ignore_errors=True)
        self._release()
        return self.out

    def abort(self, keep: bool = False) -> None:
        """Remove the unfinished run folder; keep=True leaves OUT.partial/ (config, checkpoint) to resume from."""
        shutil.rmtree(self.tmp, ignore_errors=True)
        if not keep:
            shutil.rmtree(self.partial, ignore_errors=True)
            remove_created_parents(self.created_parents)
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # closing the descriptor releases the flock
            self._lock = None


def _acquire_lock(partial: Path, out: Path) -> int | None:
    """Hold an exclusive flock on partial/lock (released by the kernel even on SIGKILL); ConfigError if held."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; the final rename still refuses to overwrite
        return None
    path = partial / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode("ascii", "replace").strip() or "?"
        os.close(fd)
        raise ConfigError(f"another training (pid {holder}) is writing to {out} right now: wait for it, or use "
                          "another --out") from None
    try:
        same = os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        same = False
    if not same:  # the folder was removed by a run that just finished: ours is a stale lock
        os.close(fd)
        raise ConfigError(f"another training just finished writing {out}: choose another --out or pass --overwrite")
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode("ascii"))
    return fd


def _holds_a_model(folder: Path) -> bool:
    """Whether `folder` holds a torchclassify model.json (a finished run or a saved model; config.json alone is
    a common name for other things)."""
    try:
        raw = read_json(folder / "model.json", ConfigError)
    except ConfigError:
        return False
    return isinstance(raw, dict) and raw.get("format") == "torchclassify-model"


def check_out_folder(out: Path, overwrite: bool, keep=()) -> None:
    """ConfigError unless `out` may become a run folder: new, empty, or (with overwrite) an earlier run folder
    that holds neither the working directory nor a path of `keep` (the data being read): --overwrite removes
    the whole folder, so a project or data folder named by mistake must never qualify."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file: give a folder path")
    if not out.exists() or not any(out.iterdir()):
        return
    if not overwrite:
        raise ConfigError(f"--out {out} already exists: choose another folder or pass --overwrite")
    if not _holds_a_model(out):
        raise ConfigError(f"--out {out} is not a run folder (no torchclassify model.json in it), and --overwrite "
                          "would delete everything in it: choose another folder")
    inside = out.resolve()
    for path in (Path.cwd(), *[Path(p) for p in keep]):
        if path.exists() and (path.resolve() == inside or inside in path.resolve().parents):
            raise ConfigError(f"--out {out} holds {path}, which --overwrite would delete: choose another folder")


# ---------------------------------------------------------------------------------------------- reading


def read_run_config(run_dir) -> dict:
    """config.json of a run as a dict ({} when the folder holds only a model); ModelFileError if broken."""
    path = Path(run_dir) / CONFIG
    if not path.exists() and not path.is_symlink():
        return {}
    raw = read_json(path, ModelFileError)
    if not isinstance(raw, dict):
        raise ModelFileError(f"{path} must hold a JSON object: the run folder is corrupted")
    return raw


def read_run_settings(run_dir):
    """config.json of a run as a validated RunConfig (None when the folder holds only a model).

    The one way a command reads a run's settings: the file is read checked (regular file, size, nesting,
    numbers) and every value type- and range-checked; anything else is one ModelFileError line.
    """
    raw = read_run_config(run_dir)
    if not raw:
        return None
    try:
        return RunConfig.from_dict(raw)
    except (ConfigError, TypeError, ValueError) as err:
        message = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
        raise ModelFileError(f"{Path(run_dir) / CONFIG} is invalid ({message}): the run folder is corrupted - "
                             "retrain, or restore the file") from None


def run_data_settings(run_dir):
    """The run's data settings (config.DataConfig: source, target, n_samples, noise, ...), checked; None when
    the folder has no config.json."""
    settings = read_run_settings(run_dir)
    return None if settings is None else settings.data


def run_files(run_dir) -> list[Path]:
    """The files of a run folder that commands read (an output may never replace one of them)."""
    run_dir = Path(run_dir)
    names = ("model.json", "model.safetensors", CONFIG, METRICS, HISTORY, "train_rows.safetensors")
    return [run_dir / name for name in names]


def read_metrics(run_dir) -> dict:
    """metrics.json of a run ({} when absent)."""
    path = Path(run_dir) / METRICS
    if not path.exists() and not path.is_symlink():
        return {}
    raw = read_json(path, ModelFileError)
    return raw if isinstance(raw, dict) else {}


def read_history(run_dir) -> list[dict]:
    """history.csv of a run as one dict per epoch ([] when absent)."""
    path = Path(run_dir) / HISTORY
    if not path.exists() and not path.is_symlink():
        return []
    data = read_bytes(path, MAX_HISTORY_BYTES, ModelFileError)
    try:
        return pd.read_csv(io.BytesIO(data)).to_dict("records")
    except Exception as err:  # pandas' parser errors
        raise ModelFileError(f"{path} is not a readable history ({type(err).__name__})") from None
