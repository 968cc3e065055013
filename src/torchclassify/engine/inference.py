"""Inference: a model's outputs for rows already turned into features, in eval mode and large batches."""

from __future__ import annotations

import torch
from torch import nn


@torch.inference_mode()
def predict_logits(model: nn.Module, X: torch.Tensor, batch_size: int = 65536) -> torch.Tensor:
    """Model outputs (n, n_outputs) for X (n, n_features); the model's train/eval mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        if X.shape[0] <= batch_size:
            return model(X)  # the common case: one pass, no concatenation copy
        return torch.cat([model(X[i:i + batch_size]) for i in range(0, X.shape[0], batch_size)])
    finally:
        model.train(was_training)
