"""A piecewise member's embedded inputs without embedding every bin: the same numbers, a fraction of the work.

A piecewise member (models.TabularMLP with numbers) reads F inputs and N number columns in B quantile bins each,
and its periodic embedding turns each of the F + N * B into D numbers (16 cosines mixed into D - 1, and the
input itself). A number lies inside one bin of its column: the bins below it read 1, those above it 0. A bin
reading 0 or 1 embeds to one of two vectors that depend on the weights alone, so `binned_embedding` embeds
each bin twice a call (at 0 and at 1), picks one of the two for every row, and embeds only the bin each number
lies inside at its own reading: N embeddings a row instead of N * B. The first layer then reads the same
(n, (F + N * B) * D) numbers as before (docs/quality.md, eleventh round, for what it saves).
"""

from __future__ import annotations

import torch


def use_fast_path() -> bool:
    """False while torch.export, the ONNX exporter or torch.compile traces the model: they trace the plain path,
    whose operations every runtime knows."""
    compiler = getattr(torch, "compiler", None)
    return not (compiler is not None and (compiler.is_compiling() or getattr(compiler, "is_exporting", bool)()))


def periodic(X: torch.Tensor, frequencies, phases, weight, bias) -> torch.Tensor:
    """(n, F) -> (n, F, D): each x_f as [x_f, W_f cos(2 pi w_f x_f + b_f) + c_f] (PeriodicEmbedding's formula)."""
    waves = torch.cos(2 * torch.pi * X.unsqueeze(-1) * frequencies + phases)  # (n, F, K)
    mixed = torch.einsum("nfk,fkd->nfd", waves, weight) + bias  # (n, F, D - 1)
    return torch.cat([X.unsqueeze(-1), mixed], dim=-1)


def inside_bin(bins: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """bins (n, N, B) as PiecewiseLinear reads them -> (passed, inside), each (n, N) int64: how many bins the number
    has wholly passed (the prefix that reads 1) and the bin it lies inside (B - 1 when past them all)."""
    passed = (bins >= 1).to(torch.int64).cumprod(-1).sum(-1)
    return passed, passed.clamp(max=bins.shape[-1] - 1)


def binned_embedding(X: torch.Tensor, piecewise, embedding) -> torch.Tensor:
    """(n, F) -> (n, (F + N * B) * D): embedding(piecewise(X)), for a PiecewiseLinear over N columns in B bins and
    the PeriodicEmbedding of its F + N * B outputs.

    Bins past the prefix of 1s other than the inside one read 0 (they do: bins cover ascending, disjoint ranges,
    and a column's unused bins read 0 always). Where rounding makes a bin read a hair above 0 just past an edge,
    this reads it as 0; outputs then differ from the plain path's by that hair's embedding."""
    n_numbers, n_bins = piecewise.lo.shape
    n_rows, n_features = X.shape
    params = [embedding.frequencies, embedding.phases, embedding.weight, embedding.bias]
    inputs = periodic(X, *(p[:n_features] for p in params))  # (n, F, D)
    bin_params = [p[n_features:] for p in params]  # each bin's, (N * B, ...)
    ends = torch.tensor([[0.0], [1.0]], dtype=X.dtype, device=X.device).expand(2, n_numbers * n_bins)
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
    embedded = embedded.scatter(2, inside.view(n_rows, n_numbers, 1, 1).expand(-1, -1, 1, depth), own)
    return torch.cat([inputs.flatten(1), embedded.flatten(1)], dim=1)
