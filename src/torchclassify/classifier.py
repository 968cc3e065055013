"""A trained classifier that takes raw rows, and its two files: model.safetensors and model.json.

`TrainedClassifier` is preprocessing + network + labels + threshold in one object; `save_model` writes it
and `load_model` (`torchclassify.load`) reads it back without unpickling anything: every field of model.json
is type- and range-checked and the weights' header is checked against the architecture before a byte of
weights is allocated.
"""

from __future__ import annotations

import hashlib
import math
import platform
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import __version__
from .config import ModelConfig, check_section
from .data.images import ImagePreprocessor, check_image_dict, image_rows, is_image_preprocessing
from .data.labels import LabelEncoding, label_key
from .data.preprocess import Preprocessor
from .engine.inference import predict_logits
from .errors import ConfigError, DataError, ModelFileError
from .evaluate import compute_metrics
from .files import atomic_write, clean_for_json, read_json, read_safetensors_header, write_json
from .models import PiecewiseLinear, make_model
from .tasks import TASK_NAMES, Task, get_task

FORMAT = "torchclassify-model"
FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
MODEL_JSON = "model.json"
# Files that may hold a pickle: never loaded, and their presence beside the model means tampering.
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin", ".joblib", ".npy", ".npz")


@dataclass
class TrainedClassifier:
    """Everything needed to predict on raw rows.

    model: maps (n, n_inputs) float32 to (n, n_outputs) logits.
    preprocessor: raw columns -> (n, n_inputs), fitted on the training split (images: an
    ImagePreprocessor, and X may also be a list of image files and folders).
    labels: the classes (or label names) in output order.
    """

    model: nn.Module
    task_name: str
    preprocessor: Preprocessor
    labels: LabelEncoding
    model_config: ModelConfig
    threshold: float | list[float] = 0.5  # binary; multilabel: one float, or one per label
    info: dict = field(default_factory=dict)  # data summary, run notes; saved in model.json

    @property
    def task(self) -> Task:
        return get_task(self.task_name)

    @property
    def classes(self) -> list:
        return list(self.labels.classes)

    @property
    def feature_columns(self) -> list[str]:
        return self.preprocessor.input_columns

    def _frame(self, X) -> pd.DataFrame:
        """Accept a DataFrame, a dict of columns, or a 2-D array in training column order.

        Column names are matched as text, as training stored them: a frame with integer or tuple names
        (pd.DataFrame(ndarray)) predicts as it trained (columns 0, 1 were stored as "0", "1")."""
        if isinstance(X, dict):
            X = pd.DataFrame(X)
        if isinstance(self.preprocessor, ImagePreprocessor) and isinstance(X, (str, Path, list, tuple)):
            return image_rows([X] if isinstance(X, (str, Path)) else X, self.preprocessor.column)
        if isinstance(X, pd.DataFrame):
            if all(isinstance(c, str) for c in X.columns):
                return X
            names = [str(c) for c in X.columns]
            if len(set(names)) != len(names):
                raise DataError("the rows have column names that are equal as text (e.g. 1 and '1'): rename them")
            return X.set_axis(names, axis=1)
        columns = getattr(self.preprocessor, "array_columns", self.feature_columns)
        if columns is None:
            raise DataError("this model file does not record its columns' order, so rows given as an array are "
                            f"ambiguous: pass a DataFrame with the columns {', '.join(self.feature_columns[:6])}...")
        array = np.asarray(X)
        if array.ndim != 2 or array.shape[1] != len(columns):
            raise DataError(f"expected rows with {len(columns)} columns in the training table's order "
                            f"({', '.join(columns[:6])}...), got an array of shape {array.shape}")
        return pd.DataFrame(array, columns=columns)

    def transform(self, X) -> torch.Tensor:
        """Raw rows -> (n, n_inputs) float32 tensor on the model's device."""
        device = next(self.model.parameters()).device
        return torch.from_numpy(self.preprocessor.transform(self._frame(X))).to(device)

    def predict_logits(self, X) -> torch.Tensor:
        """Raw rows -> logits (binary (n,), otherwise (n, n_outputs)) on the CPU."""
        return self.task.squeeze_logits(predict_logits(self.model, self.transform(X))).cpu()

    def predict_proba_tensor(self, X) -> torch.Tensor:
        """Raw rows -> probabilities: binary (n,) P(positive), otherwise (n, n_classes)."""
        return self.proba_of_features(self.transform(X))

    def proba_of_features(self, features: torch.Tensor) -> torch.Tensor:
        """predict_proba_tensor for rows already preprocessed (n, n_inputs) on the model's device."""
        y_proba = self.task.to_proba(self.task.squeeze_logits(predict_logits(self.model, features)).cpu())
        if not bool(torch.isfinite(y_proba).all()):  # never handed on: a NaN probability is no prediction
            rows = torch.nonzero(~torch.isfinite(y_proba.reshape(len(y_proba), -1)).all(1)).flatten()[:5].tolist()
            raise DataError(f"the model gave no finite probability for row(s) {rows}: check their values")
        return y_proba

    def predict_proba(self, X) -> pd.DataFrame:
        """Raw rows -> a DataFrame of probabilities, one column per class (binary: both classes).

        Values that are not numbers (or dates) in numeric (or date) columns are treated as missing, with a
        warning naming the columns; see `unusable_values`.
        """
        self._warn_unusable(X)
        return self.proba_frame(self.predict_proba_tensor(X))

    def predict(self, X):
        """Raw rows -> original labels: (n,) array, or for multilabel an (n, L) 0/1 DataFrame."""
        self._warn_unusable(X)
        return self.labels_from_proba(self.predict_proba_tensor(X))

    def unusable_values(self, X) -> dict[str, int]:
        """{column: count} of values the model cannot use as they are (text in a numeric column, +-inf,
        a value that is not a date in a date column): they are treated as missing."""
        return self.preprocessor.invalid_values(self._frame(X))

    def _warn_unusable(self, X) -> None:
        """The CLI's predict warnings, for the library: unusable numbers or dates, and category values never
        seen in training (read as the "other" category)."""
        frame = self._frame(X)
        bad = self.preprocessor.invalid_values(frame)
        if bad:
            shown = ", ".join(f"{c}: {n}" for c, n in list(bad.items())[:8])
            warnings.warn(f"{sum(bad.values())} value(s) are not usable numbers or dates ({shown}); they were "
                          "treated as missing", stacklevel=3)
        find_unseen = getattr(self.preprocessor, "unseen_categories", None)  # (not for images)
        unseen = find_unseen(frame) if find_unseen else {}
        if unseen:
            warnings.warn(f"{describe_unseen(unseen)}: check their spelling, or retrain with rows that hold them",
                          stacklevel=3)

    def proba_frame(self, y_proba: torch.Tensor) -> pd.DataFrame:
        """predict_proba_tensor's output -> one probability column per class (binary: both classes)."""
        y_proba = y_proba.numpy()
        if y_proba.ndim == 1:  # binary: P(negative), P(positive)
            y_proba = np.column_stack([1.0 - y_proba, y_proba])
        return pd.DataFrame(y_proba, columns=[str(c) for c in self.classes])

    def labels_from_proba(self, y_proba: torch.Tensor):
        """predict_proba_tensor's output -> original labels, as `predict` returns them (one forward pass
        serves both when a caller wants labels and probabilities)."""
        codes = self.task.to_labels(y_proba, self.threshold_tensor()).numpy()
        if self.labels.multilabel:
            return pd.DataFrame(codes, columns=self.classes)
        return self.labels.decode(codes)

    def threshold_tensor(self) -> float | torch.Tensor:
        """The threshold as Task.to_labels takes it: a float, or an (L,) tensor of per-label thresholds."""
        return torch.tensor(self.threshold) if isinstance(self.threshold, list) else self.threshold

    def encode_targets(self, y) -> np.ndarray:
        """Raw targets (Series, DataFrame, list, array or tensor of labels; for multilabel (n, L) 0/1 in the
        classes' order) -> (n,) int64 class indices or (n, L) float32 0/1. A model wrapped by
        plots.classifier_from_model takes the codes themselves."""
        if isinstance(y, torch.Tensor):
            y = y.detach().cpu().numpy()
        if self.info.get("wrapped_model"):
            y = np.asarray(y)
            return y.astype(np.float32) if self.labels.multilabel else y.astype(np.int64)
        if isinstance(y, pd.Series):
            y = y.to_frame()
        elif not isinstance(y, pd.DataFrame):
            y, multilabel = np.asarray(y), self.labels.multilabel
            if y.ndim == 2 and y.shape[1] == 1 and not multilabel:
                y = y[:, 0]  # labels as an (n, 1) column
            if multilabel and y.ndim == 2 and y.shape[1] == len(self.classes):
                y = pd.DataFrame(y, columns=self.classes)
            elif not multilabel and y.ndim == 1:
                y = pd.DataFrame({"target": y})
            else:
                raise DataError(f"targets of shape {y.shape} do not fit this model: give " + (
                    f"one 0/1 column per label, in the order {self.classes[:10]}" if multilabel else "one label per row"))
        return self.labels.encode(y)

    def evaluate(self, X, y) -> dict:
        """Metrics of the predictions on raw rows X against raw targets y (see encode_targets)."""
        y_true = torch.as_tensor(self.encode_targets(y))
        return compute_metrics(self.task, self.predict_proba_tensor(X), y_true, self.classes, self.threshold)

    def save(self, folder) -> None:
        """Write model.safetensors and model.json into `folder`, made if missing (see save_model)."""
        save_model(self, folder)

    def export_onnx(self, path) -> Path:
        """Write one ONNX file that serves this classifier on raw columns (export/onnx.py); returns the path."""
        from .export.onnx import to_onnx

        return to_onnx(self, path)

    @classmethod
    def load(cls, folder, trust_custom_model: bool = False) -> "TrainedClassifier":
        """Read a model or run folder (see load_model)."""
        return load_model(folder, trust_custom_model)


