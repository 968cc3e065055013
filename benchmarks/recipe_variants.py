"""One table, one variant of the tabular recipe: the measurements behind docs/defaults.md's recipe choices.

    OMP_NUM_THREADS=1 python benchmarks/recipe_variants.py churn ref '{}'
    OMP_NUM_THREADS=1 python benchmarks/recipe_variants.py churn noemb '{"recipe": "tabular"}'
    NFOLD=3 python benchmarks/recipe_variants.py credit cpu '{"recipe": "mlp"}'

Arguments: a table of quality_data.py, a variant name, TorchClassifier keyword arguments as JSON. The name
switches pieces that have no setting off by patching them for this process: "noemb" (no periodic
embeddings), "noscale" (no per-input scale), "emb8" (8 numbers per input), "sig03" (sigma 0.3), "freq8" (8
frequencies), "bins8" (8 quantile bins for the piecewise members), "everybin" (piecewise members embed
every bin, the path before the eleventh round: the same numbers, more work), "binned256" (the piecewise
members at 256 hidden units, the plain ones at 512), "rawbins1" and "rawbins3"
(piecewise members read their bins not embedded, times 1 or 3); "std" and
"robust" force a numeric scaling; "k1", "k2", "k3", "k8" set the ensemble's size. Folds are quality.py's 3 seeded
folds; NFOLD (default 1) says how many are run. Prints accuracy, log-loss, calibration error, the CPU
seconds of fit (time.process_time) and the epochs run, means over the folds.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torchclassify.data.prepared as prepared  # noqa: E402
import torchclassify.models as models  # noqa: E402
from quality import make_folds, score  # noqa: E402
from quality_data import load  # noqa: E402
from torchclassify import TorchClassifier  # noqa: E402


def raw_bins(scale: float) -> None:
    """Piecewise members read their bins as they are, times `scale`, beside the embedded inputs: a first layer of
    F * EMBED_DIM + N * bins inputs rather than (F + N * bins) * EMBED_DIM."""
    init, forward = models.TabularMLP.__init__, models.TabularMLP.forward

    def raw_init(self, n_features, n_outputs, hidden=(), activation="relu", dropout=0.0, norm="none", numbers=()):
        init(self, n_features, n_outputs, hidden, activation, dropout, norm)  # a plain member, then wider
        if numbers:
            width = models.embedded_width(n_features) + len(numbers) * models.PIECEWISE_BINS
            self.layers[0] = torch.nn.Linear(width, self.layers[0].out_features)
            self.piecewise, self.scale = models.PiecewiseLinear(numbers), models.FeatureScale(width)

    def raw_forward(self, X):
        if not isinstance(self.piecewise, models.PiecewiseLinear):
            return forward(self, X)
        inputs = torch.cat([self.embedding(X), scale * self.piecewise.bins(X).flatten(1)], dim=1)
        return self.layers(self.scale(inputs))

    models.TabularMLP.__init__, models.TabularMLP.forward = raw_init, raw_forward


def patch(variant: str) -> None:
    """Switch the named pieces off (or change them) for this process only."""
    embedding = models.PeriodicEmbedding.__init__
    if "emb8" in variant:
        models.EMBED_DIM = 8
        embedding.__defaults__ = (models.N_FREQUENCIES, models.SIGMA, 8)
    if "sig03" in variant:
        embedding.__defaults__ = (models.N_FREQUENCIES, 0.3, models.EMBED_DIM)
    if "freq8" in variant:  # (the first default only: sig03 and emb8 combine with it)
        embedding.__defaults__ = (8, *embedding.__defaults__[1:])
    if "bins8" in variant:
        models.PIECEWISE_BINS = 8  # (binned_inputs reads the module's value; PiecewiseLinear its default)
        models.PiecewiseLinear.__init__.__defaults__ = (8,)
    for name, scale in (("rawbins1", 1.0), ("rawbins3", 3.0)):
        if name in variant:
            raw_bins(scale)
    if "everybin" in variant:
        models.use_fast_path = lambda: False
    if "binned256" in variant:  # the piecewise members only at 256 hidden units (their first layer is the cost)
        init = models.TabularMLP.__init__
        models.TabularMLP.__init__ = (lambda self, n_features, n_outputs, hidden=(), *args, numbers=(), **kwargs:
                                      init(self, n_features, n_outputs, [256] * len(hidden) if numbers else hidden,
                                           *args, numbers=numbers, **kwargs))
    if "noscale" in variant:
        models.FeatureScale.forward = lambda self, X: X
    if "noemb" in variant:
        models.MAX_EMBEDDED = 0
    for members in ("k1", "k2", "k3", "k8"):  # networks in the ensemble (default 4; half of them binned)
        if members in variant:
            prepared.ENSEMBLE_MEMBERS = int(members[1:])
    for name, scaling in (("std", "standard"), ("robust", "robust_clip")):
        if name in variant:
            fit = prepared.Preprocessor.fit.__func__
            prepared.Preprocessor.fit = classmethod(
                lambda cls, *a, _fit=fit, _s=scaling, **k: _fit(cls, *a, **{**k, "numeric_scaling": _s}))


def main() -> None:
    table_name, variant = sys.argv[1], sys.argv[2]
    params = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    torch.set_num_threads(1)
    patch(variant)
    table = load([table_name])[0]
    y = table.y.to_numpy()
    results = []
    for train, test in make_folds(table, 3)[:int(os.environ.get("NFOLD", "1"))]:
        model = TorchClassifier(**params)
        started = time.process_time()
        model.fit(table.X.iloc[train], y[train])
        cpu = time.process_time() - started
        results.append((*score(model, table.X.iloc[test], y[test], table.task), cpu, model.n_iter_))
    accuracy, loss, ece, cpu, epochs = np.mean(results, axis=0)
    print(f"{table_name} {variant} {params} accuracy {accuracy:.4f} log-loss {loss:.4f} ECE {ece:.4f} "
          f"fit cpu {cpu:.0f}s epochs {epochs:.0f} "
          f"recipe {model.config_.model.recipe} temperature {model.temperature_:.3g}", flush=True)


if __name__ == "__main__":
    main()
