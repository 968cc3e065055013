"""Saving and loading trained models and run folders, safely.

A model is two files: model.safetensors (weights only) and model.json (architecture, task, classes,
threshold, preprocessing state, versions). Nothing is ever unpickled; every field read back is checked,
and the weights' header is checked against the architecture before a byte of weights is allocated.
Run folders are written under a temporary name and renamed into place, so a crash leaves nothing half-written.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import struct
import tempfile
from pathlib import Path
from typing import Any

from .errors import ConfigError, ModelFileError

FORMAT = "torchclassify-model"
FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
MODEL_JSON = "model.json"
MAX_JSON_BYTES = 64 * 2**20
MAX_HEADER_BYTES = 16 * 2**20
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin", ".joblib", ".npy", ".npz")
SAFE_DTYPES = {"F32": 4, "F64": 8, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


def write_json(path: Path, payload: Any) -> None:
    """Write JSON atomically: to a temporary file in the same folder, then rename over the target."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2, allow_nan=False, default=_json_default)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomically(path: Path, write) -> None:
    """Call write(tmp_path) on a temporary sibling of `path`, then rename it over `path`: never half-written."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _json_default(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def clean_for_json(value):
    """NaN and inf are not JSON: store them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: clean_for_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_for_json(v) for v in value]
    return value


def versions() -> dict[str, str]:
    import platform

    import torch

    from . import __version__

    return {"torchclassify": __version__, "torch": torch.__version__, "python": platform.python_version()}


def save_model(classifier, folder: Path) -> None:
    """Write model.safetensors and model.json for `classifier` into an existing folder."""
    from safetensors.torch import save_file

    folder = Path(folder)
    state = {k: v.detach().cpu().contiguous() for k, v in classifier.model.state_dict().items()}
    tmp = folder / f".{WEIGHTS}.tmp"
    save_file(state, str(tmp))
    os.replace(tmp, folder / WEIGHTS)
    from dataclasses import asdict

    n_inputs = classifier.preprocessor.n_features_out
    write_json(folder / MODEL_JSON, clean_for_json({
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "task": classifier.task_name,
        "n_inputs": n_inputs,
        "n_outputs": classifier.task.n_outputs(classifier.labels.n_classes),
        "model": asdict(classifier.model_config),
        "labels": classifier.labels.to_dict(),
        "threshold": classifier.threshold,
        "preprocessing": classifier.preprocessor.to_dict(),
        "info": classifier.info,
        "versions": versions(),
    }))


PARTIAL_SUFFIX = ".partial"
LOCK = "lock"


def partial_path(out: Path) -> Path:
    """Where a run to `out` lives while it trains: the sibling OUT.partial/ (checkpoints, lock, config)."""
    out = Path(out)
    return out.with_name(out.name + PARTIAL_SUFFIX)


class RunWriter:
    """Builds a run folder inside OUT.partial/ and renames it to OUT when complete.

    OUT.partial/ is found again after a crash (`train --resume OUT`); it holds config.json, the checkpoint and
    a lock file that a training holds (flock) while it runs, so a second training to the same OUT refuses
    instead of mixing files. The finished folder is renamed into place in one step, so OUT is either absent
    or complete. Refuses an existing non-empty OUT unless overwrite=True.
    """

    def __init__(self, out: Path, overwrite: bool = False, resume: bool = False):
        self.out = Path(out)
        self.overwrite = overwrite
        self.partial = partial_path(self.out)
        if resume:
            if self.out.exists() and self.out.is_dir() and any(self.out.iterdir()) and not self.partial.is_dir():
                raise ConfigError(f"{self.out} is a finished run: there is nothing to resume")
            if not self.partial.is_dir():
                raise ConfigError(f"nothing to resume for {self.out}: {self.partial} does not exist (give the --out "
                                  "folder of an interrupted training)")
        else:
            check_out_folder(self.out, overwrite)
        # Parent folders this run creates (e.g. runs/) are removed again if it fails.
        self.created_parents = [p for p in self.out.parents if not p.exists()]
        self.partial.mkdir(parents=True, exist_ok=True)
        self._lock = _acquire_lock(self.partial, self.out)
        try:
            if resume and self.out.exists() and any(self.out.iterdir()):
                raise ConfigError(f"{self.out} is a finished run: there is nothing to resume - delete {self.partial}")
            if not resume:
                check_out_folder(self.out, overwrite)  # again, under the lock: another run may have finished
                leftovers = [p for p in self.partial.iterdir() if p.name != LOCK]
                if leftovers and not overwrite:
                    raise ConfigError(f"{self.partial} holds an interrupted training: continue it with "
                                      f"`torchclassify train --resume {self.out}`, or pass --overwrite to start again")
                for path in leftovers:
                    shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
            for stale in self.partial.glob(".final-*"):  # from a run killed while writing its files
                shutil.rmtree(stale, ignore_errors=True)
            self.tmp = Path(tempfile.mkdtemp(prefix=".final-", dir=self.partial))
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
            for folder in self.created_parents:  # innermost first; stops at one another run wrote into
                try:
                    folder.rmdir()
                except OSError:
                    break
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
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
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


