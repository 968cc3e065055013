"""The ONNX nodes around the network: the fitted preprocessing (raw columns -> features) and the task's head
(logits -> labels and probabilities), built from the Preprocessor's JSON state.

One function per column kind (`COLUMN_KINDS`): a new kind of column in data/preprocess.py is one more entry
here, and until it has one, `export` refuses it by name. Each function checks the fields of the fitted state
it reads, so a changed recipe (a new clipping bound, say) is refused rather than silently exported wrong.
Numbers arrive as double (n, 1) tensors, NaN for missing; categories as string (n, 1) tensors.

Free text is refused, not approximated: ONNX has no tokenizer in its standard set, onnxruntime's contrib
Tokenizer finds word characters in ASCII only ("héllo" -> "llo", where scikit-learn keeps "héllo"), and
StringNormalizer lowercases by the serving machine's locale. Dates arrive as text, which no ONNX operator
parses.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from ..data.images import is_image_preprocessing
from ..data.numbers import SCALED_LIMIT, NumericColumn
from ..data.preprocess import CategoricalColumn, Preprocessor
from ..errors import ConfigError
from . import OUTPUTS

ML_DOMAIN = "ai.onnx.ml"
ML_OPSET = 3
FEATURES = "tc/features"  # (n, n_features) float32, the network's input
LOGITS = "tc/logits"  # (n, n_outputs) float32, the network's output
# Beyond this magnitude a number is missing, as data/numbers.as_float reads it.
TOO_LARGE = 1e150


class Graph:
    """Nodes, constants, inputs and outputs collected while the columns are built; names are made unique."""

    def __init__(self):
        self.nodes, self.initializers, self.inputs, self.outputs = [], [], [], []
        self._ids = itertools.count()

    def name(self, hint: str) -> str:
        return f"tc/{hint}/{next(self._ids)}"

    def const(self, hint: str, value: np.ndarray) -> str:
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str = "", output: str | None = None, **attrs) -> str:
        output = output or self.name(hint or op_type.lower())
        domain = ML_DOMAIN if op_type == "LabelEncoder" else ""
        self.nodes.append(helper.make_node(op_type, inputs, [output], domain=domain, **attrs))
        return output


def _check_fields(column, known: tuple[str, ...], kind: str) -> None:
    fields = tuple(f.name for f in dataclasses.fields(column))
    if fields != known:
        raise ConfigError(f"column {column.name!r}: the {kind} preprocessing now has the fields {fields}, which "
                          "the ONNX export does not know - export --format torch (preprocessing as JSON) instead")


def numeric_column(g: Graph, col: NumericColumn, x: str) -> list[str]:
    """x (n, 1) double -> [scaled (n, 1) float] (+ [was missing (n, 1) float]), as data/numbers.put_numeric."""
    _check_fields(col, ("name", "median", "mean", "std", "indicator", "log_scale"), "numeric")
    magnitude = g.op("Abs", [x])
    is_nan = g.op("IsNaN", [x])
    too_large = g.op("Greater", [magnitude, g.const("too_large", np.array(TOO_LARGE))])  # +-inf too
    missing = g.op("Or", [is_nan, too_large], "missing")
    if col.log_scale is not None:  # sign(x) log(1 + |x| / s), as numbers.log_values
        ratio = g.op("Div", [magnitude, g.const("log_scale", np.array(col.log_scale))])
        logged = g.op("Log", [g.op("Add", [g.const("one", np.array(1.0)), ratio])])
        x = g.op("Mul", [g.op("Sign", [x]), logged], "logged")
    filled = g.op("Where", [missing, g.const("median", np.array(col.median)), x], "filled")
    centred = g.op("Sub", [filled, g.const("mean", np.array(col.mean))])
    scaled = g.op("Div", [centred, g.const("std", np.array(col.std))])
    clipped = g.op("Clip", [scaled, g.const("low", np.array(-SCALED_LIMIT)), g.const("high", np.array(SCALED_LIMIT))])
    blocks = [g.op("Cast", [clipped], "scaled", to=TensorProto.FLOAT)]
    if col.indicator:
        blocks.append(g.op("Cast", [missing], "was_missing", to=TensorProto.FLOAT))
    return blocks


def categorical_column(g: Graph, col: CategoricalColumn, x: str) -> list[str]:
    """x (n, 1) string -> [(n, k + 1) float one-hot], the last column for values outside the k categories.

    A missing value arrives as "__missing__", as preprocess._as_text writes it ("" is a value like any other)."""
    _check_fields(col, ("name", "categories"), "categorical")
    codes = g.op("LabelEncoder", [x], "codes", keys_strings=col.categories, values_int64s=range(len(col.categories)),
                 default_int64=len(col.categories))  # (n, 1) int64; unseen values -> the "other" column
    flat = g.op("Squeeze", [codes, g.const("axis", np.array([1], np.int64))])  # (n,)
    depth = g.const("depth", np.array([len(col.categories) + 1], np.int64))
    return [g.op("OneHot", [flat, depth, g.const("off_on", np.array([0.0, 1.0], np.float32))], "one_hot", axis=-1)]


def _refuse(kind: str, alternative: str):
    def refuse(g: Graph, col, x: str) -> list[str]:
        raise ConfigError(f"column {col.name!r} is read as {kind}, which the ONNX file cannot express: retrain "
                          f"with {alternative.format(name=col.name)}, or export --format torch")
    return refuse


# Preprocessor field -> (input type, builder), in the order Preprocessor.transform lays out the features.
COLUMN_KINDS = {
    "numeric": (TensorProto.DOUBLE, numeric_column),
    "dates": (TensorProto.STRING, _refuse("dates (parsed from text)", "--drop {name} (or --keep it as text)")),
    "categorical": (TensorProto.STRING, categorical_column),
    "text": (TensorProto.STRING, _refuse("free text (TF-IDF)", "--no-text {name} (one-hot) or --drop {name}")),
}
# Preprocessor fields that hold no input column (text_numbers: notes on numeric columns that were text in the
# CSV; the graph reads them as numbers, as it reads every numeric column).
NOT_COLUMNS = ("max_categories", "dropped", "numeric_scaling", "order", "text_numbers", "decimal")


def add_preprocessing(g: Graph, pre: Preprocessor) -> dict[str, str]:
    """Raw inputs -> FEATURES; returns {column: "number" | "category"} in input order."""
    if is_image_preprocessing(pre.to_dict()):  # an ImagePreprocessor: image paths in, no ONNX decoder
        raise ConfigError("image models cannot be exported to ONNX yet (ONNX has no operator that reads an "
                          "image file): export --format torch instead")
    unknown = [f.name for f in dataclasses.fields(pre)
               if f.name not in COLUMN_KINDS and f.name not in NOT_COLUMNS and getattr(pre, f.name)]
    if unknown:
        raise ConfigError(f"the preprocessing has column kind(s) {unknown} the ONNX export does not know: "
                          "export --format torch (preprocessing as JSON) instead")
    if pre.numeric_scaling != "standard":  # numeric_column builds (x - mean) / std only
        raise ConfigError(f"the numbers are scaled with numeric_scaling={pre.numeric_scaling!r}, which the ONNX "
                          "export does not build: retrain with --numeric-scaling standard, or export --format torch")
    blocks, kinds = [], {}
    for field_name, (dtype, build) in COLUMN_KINDS.items():
        for col in getattr(pre, field_name):
            if col.name in OUTPUTS or col.name.startswith(("tc/", "net/")):
                raise ConfigError(f"column {col.name!r} has the name of an output or inner value of the ONNX "
                                  "file: rename it")
            g.inputs.append(helper.make_tensor_value_info(col.name, dtype, ["n", 1]))
            kinds[col.name] = "number" if dtype == TensorProto.DOUBLE else "category"
            blocks += build(g, col, col.name)
    if not blocks:
        raise ConfigError("the model reads no column: there is nothing to export")
    g.op("Concat", blocks, output=FEATURES, axis=1)
    return kinds


def class_tensor(classes: list) -> np.ndarray:
    """The classes as one ONNX tensor: int64 when all are whole numbers, double for numbers, else text."""
    if all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        return np.array(classes, np.int64)
    if all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in classes):
        return np.array(classes, np.float64)
    return np.array([str(c) for c in classes], dtype=object)


def add_head(g: Graph, task_name: str, classes: list, threshold) -> None:
    """LOGITS -> "label" ((n,) class, multilabel (n, L) 0/1 int64) and "probabilities" ((n, C) float32,
    binary: both classes), as TrainedClassifier.predict and proba_frame give them."""
    if task_name == "binary":
        p = g.op("Sigmoid", [LOGITS])  # (n, 1) P(positive)
        q = g.op("Sub", [g.const("one", np.array(1.0, np.float32)), p])
        g.op("Concat", [q, p], output="probabilities", axis=1)
        positive = g.op("GreaterOrEqual", [p, g.const("threshold", np.array(threshold, np.float32))])
        index = g.op("Squeeze", [g.op("Cast", [positive], to=TensorProto.INT64), g.const("axis", np.array([1]))])
        g.op("Gather", [g.const("classes", class_tensor(classes)), index], output="label", axis=0)
    elif task_name == "multiclass":
        g.op("Softmax", [LOGITS], output="probabilities", axis=-1)
        index = g.op("ArgMax", ["probabilities"], axis=1, keepdims=0)  # first maximum, as torch.argmax
        g.op("Gather", [g.const("classes", class_tensor(classes)), index], output="label", axis=0)
    elif task_name == "multilabel":
        g.op("Sigmoid", [LOGITS], output="probabilities")
        thresholds = np.broadcast_to(np.asarray(threshold, np.float32), (len(classes),)).copy()
        on = g.op("GreaterOrEqual", ["probabilities", g.const("thresholds", thresholds)])
        g.op("Cast", [on], output="label", to=TensorProto.INT64)
    else:
        raise ConfigError(f"task {task_name!r} has no ONNX head")
    label_type = {np.dtype(np.int64): TensorProto.INT64, np.dtype(np.float64): TensorProto.DOUBLE}.get(
        class_tensor(classes).dtype, TensorProto.STRING)
    n_classes = len(classes)
    if task_name == "multilabel":
        g.outputs.append(helper.make_tensor_value_info("label", TensorProto.INT64, ["n", n_classes]))
    else:
        g.outputs.append(helper.make_tensor_value_info("label", label_type, ["n"]))
    g.outputs.append(helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["n", n_classes]))
