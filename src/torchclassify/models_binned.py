"""A piecewise member's embedded bins computed from two embeddings per bin, not one per bin and row.

A number lies inside one bin of its column: the bins below it read 1, those above 0, and a bin reading 0 or 1
embeds to one of two vectors of the weights alone. So each bin is embedded at 0 and 1 once a call and only the
bin each number lies inside is embedded at its own reading (docs/quality.md, eleventh round).
"""

from __future__ import annotations

import torch
from torch import nn


def use_fast_path() -> bool:
    """False while torch.export, the ONNX exporter or torch.compile traces the model: they trace the plain path,
    whose operations every runtime knows (the fast one's cumprod and scatter do not convert to ONNX)."""
    is_exporting = getattr(torch.compiler, "is_exporting", lambda: False)  # (newer than torch 2.4)
    return not (torch.compiler.is_compiling() or is_exporting())


def periodic(X: torch.Tensor, frequencies: torch.Tensor, phases: torch.Tensor, weight: torch.Tensor,
             bias: torch.Tensor) -> torch.Tensor:
    """(n, F) -> (n, F, D): each x_f as [x_f, W_f cos(2 pi w_f x_f + b_f) + c_f] (PeriodicEmbedding's formula).

    frequencies, phases: (F, K); weight: (F, K, D - 1); bias: (F, D - 1)."""
    waves = torch.cos(2 * torch.pi * X.unsqueeze(-1) * frequencies + phases)  # (n, F, K)
    mixed = torch.einsum("nfk,fkd->nfd", waves, weight) + bias  # (n, F, D - 1)
    return torch.cat([X.unsqueeze(-1), mixed], dim=-1)


def inside_bin(bins: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """bins (n, N, B) as PiecewiseLinear reads them -> (passed, inside), each (n, N) int64: how many bins the number
    has wholly passed (the prefix that reads 1) and the bin it lies inside (B - 1 when past them all)."""
    passed = (bins >= 1).to(torch.int64).cumprod(-1).sum(-1)
    return passed, passed.clamp(max=bins.shape[-1] - 1)


def binned_embedding(X: torch.Tensor, piecewise: nn.Module, embedding: nn.Module) -> torch.Tensor:
    """(n, F) -> (n, (F + N * B) * D): embedding(piecewise(X)), for a PiecewiseLinear over N columns in B bins and
    the PeriodicEmbedding of its F + N * B outputs, whose bins lie end to end (PiecewiseLinear.tiles).

    Then the bins past the prefix that reads 1, but the inside one, read 0; where rounding makes one read a
    hair above 0 just past an edge, this reads it as 0, a difference of that hair's embedding."""
    n_numbers, n_bins = piecewise.lo.shape
    n_rows, n_features = X.shape
    params = [embedding.frequencies, embedding.phases, embedding.weight, embedding.bias]
    inputs = periodic(X, *(p[:n_features] for p in params))  # (n, F, D)
    bin_params = [p[n_features:] for p in params]  # each bin's, (N * B, ...)
    zeros = torch.zeros(n_numbers * n_bins, dtype=X.dtype, device=X.device)
    ends = torch.stack([zeros, zeros + 1])  # (2, N * B): every bin at 0, at 1
    at_0, at_1 = periodic(ends, *bin_params).unflatten(1, (n_numbers, n_bins))  # (N, B, D) each
    depth = at_0.shape[-1]

    bins = piecewise.bins(X)  # (n, N, B)
    passed, inside = inside_bin(bins)  # (n, N) each
    bin_index = torch.arange(n_bins, device=X.device)
    embedded = torch.where((bin_index < passed.unsqueeze(-1)).unsqueeze(-1), at_1, at_0)  # (n, N, B, D)
    # The bin each number lies inside, embedded at its own reading (past them all: the last bin, at 1).
    which = (torch.arange(n_numbers, device=X.device) * n_bins + inside).flatten()  # (n * N,) among the N * B
    reading = bins.gather(-1, inside.unsqueeze(-1)).view(1, -1)  # (1, n * N)
    own = periodic(reading, *(p[which] for p in bin_params)).view(n_rows, n_numbers, 1, depth)
    embedded.scatter_(2, inside.view(n_rows, n_numbers, 1, 1).expand(-1, -1, 1, depth), own)
    return torch.cat([inputs.flatten(1), embedded.flatten(1)], dim=1)
