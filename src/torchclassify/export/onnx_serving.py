"""Serving an exported ONNX file with onnxruntime, its inputs checked: `OnnxClassifier`.

onnxruntime alone runs the file (README: five lines), but answers a missing column or a wrong type with a
C++ message; this wrapper checks the file's metadata and every input first, and answers in one line.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.preprocess import MISSING
from ..errors import DataError, ModelFileError
from ..files import read_bytes
from ..tasks import TASK_NAMES
from . import OUTPUTS, require
from .onnx import FORMAT, FORMAT_VERSION

MAX_BYTES = 2 * 1024**3  # protobuf's own limit for one file
CLASS_TYPES = (str, int, float, bool)  # what a class is in JSON, short of null, lists and objects
INPUT_DTYPES = {"number": np.float64, "category": np.object_}
ORT_TYPES = {"number": "tensor(double)", "category": "tensor(string)"}


class OnnxClassifier:
    """An exported ONNX file, read back: `predict` / `predict_proba` on raw rows, as TrainedClassifier's.

    path: the .onnx file. Raises ModelFileError for a file that is not a torchclassify ONNX export.
    """

    def __init__(self, path):
        require("onnxruntime", "onnx")
        import onnx
        import onnxruntime

        self.path = path = Path(path)
        payload = read_bytes(path, MAX_BYTES, ModelFileError, "ONNX file")
        try:  # onnx.load_from_string reads the bytes only: it never follows a tensor's external data
            model = onnx.load_from_string(payload)
        except Exception as err:  # protobuf's DecodeError, or onnx's own for an unknown format
            raise ModelFileError(f"{path} is not a readable ONNX file ({' '.join(str(err).split())[:160]}): "
                                 "export it again") from None
        external = external_tensor(model)
        if external is not None:  # onnxruntime would read it from the current directory: refuse before it does
            raise ModelFileError(f"{path}: tensor {external[:80]!r} is stored in an external file, which a "
                                 "torchclassify export never does - the file was altered or is not one")
        declared = {o.name: declared_shape(o) for o in model.graph.output}
        del model
        try:
            self.session = onnxruntime.InferenceSession(payload, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own types for a corrupt or hostile graph
            raise ModelFileError(f"{path} is not a readable ONNX file ({' '.join(str(err).split())[:160]}): "
                                 "export it again") from None
        raw = self.session.get_modelmeta().custom_metadata_map.get("torchclassify")
        try:
            meta = json.loads(raw) if raw is not None and len(raw) < 10_000_000 else None
        except ValueError:
            meta = None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
            raise ModelFileError(f"{path} is not an ONNX file written by torchclassify export (format "
                                 f"{FORMAT} {FORMAT_VERSION}): export the run again")
        inputs, classes = meta.get("inputs"), meta.get("classes")
        if not (meta.get("task") in TASK_NAMES and isinstance(classes, list) and classes
                and all(isinstance(c, CLASS_TYPES) for c in classes)
                and isinstance(inputs, dict) and inputs and all(kind in ORT_TYPES for kind in inputs.values())):
            raise ModelFileError(f"{path}: the torchclassify metadata is malformed - the file was altered")
        self.task_name, self.classes, self.threshold = meta["task"], list(classes), meta.get("threshold")
        self.inputs = dict(meta["inputs"])  # {column: "number" | "category"}
        found = {i.name: i.type for i in self.session.get_inputs()}
        outputs = {o.name: o.shape for o in self.session.get_outputs()}
        if found != {name: ORT_TYPES.get(kind) for name, kind in self.inputs.items()} or set(outputs) != set(OUTPUTS):
            raise ModelFileError(f"{path}: the graph's inputs or outputs do not match its metadata - the file was "
                                 "altered")
        # (n, C), binary too (onnx_graph.add_head): as the file declares it and as onnxruntime infers it (which
        # may overrule the declaration); a dimension may be a name or unknown, checked after each run instead
        for shape in (declared.get("probabilities"), outputs["probabilities"]):
            width = shape[1] if isinstance(shape, list) and len(shape) == 2 else None
            if (isinstance(shape, list) and len(shape) not in (0, 2)) or (isinstance(width, int)
                                                                          and width != len(classes)):
                raise ModelFileError(f"{path}: the graph's probabilities have the shape {shape}, not (n, "
                                     f"{len(classes)}) for the {len(classes)} classes of its metadata - the file was "
                                     "altered")

    @property
    def feature_columns(self) -> list[str]:
        return list(self.inputs)

    def feeds(self, X) -> dict[str, np.ndarray]:
        """Raw rows (DataFrame or dict of columns) -> onnxruntime's inputs: (n, 1) double for numbers
        (anything that is not a number becomes missing), (n, 1) text for categories (missing: "__missing__")."""
        X = pd.DataFrame(X) if isinstance(X, dict) else X
        if not isinstance(X, pd.DataFrame):
            raise DataError(f"expected a DataFrame or a dict of columns, got {type(X).__name__}")
        missing = [c for c in self.inputs if c not in X.columns]
        if missing:
            shown = ", ".join(map(repr, missing[:8]))
            raise DataError(f"the rows lack {len(missing)} column(s) the model reads: {shown}")
        feeds = {}
        for name, kind in self.inputs.items():
            column = X[name]
            if kind == "number":
                values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            else:
                values = column.astype(object).where(column.notna(), MISSING).map(str).to_numpy(dtype=object)
            feeds[name] = values.reshape(-1, 1)
        return feeds

    def check_feeds(self, feeds: dict) -> None:
        """DataError (one line) unless `feeds` are exactly the inputs, each (n, 1) of its type, n alike."""
        if not isinstance(feeds, dict) or set(feeds) != set(self.inputs):
            names = sorted(map(str, feeds)) if isinstance(feeds, dict) else type(feeds).__name__
            raise DataError(f"the ONNX model takes the inputs {self.feature_columns}, got {names}")
        lengths = set()
        for name, kind in self.inputs.items():
            value = feeds[name]
            if not isinstance(value, np.ndarray) or value.ndim != 2 or value.shape[1] != 1:
                raise DataError(f"input {name!r} must be an (n, 1) numpy array, got {getattr(value, 'shape', value)!r}")
            if value.dtype != INPUT_DTYPES[kind]:
                want = "float64 numbers" if kind == "number" else "text (dtype object)"
                raise DataError(f"input {name!r} must hold {want}, got dtype {value.dtype}")
            if kind == "category" and not all(isinstance(v, str) for v in value.ravel()):
                raise DataError(f"input {name!r} must hold text only (write a missing value as {MISSING!r})")
            lengths.add(len(value))
        if len(lengths) > 1:
            raise DataError(f"the inputs have different numbers of rows: {sorted(lengths)}")

    def run(self, feeds: dict) -> tuple[np.ndarray, np.ndarray]:
        """Checked feeds -> (labels (n,) or multilabel (n, L) 0/1, probabilities (n, C) float32)."""
        self.check_feeds(feeds)
        if not len(next(iter(feeds.values()))):
            return np.empty(0, dtype=object), np.empty((0, len(self.classes)), np.float32)
        try:
            label, proba = self.session.run(list(OUTPUTS), feeds)
        except Exception as err:  # the inputs were checked: a failure is the graph's (a shape error, a huge tensor)
            message = " ".join(str(err).split())[:160]
            raise ModelFileError(f"{self.path}: onnxruntime could not run the graph ({type(err).__name__}: "
                                 f"{message}) - export the run again") from None
        n, width = len(next(iter(feeds.values()))), len(self.classes)
        want_label = (n, width) if self.task_name == "multilabel" else (n,)
        if (getattr(proba, "shape", None) != (n, width) or getattr(label, "shape", None) != want_label
                or not np.issubdtype(proba.dtype, np.floating)):
            raise ModelFileError(f"{self.path}: the graph returned probabilities of shape {getattr(proba, 'shape', '?')}"
                                 f" and labels of shape {getattr(label, 'shape', '?')} for {n} rows, not {(n, width)}"
                                 f" and {want_label} - the file was altered")
        return label, proba

    def predict(self, X):
        """Raw rows -> labels: (n,) array of the classes, or for multilabel an (n, L) 0/1 DataFrame."""
        label, _ = self.run(self.feeds(X))
        if self.task_name == "multilabel":
            return pd.DataFrame(label, columns=self.classes)
        lookup = {str(c): c for c in self.classes}  # the graph returns text labels; give back the originals
        return np.array([lookup.get(str(v), v) for v in label.tolist()], dtype=object)

    def predict_proba(self, X) -> pd.DataFrame:
        """Raw rows -> one probability column per class (binary: both classes)."""
        return pd.DataFrame(self.run(self.feeds(X))[1], columns=[str(c) for c in self.classes])


def declared_shape(value_info) -> list | None:
    """A graph output's declared shape: [int or name or None per dimension], None when it declares none."""
    tensor = value_info.type.tensor_type
    if not tensor.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tensor.shape.dim]


def external_tensor(model) -> str | None:
    """The name of the first tensor in `model` whose data lives in an external file, None when all are inline.

    Walks every message of the model (initializers, sparse ones, node attributes, subgraphs of If / Loop /
    Scan at any depth, functions), not only the places onnx.external_data_helper looks; an explicit stack,
    so deep nesting is no RecursionError."""
    from onnx import TensorProto

    stack = [model]
    while stack:
        message = stack.pop()
        if isinstance(message, TensorProto):
            if message.data_location == TensorProto.EXTERNAL or len(message.external_data):
                return message.name or "(unnamed)"
            continue
        for field, value in message.ListFields():
            if field.type == field.TYPE_MESSAGE:  # one message, or a repeated field of them
                if hasattr(value, "ListFields"):
                    stack.append(value)
                else:
                    stack.extend(value)
    return None
