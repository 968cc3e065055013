"""A trained classifier written for use without torchclassify: one ONNX file on raw columns (`onnx`), a
`torch.export` program of the network beside its preprocessing as JSON (`torch_program`). (The plain training
script that reproduces a run is `eject.py`, a floor up: it reads run folders; this package's template is its.)

Nothing here imports the classifier or run folders, and the library imports it only in
`TrainedClassifier.export_onnx`; onnx, onnxruntime and onnxscript (the `export` extra) are
imported only when an ONNX file is written or read (`require`).
"""

from __future__ import annotations

import importlib

from ..errors import ConfigError

OUTPUTS = ("label", "probabilities")  # an exported ONNX graph's outputs, by name
# What `--format onnx` imports, and the pip package of each.
ONNX_PACKAGES = {"onnx": "onnx", "onnxruntime": "onnxruntime", "onnxscript": "onnxscript"}


def require(*modules: str) -> None:
    """Import the ONNX libraries named; a one-line ConfigError naming the `export` extra when one is missing."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            raise ConfigError(f"ONNX export needs the {ONNX_PACKAGES[module]} package, which is not installed: "
                              "pip install 'torchclassify[export]'") from None