def check_out_folder(out: Path, overwrite: bool) -> None:
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file: give a folder path")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ConfigError(f"--out {out} already exists: choose another folder or pass --overwrite")


def _require(condition: bool, folder: Path, what: str) -> None:
    if not condition:
        raise ModelFileError(f"{folder / MODEL_JSON} is invalid: {what} - re-save the model with torchclassify")


def read_model_json(folder: Path) -> dict:
    """Parse and type-check model.json; every problem is a one-line ModelFileError."""
    path = folder / MODEL_JSON
    if not path.is_file():
        raise ModelFileError(f"{folder} is not a torchclassify model folder: {MODEL_JSON} is missing")
    if path.stat().st_size > MAX_JSON_BYTES:
        raise ModelFileError(f"{path} is larger than {MAX_JSON_BYTES // 2**20} MiB: refusing to read it")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:  # ValueError: JSON errors, 5000-digit ints
        raise ModelFileError(f"{path} is not valid JSON ({type(err).__name__}): the file is corrupted") from None
    _require(isinstance(raw, dict) and raw.get("format") == FORMAT, folder, "not a torchclassify model file")
    _require(raw.get("format_version") == FORMAT_VERSION, folder,
             f"format_version {raw.get('format_version')!r} is not supported (this torchclassify reads {FORMAT_VERSION})")
    _require(raw.get("task") in ("binary", "multiclass", "multilabel"), folder, "task must be binary, multiclass or multilabel")
    for key in ("n_inputs", "n_outputs"):
        value = raw.get(key)
        _require(isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 10**6, folder,
                 f"{key} must be a whole number in [1, 10^6]")
    threshold = raw.get("threshold")
    _require(isinstance(threshold, (int, float)) and not isinstance(threshold, bool) and 0 < threshold < 1,
             folder, "threshold must be a number in (0, 1)")
    labels = raw.get("labels")
    _require(isinstance(labels, dict) and isinstance(labels.get("classes"), list)
             and isinstance(labels.get("multilabel"), bool), folder, "labels must list the classes")
    # A single-label model needs two classes or more; a multilabel one at least one label.
    _require(len(labels["classes"]) >= (1 if labels["multilabel"] else 2), folder, "too few classes")
    _require(len(labels["classes"]) == raw["n_outputs"] or (raw["task"] == "binary" and raw["n_outputs"] == 1),
             folder, "the number of classes does not match the network's outputs")
    _require(all(isinstance(c, (str, int, float, bool)) for c in labels["classes"]), folder,
             "classes must be strings or numbers")
    _require(isinstance(raw.get("model"), dict), folder, "model must be an object")
    pre = raw.get("preprocessing")
    _require(isinstance(pre, dict) and isinstance(pre.get("numeric"), list) and isinstance(pre.get("categorical"), list)
             and isinstance(pre.get("max_categories"), int), folder, "preprocessing is malformed")
    for col in pre["numeric"]:
        _require(isinstance(col, dict) and isinstance(col.get("name"), str)
                 and all(isinstance(col.get(k), (int, float)) and not isinstance(col.get(k), bool)
                         for k in ("median", "mean", "std"))
                 and isinstance(col.get("indicator"), bool), folder, "a numeric column entry is malformed")
    for col in pre["categorical"]:
        _require(isinstance(col, dict) and isinstance(col.get("name"), str) and isinstance(col.get("categories"), list)
                 and all(isinstance(c, str) for c in col["categories"]), folder, "a categorical column entry is malformed")
    return raw


