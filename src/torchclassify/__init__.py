"""torchclassify: from a dataset to a trustworthy, saved PyTorch classifier.

One entry point per step: `load_data`, `make_model`, `train` (the whole workflow), `load`, and
`TrainedClassifier.predict` / `.evaluate`. Heavy modules are imported on first use, so
`torchclassify --help` stays fast.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "train": ("workflow", "train"),
    "make_config": ("config", "make_config"),
    "Run": ("workflow", "Run"),
    "RunConfig": ("config", "RunConfig"),
    "DataConfig": ("config", "DataConfig"),
    "ModelConfig": ("config", "ModelConfig"),
    "TrainConfig": ("config", "TrainConfig"),
    "load_data": ("data.sources", "load_data"),
    "list_datasets": ("data.sources", "list_datasets"),
    "Dataset": ("data.sources", "Dataset"),
    "make_model": ("models", "make_model"),
    "MLP": ("models", "MLP"),
    "fit": ("engine.loop", "fit"),
    "train_step": ("engine.loop", "train_step"),
    "load": ("classifier", "load_model"),
    "TrainedClassifier": ("classifier", "TrainedClassifier"),
    "TorchClassifier": ("estimator", "TorchClassifier"),
    "TorchClassifyError": ("errors", "TorchClassifyError"),
    "DataError": ("errors", "DataError"),
    "ConfigError": ("errors", "ConfigError"),
    "ModelFileError": ("errors", "ModelFileError"),
    "TrainingError": ("errors", "TrainingError"),
}

# Submodules reachable as attributes (tc.plots.plot_decision_boundary(...)), imported on first use.
_SUBMODULES = ("plots", "report", "compare", "tune", "lr_find", "diagnose", "estimator", "evaluate", "tasks")

__all__ = sorted(_LAZY) + list(_SUBMODULES) + ["__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        module_name, attribute = _LAZY[name]
        value = getattr(importlib.import_module(f".{module_name}", __name__), attribute)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'torchclassify' has no attribute {name!r}")


def __dir__():
    return __all__
