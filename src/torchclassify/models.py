"""Networks built from a ModelConfig: an MLP (no hidden layers = a linear model), the small CNN of image data
(models_cnn.py) or the user's nn.Module.

Every model maps (n_samples, n_features) float32 to (n_samples, n_outputs) logits; no softmax or sigmoid.
"""

from __future__ import annotations

import importlib
import inspect

import torch
from torch import nn

from .config import ModelConfig
from .errors import ConfigError
from .models_cnn import SmallCNN

ACTIVATION_LAYERS = {
    "relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU, "elu": nn.ELU, "sigmoid": nn.Sigmoid,
}


class MLP(nn.Module):
    """Linear -> [norm] -> activation -> [dropout], repeated per hidden width, then a Linear head.

    hidden=[] gives logistic/softmax regression: a single Linear(n_features, n_outputs).
    """

    def __init__(self, n_features: int, n_outputs: int, hidden: list[int] = (), activation: str = "relu",
                 dropout: float = 0.0, norm: str = "none"):
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for size in hidden:
            layers.append(nn.Linear(width, size))
            if norm == "batch":
                layers.append(nn.BatchNorm1d(size))
            elif norm == "layer":
                layers.append(nn.LayerNorm(size))
            layers.append(ACTIVATION_LAYERS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, n_outputs))
        self.layers = nn.Sequential(*layers)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.layers(X)  # (n, n_features) -> (n, n_outputs) logits


def make_model(config: ModelConfig, n_features: int, n_outputs: int, allow_custom: bool = True,
               image_shape: tuple[int, int, int] | None = None) -> nn.Module:
    """Build the network for n_features inputs and n_outputs logits.

    image_shape: (C, H, W) when the inputs are images (n_features = C*H*W, flat): the small CNN with
    config.conv's widths, or the MLP on the pixels for conv=[].
    A custom class ("package.module:ClassName") is imported and called as Class(n_features=, n_outputs=),
    plus image_shape= for images when its __init__ takes it; it receives the flat rows either way.
    allow_custom=False refuses it: importing a module runs its code, so a loaded model file may only name
    one when the user has said they trust it.
    """
    if config.custom:
        if not allow_custom:
            raise ConfigError(f"this model uses the custom class {config.custom!r}; importing it runs code, so "
                              "pass trust_custom_model=True (CLI: --trust-custom-model) if you trust it")
        klass = _import_custom(config.custom)
        if image_shape is not None and "image_shape" in inspect.signature(klass).parameters:
            return klass(n_features=n_features, n_outputs=n_outputs, image_shape=tuple(image_shape))
        return klass(n_features=n_features, n_outputs=n_outputs)
    if image_shape is not None and config.conv:
        return SmallCNN(image_shape, n_outputs, list(config.conv), config.dropout)
    return MLP(n_features, n_outputs, list(config.hidden), config.activation, config.dropout, config.norm)


def _import_custom(spec: str) -> type[nn.Module]:
    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name:
        raise ConfigError(f"--model {spec!r} must look like package.module:ClassName")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(f"cannot import {module_name!r} for --model ({err}); is it on PYTHONPATH?") from None
    klass = getattr(module, class_name, None)
    if not (isinstance(klass, type) and issubclass(klass, nn.Module)):
        raise ConfigError(f"{spec!r} is not an nn.Module class")
    return klass


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def summarize(model: nn.Module) -> list[dict]:
    """One row per leaf layer: name, type, output shape note and parameter count."""
    rows = []
    for name, module in model.named_modules():
        if list(module.children()):
            continue  # containers: their leaves are listed
        params = sum(p.numel() for p in module.parameters(recurse=False))
        rows.append({"layer": name or type(module).__name__, "type": type(module).__name__,
                     "details": module.extra_repr(), "parameters": params})
    return rows
