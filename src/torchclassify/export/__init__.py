"""A trained classifier written for use without torchclassify: one ONNX file on raw columns (`onnx`), a
`torch.export` program of the network beside its preprocessing as JSON (`torch_program`), or a plain training
script that reproduces the run (`script`).

Nothing here is imported by the rest of the library; onnx, onnxruntime and onnxscript (the `export` extra) are
imported only when an ONNX file is written or read (`require`).
"""

from __future__ import annotations

import importlib

from ..errors import ConfigError

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