def read_safetensors_header(path: Path) -> dict[str, dict]:
    """The tensor table of a safetensors file, checked against the file size before anything is loaded."""
    if not path.is_file():
        raise ModelFileError(f"{path} is missing: the model folder is incomplete")
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise ModelFileError(f"{path} is truncated: not a safetensors file")
        (n_header,) = struct.unpack("<Q", head)
        if n_header > MAX_HEADER_BYTES or 8 + n_header > size:
            raise ModelFileError(f"{path} has an impossible header length: not a safetensors file, or truncated")
        try:
            header = json.loads(handle.read(n_header).decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise ModelFileError(f"{path} is not a safetensors file (its header is not JSON) - was it "
                                 "replaced, e.g. by a pickle?") from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{path} has a malformed header")
    header.pop("__metadata__", None)
    data_bytes = size - 8 - n_header
    end = 0
    for name, entry in header.items():
        ok = isinstance(entry, dict) and entry.get("dtype") in SAFE_DTYPES and isinstance(entry.get("shape"), list) \
            and all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**31 for d in entry["shape"]) \
            and isinstance(entry.get("data_offsets"), list) and len(entry["data_offsets"]) == 2 \
            and all(isinstance(o, int) and not isinstance(o, bool) for o in entry["data_offsets"])
        if not ok:
            raise ModelFileError(f"{path}: the entry for tensor {name!r} is malformed")
        start, stop = entry["data_offsets"]
        expected = math.prod(entry["shape"]) * SAFE_DTYPES[entry["dtype"]]
        if not 0 <= start <= stop <= data_bytes or stop - start != expected:
            raise ModelFileError(f"{path}: tensor {name!r} claims shape {entry['shape']} but its bytes do not "
                                 "match the file (truncated or tampered with)")
        end = max(end, stop)
    return header


def load_model(folder, trust_custom_model: bool = False):
    """Load a TrainedClassifier from a run or model folder, without unpickling anything.

    trust_custom_model: allow importing the user's own nn.Module class named in model.json.
    Raises ModelFileError for a missing, corrupted, tampered or incompatible folder.
    """
    import torch
    from safetensors.torch import load_file

    from .classifier import TrainedClassifier
    from .config import ModelConfig
    from .data.labels import LabelEncoding
    from .data.preprocess import Preprocessor
    from .models import make_model

    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFileError(f"model folder not found: {folder} - give the --out folder of a training run")
    planted = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
    if planted:
        raise ModelFileError(f"{folder} contains {', '.join(planted)}: pickle-based files are never loaded, and "
                             "their presence means the folder was tampered with - remove them or re-save the model")
    linked = [name for name in (MODEL_JSON, WEIGHTS) if (folder / name).is_symlink()]
    if linked:  # a link may point anywhere (another user's file, a device): only the folder's own files are read
        raise ModelFileError(f"{folder / linked[0]} is a symbolic link: copy the real file into the model folder")
    raw = read_model_json(folder)
    try:
        model_config = ModelConfig(**raw["model"])
        from .config import RunConfig

        RunConfig(model=model_config).validate()
    except (TypeError, ConfigError) as err:
        raise ModelFileError(f"{folder / MODEL_JSON} has an invalid model section: {err}") from None
    header = read_safetensors_header(folder / WEIGHTS)
    try:
        with torch.device("meta"):  # shapes only: nothing is allocated until the file is known to match
            skeleton = make_model(model_config, raw["n_inputs"], raw["n_outputs"], allow_custom=trust_custom_model)
    except ConfigError as err:
        raise ModelFileError(str(err)) from None
    expected = {k: list(v.shape) for k, v in skeleton.state_dict().items()}
    found = {k: v["shape"] for k, v in header.items()}
    if expected != found:
        diff = [k for k in sorted(set(expected) | set(found)) if expected.get(k) != found.get(k)][:3]
        raise ModelFileError(f"{folder / WEIGHTS} does not match the architecture in {MODEL_JSON} "
                             f"(first mismatches: {diff}): the files are from different models or tampered with")
    try:
        state = load_file(str(folder / WEIGHTS))
        model = make_model(model_config, raw["n_inputs"], raw["n_outputs"], allow_custom=trust_custom_model)
        model.load_state_dict(state, strict=True)
        preprocessor = Preprocessor.from_dict(raw["preprocessing"])
        labels = LabelEncoding.from_dict(raw["labels"])
    except ModelFileError:
        raise
    except Exception as err:  # safetensors/torch raise assorted types on a corrupt payload
        raise ModelFileError(f"cannot load {folder}: {type(err).__name__}: {str(err)[:200]}") from None
    if preprocessor.n_features_out != raw["n_inputs"]:
        raise ModelFileError(f"{folder / MODEL_JSON}: preprocessing yields {preprocessor.n_features_out} features "
                             f"but the network takes {raw['n_inputs']}")
    model.eval()
    info = raw.get("info") if isinstance(raw.get("info"), dict) else {}
    return TrainedClassifier(model, raw["task"], preprocessor, labels, model_config, float(raw["threshold"]), info)