# ------------------------------------------------------------------------------------------ the files


def versions() -> dict[str, str]:
    return {"torchclassify": __version__, "torch": torch.__version__, "python": platform.python_version()}


def describe_unseen(unseen: dict[str, dict[str, int]], show=lambda value: repr(value[:30])) -> str:
    """Preprocessor.unseen_categories' {column: {value: rows}} in words: how many values were read as the
    "other" category, naming a few per column (show: how a value is written; the CLI escapes it)."""
    shown = "; ".join(f"{column}: " + ", ".join(show(v) for v in list(values)[:3]) + (", ..." if len(values) > 3 else "")
                      for column, values in list(unseen.items())[:4])
    total = sum(sum(values.values()) for values in unseen.values())
    return f"{total} value(s) never seen in training were read as the 'other' category ({shown})"


def save_model(classifier: TrainedClassifier, folder) -> None:
    """Write model.safetensors (weights only) and model.json (everything else) into `folder`, made if missing.
    Each file is written whole or not at all (atomic_write); model.json, written last, holds the weights'
    sha256, so a save stopped between the two files (new weights beside an older model.json) is refused on load."""
    from safetensors.torch import save

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)  # (a file of that name: FileExistsError says so)
    weights = save({k: v.detach().cpu().contiguous() for k, v in classifier.model.state_dict().items()})
    atomic_write(folder / WEIGHTS, weights)
    write_json(folder / MODEL_JSON, clean_for_json({
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "task": classifier.task_name,
        "n_inputs": classifier.preprocessor.n_features_out,
        "n_outputs": classifier.task.n_outputs(classifier.labels.n_classes),
        "model": asdict(classifier.model_config),
        "labels": classifier.labels.to_dict(),
        "threshold": classifier.threshold,
        "preprocessing": classifier.preprocessor.to_dict(),
        "info": classifier.info,
        "versions": versions(),
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
    }))


