"""One ONNX file that serves a trained classifier on raw columns: preprocessing, network and the task's head.

`to_onnx` writes it: the preprocessing and head are ONNX(-ML) nodes built from the fitted state
(export/onnx_graph.py), the network is exported from torch (`torch.onnx.export`, the dynamo exporter), and
the three are joined into one graph. The file's metadata holds the task, classes, threshold and input
columns; `OnnxClassifier` (export/onnx_serving.py) reads it back and checks rows before onnxruntime sees them.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import warnings
from pathlib import Path

import torch

from ..errors import ConfigError
from ..files import atomic_write
from . import require

FORMAT = "torchclassify-onnx"
FORMAT_VERSION = 1
OPSET = 18  # the torch exporter's; ai.onnx.ml 3 goes with it


def export_network(model: torch.nn.Module, n_inputs: int):
    """The network as an ONNX ModelProto: "features" (n, n_inputs) float32 -> "logits" (n, n_outputs)."""
    model = copy.deepcopy(model).cpu().eval()  # the caller's network stays where and as it was
    example = torch.zeros(2, n_inputs)
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    try:
        # The exporter prints its progress and logs the torchvision ops it skips: neither concerns the user.
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            quiet.setLevel(logging.ERROR)
            program = torch.onnx.export(model, (example,), input_names=["features"], output_names=["logits"],
                                        dynamic_shapes=({0: torch.export.Dim("n")},), opset_version=OPSET,
                                        dynamo=True, verbose=False)
    except Exception as err:  # the exporter raises assorted types for what it cannot trace
        raise ConfigError(f"the network cannot be exported to ONNX ({type(err).__name__}: {str(err)[:200]}); "
                          "export --format torch instead") from None
    finally:
        quiet.setLevel(level)
    return program.model_proto


def build_onnx(classifier):
    """The whole ModelProto of a TrainedClassifier: raw columns -> "label", "probabilities"."""
    require("onnx", "onnxscript")
    import onnx
    from onnx import compose, helper

    from .onnx_graph import FEATURES, LOGITS, ML_DOMAIN, ML_OPSET, Graph, add_head, add_preprocessing

    g = Graph()
    kinds = add_preprocessing(g, classifier.preprocessor)  # refuses what it cannot express, before the export
    n_preprocessing = len(g.nodes)
    add_head(g, classifier.task_name, classifier.classes, classifier.threshold)
    network = compose.add_prefix(export_network(classifier.model, classifier.preprocessor.n_features_out), "net/")
    opsets = {o.domain: o.version for o in network.opset_import}
    if opsets.get("", OPSET) != OPSET:
        raise ConfigError(f"torch exported the network at opset {opsets['']}, not {OPSET}: export --format torch")
    opsets[ML_DOMAIN] = ML_OPSET
    # Wire the network between the preprocessing and the head by name (its edges carry the "net/" prefix).
    bridge = [helper.make_node("Identity", [FEATURES], ["net/features"]),
              helper.make_node("Identity", ["net/logits"], [LOGITS])]
    nodes = g.nodes[:n_preprocessing] + bridge[:1] + list(network.graph.node) + bridge[1:] + g.nodes[n_preprocessing:]
    graph = helper.make_graph(nodes, "torchclassify", g.inputs, g.outputs,
                              initializer=g.initializers + list(network.graph.initializer),
                              value_info=list(network.graph.value_info))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets.items()],
                              ir_version=network.ir_version, functions=list(network.functions),
                              producer_name="torchclassify")
    helper.set_model_props(model, {"torchclassify": json.dumps(metadata(classifier, kinds))})
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as err:
        raise ConfigError(f"the ONNX graph does not check ({str(err)[:200]}): export --format torch") from None
    return model


def metadata(classifier, kinds: dict[str, str]) -> dict:
    """What a reader needs beside the graph: the task, the classes, the threshold and the input columns."""
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "task": classifier.task_name,
            "classes": classifier.classes, "threshold": classifier.threshold, "inputs": kinds,
            "target": classifier.info.get("target")}


def to_onnx(classifier, path) -> Path:
    """Write `classifier` as one ONNX file at `path` (atomically); returns the path.

    Raises ConfigError naming the column and the alternative for what ONNX cannot express (free text,
    dates), and naming the `export` extra when onnx, onnxscript or onnxruntime is missing.
    """
    model = build_onnx(classifier)
    return atomic_write(Path(path), model.SerializeToString())
