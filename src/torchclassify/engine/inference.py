"""Inference: a model's outputs for rows already turned into features, in eval mode, a batch at a time."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

# Rows a forward pass scores at once. The tabular recipe's embeddings hold 16 cosines per input and row, so
# a batch's temporaries grow with it: batches of this size keep them small and warm in the cache, at no
# measurable cost in overhead (docs/quality.md, twelfth round).
SCORING_ROWS = 4096


def in_batches(forward: Callable[[torch.Tensor], torch.Tensor], X: torch.Tensor,
               batch_size: int = SCORING_ROWS) -> torch.Tensor:
    """forward(X) for X (n, ...) computed batch_size rows at a time: (n, ...) outputs, concatenated."""
    if X.shape[0] <= batch_size:
        return forward(X)  # the common case: one pass, no concatenation copy
    return torch.cat([forward(X[i:i + batch_size]) for i in range(0, X.shape[0], batch_size)])


@torch.inference_mode()
def predict_logits(model: nn.Module, X: torch.Tensor, batch_size: int = SCORING_ROWS) -> torch.Tensor:
    """Model outputs (n, n_outputs) for X (n, n_features); the model's train/eval mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        return in_batches(model, X, batch_size)
    finally:
        model.train(was_training)