def load_model(folder, trust_custom_model: bool = False) -> TrainedClassifier:
    """Load a TrainedClassifier from a run or model folder, without unpickling anything.

    trust_custom_model: allow importing the user's own nn.Module class named in model.json.
    Raises ModelFileError for a missing, corrupted, tampered or incompatible folder.
    """
    from safetensors.torch import load_file

    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFileError(f"model folder not found: {folder} - give the --out folder of a training run")
    planted = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
    if planted:
        raise ModelFileError(f"{folder} contains {', '.join(planted)}: pickle-based files are never loaded, and "
                             "their presence means the folder was tampered with - remove them or re-save the model")
    raw = read_model_json(folder)
    try:
        model_config = ModelConfig(**raw["model"])
        check_section(model_config)
    except (TypeError, ConfigError) as err:
        raise ModelFileError(f"{folder / MODEL_JSON} has an invalid model section: {err}") from None
    header = read_safetensors_header(folder / WEIGHTS, ModelFileError)
    images = is_image_preprocessing(raw["preprocessing"])
    try:  # (read before the network: its number inputs size a tabular model's piecewise members)
        preprocessor = (ImagePreprocessor if images else Preprocessor).from_dict(raw["preprocessing"])
    except Exception as err:
        raise ModelFileError(f"{folder / MODEL_JSON} has invalid preprocessing: {type(err).__name__}: "
                             f"{str(err)[:200]}") from None
    shape = preprocessor.image_shape if images else None
    numbers = [] if images else preprocessor.number_inputs
    build = dict(allow_custom=trust_custom_model, image_shape=shape, numbers=numbers)
    try:
        with torch.device("meta"):  # shapes only: nothing is allocated until the file is known to match
            skeleton = make_model(model_config, raw["n_inputs"], raw["n_outputs"], **build)
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
        model = make_model(model_config, raw["n_inputs"], raw["n_outputs"], **build)
        model.load_state_dict(state, strict=True)
        labels = LabelEncoding.from_dict(raw["labels"])
    except Exception as err:  # safetensors/torch raise assorted types on a corrupt payload
        raise ModelFileError(f"cannot load {folder}: {type(err).__name__}: {str(err)[:200]}") from None
    if preprocessor.n_features_out != raw["n_inputs"]:
        raise ModelFileError(f"{folder / MODEL_JSON}: preprocessing yields {preprocessor.n_features_out} features "
                             f"but the network takes {raw['n_inputs']}")
    # Inputs a piecewise member reads are indices taken from the weights file: anything but the number inputs
    # would index past the rows (a raw IndexError at predict time) or read the wrong columns.
    if any(not torch.equal(m.columns, torch.as_tensor(numbers, dtype=torch.int64))
           for m in model.modules() if isinstance(m, PiecewiseLinear)):
        raise ModelFileError(f"{folder / WEIGHTS}: its piecewise members read other inputs than the number columns "
                             f"of {MODEL_JSON}: the files are from different models or tampered with")
    # Last, so that the checks above still name what is wrong with a tampered file; models saved before have none.
    if "weights_sha256" in raw and _sha256(folder / WEIGHTS) != raw["weights_sha256"]:
        raise ModelFileError(f"{folder / WEIGHTS} is not the file {MODEL_JSON} was saved with (a save was stopped "
                             "between the two files, or they were mixed or edited): save the model again")
    model.eval()
    info = raw.get("info") if isinstance(raw.get("info"), dict) else {}
    threshold = raw["threshold"]
    threshold = [float(t) for t in threshold] if isinstance(threshold, list) else float(threshold)
    return TrainedClassifier(model, raw["task"], preprocessor, labels, model_config, threshold, info)


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:  # (in blocks: a model's bytes are not held twice)
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _require(condition: bool, folder: Path, what: str) -> None:
    if not condition:
        raise ModelFileError(f"{folder / MODEL_JSON} is invalid: {what} - re-save the model with torchclassify")


def _finite_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_model_json(folder: Path) -> dict:
    """Parse and type-check model.json; every problem is a one-line ModelFileError."""
    path = folder / MODEL_JSON
    if not path.exists() and not path.is_symlink():
        raise ModelFileError(f"{folder} is not a torchclassify model folder: {MODEL_JSON} is missing")
    raw = read_json(path, ModelFileError)
    _require(isinstance(raw, dict) and raw.get("format") == FORMAT, folder, "not a torchclassify model file")
    _require(raw.get("format_version") == FORMAT_VERSION, folder,
             f"format_version {raw.get('format_version')!r} is not supported (this torchclassify reads {FORMAT_VERSION})")
    _require(raw.get("task") in TASK_NAMES, folder, "task must be binary, multiclass or multilabel")
    for key in ("n_inputs", "n_outputs"):
        value = raw.get(key)
        _require(isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 10**6, folder,
                 f"{key} must be a whole number in [1, 10^6]")
    threshold = raw.get("threshold")
    if isinstance(threshold, list):  # multilabel: one per label
        _require(raw["task"] == "multilabel" and len(threshold) == raw["n_outputs"]
                 and all(_finite_number(t) and 0 < t < 1 for t in threshold), folder,
                 "threshold must be one number in (0, 1) per label")
    else:
        _require(_finite_number(threshold) and 0 < threshold < 1, folder, "threshold must be a number in (0, 1)")
    labels = raw.get("labels")
    _require(isinstance(labels, dict) and isinstance(labels.get("classes"), list)
             and isinstance(labels.get("multilabel"), bool), folder, "labels must list the classes")
    classes = labels["classes"]
    _require(all(isinstance(c, (str, int, float, bool)) for c in classes), folder, "classes must be strings or numbers")
    _require(len({label_key(c) for c in classes}) == len(classes), folder,
             "classes must be distinct (a label named twice would make its predictions ambiguous)")
    expected = {"binary": (2, 1), "multiclass": (raw["n_outputs"], raw["n_outputs"]),
                "multilabel": (raw["n_outputs"], raw["n_outputs"])}[raw["task"]]
    _require(labels["multilabel"] == (raw["task"] == "multilabel"), folder, "labels.multilabel contradicts the task")
    _require(len(classes) == expected[0] and raw["n_outputs"] == expected[1]
             and len(classes) >= (1 if labels["multilabel"] else 2), folder,
             f"{len(classes)} classes do not fit a {raw['task']} network with {raw['n_outputs']} output(s)")
    _require(isinstance(raw.get("model"), dict), folder, "model must be an object")
    digest = raw.get("weights_sha256", "0" * 64)
    _require(isinstance(digest, str) and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest), folder,
             "weights_sha256 must be 64 lowercase hex digits")
    pre = raw.get("preprocessing")
    if is_image_preprocessing(pre):
        problem = check_image_dict(pre)
        _require(problem is None, folder, problem)
        return raw
    _require(isinstance(pre, dict) and isinstance(pre.get("numeric"), list) and isinstance(pre.get("categorical"), list)
             and isinstance(pre.get("max_categories"), int), folder, "preprocessing is malformed")
    for col in pre["numeric"]:
        _require(isinstance(col, dict) and isinstance(col.get("name"), str)
                 and all(_finite_number(col.get(k)) for k in ("median", "mean", "std"))
                 and isinstance(col.get("indicator"), bool), folder,
                 "a numeric column entry is malformed (median, mean and std must be finite numbers)")
        _require(col["std"] > 0, folder, f"column {col['name']!r} has a scale of {col['std']}: it must be above 0")
    for col in pre["categorical"]:
        _require(isinstance(col, dict) and isinstance(col.get("name"), str) and isinstance(col.get("categories"), list)
                 and all(isinstance(c, str) for c in col["categories"]), folder, "a categorical column entry is malformed")
    for col in pre.get("text", []):
        _require(isinstance(col, dict) and isinstance(col.get("name"), str) and isinstance(col.get("vocabulary"), list)
                 and isinstance(col.get("idf"), list) and len(col["vocabulary"]) == len(col["idf"])
                 and all(isinstance(t, str) for t in col["vocabulary"]) and all(_finite_number(v) for v in col["idf"]),
                 folder, "a text column entry is malformed")
    for col in pre.get("dates", []):
        _require(isinstance(col, dict) and isinstance(col.get("name"), str) and isinstance(col.get("format"), str)
                 and isinstance(col.get("start"), str) and isinstance(col.get("parts"), list)
                 and isinstance(col.get("local", False), bool)
                 and all(isinstance(p, dict) and all(_finite_number(p.get(k)) for k in ("median", "mean", "std"))
                         and p.get("std", 0) > 0 for p in col["parts"]), folder, "a date column entry is malformed")
    return raw
