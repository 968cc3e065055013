"""Column probes: re-encode a table's columns before a model, on quality.py's folds, to ask what a recipe lacks.

    OMP_NUM_THREADS=1 python benchmarks/column_probes.py hpc ple:16:add             # TorchClassifier()
    OMP_NUM_THREADS=1 python benchmarks/column_probes.py hpc drop:protocol --models torch,hgb
    OMP_NUM_THREADS=1 python benchmarks/column_probes.py creditcard zero:logged     # any suite's table

A probe is fitted on each fold's training rows only, then applied to its training and test rows:

- ``drop:A,B``          leave the named columns out (for every model: does a column carry the gap?);
- ``zero:RULE``         add a 0/1 "was zero" column beside each non-negative number column with 5-95 % zeros
                        and more than two values; RULE "all", "logged" (only columns the log rule picks) or
                        "amount" (logged and 100+ distinct positive values);
- ``quantile:MODE``     scikit-learn's QuantileTransformer (normal output, up to 1,000 quantiles) of the
                        numbers; MODE "replace" or "add" (beside the raw columns);
- ``ple:BINS:MODE[:logged]`` piecewise-linear encoding (Gorishniy et al. 2022): BINS quantile bins per number
                        column (":logged": only the columns the log rule picks); bin t's column is
                        (x - e[t-1]) / (e[t] - e[t-1]) clipped to [0, 1] (open at the outer ends); MODE
                        "replace" or "add";
- ``blend:PROBE``       the model without and with PROBE, probabilities averaged (single-label tables);
                        ``blend:seed``, the control: two seeds of the model without a probe (a model
                        with a random_state: torch, hgb);
- ``choose:PROBE``      PROBE or none, whichever a held-out 20 % of the training rows prefers (Probed.choose).

Prints accuracy / log-loss (means over the folds, as quality.py scores them) per model. The measurements and
what was adopted from them: docs/quality.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Callable

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality  # noqa: E402
from quality_data import load  # noqa: E402

Encode = Callable[[pd.DataFrame], pd.DataFrame]


def number_columns(X: pd.DataFrame) -> list[str]:
    return [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c]) and not pd.api.types.is_bool_dtype(X[c])]


def fit_drop(X: pd.DataFrame, arg: str) -> Encode:
    names = arg.split(",")
    return lambda F: F.drop(columns=names)


def is_logged(values: np.ndarray) -> bool:
    """Whether torchclassify's log rule (data/numbers.skewed_log_scale) reads this column on a log scale."""
    from torchclassify.data.numbers import skewed_log_scale
    return skewed_log_scale(values[np.isfinite(values)]) is not None


def fit_zero(X: pd.DataFrame, rule: str) -> Encode:
    picked = []
    for c in number_columns(X):
        v = X[c].dropna().to_numpy(float)
        if v.size == 0 or v.min() < 0 or not 0.05 <= (v == 0).mean() <= 0.95 or np.unique(v).size <= 2:
            continue
        logged = is_logged(v)
        if {"all": True, "logged": logged, "amount": logged and np.unique(v[v > 0]).size >= 100}[rule]:
            picked.append(c)
    return lambda F: F.assign(**{f"{c}__is0": (F[c] == 0).astype(float) for c in picked})


def fit_quantile(X: pd.DataFrame, mode: str) -> Encode:
    from sklearn.preprocessing import QuantileTransformer
    names = number_columns(X)
    qt = QuantileTransformer(output_distribution="normal", n_quantiles=min(1000, len(X)), subsample=10**9,
                             random_state=quality.SEED).fit(X[names].to_numpy(float))

    def encode(F: pd.DataFrame) -> pd.DataFrame:
        q = qt.transform(F[names].to_numpy(float))
        if mode == "replace":
            return F.assign(**{c: q[:, i] for i, c in enumerate(names)})
        return F.assign(**{f"{c}__q": q[:, i] for i, c in enumerate(names)})
    return encode


def fit_ple(X: pd.DataFrame, arg: str) -> Encode:
    bins, mode, *which = arg.split(":")
    edges = {}
    for c in number_columns(X):
        v = X[c].to_numpy(float)
        if which == ["logged"] and not is_logged(v):
            continue
        e = np.unique(np.quantile(v[np.isfinite(v)], np.linspace(0, 1, int(bins) + 1)))
        if e.size >= 3:  # (at least two bins; a column of one or two values keeps its one column)
            edges[c] = e

    def encode(F: pd.DataFrame) -> pd.DataFrame:
        new = {}
        for c, e in edges.items():
            x = F[c].to_numpy(float)  # (NaN stays NaN: the model imputes it as it would the raw value)
            for t in range(1, e.size):
                low, high = (-np.inf if t == 1 else 0.0), (np.inf if t == e.size - 1 else 1.0)
                new[f"{c}__ple{t}"] = np.clip((x - e[t - 1]) / (e[t] - e[t - 1]), low, high)
        kept = F if mode == "add" else F.drop(columns=list(edges))
        return kept.assign(**new)
    return encode


PROBES = {"drop": fit_drop, "zero": fit_zero, "quantile": fit_quantile, "ple": fit_ple}


class Probed:
    """A model behind a probe: fit learns the probe on the training rows, then the model on their encoding.

    ``blend:PROBE`` fits the model with and without PROBE on every row and averages their probabilities.
    ``choose:PROBE`` (e.g. ``choose:ple:16:add``) asks the data instead: the model with and without PROBE is
    fitted on a stratified 80 % of the training rows, the one with the lower log-loss on the other 20 % is
    kept and refitted on every training row (single-label tables only).
    """

    def __init__(self, make: Callable[[], object], probe: str):
        self.make, self.probe = make, probe

    def fit(self, X: pd.DataFrame, y):
        kind, _, arg = self.probe.partition(":")
        if kind == "blend":  # ("blend:seed": the control, the same model with random_state 1 beside it)
            second = Probed(lambda: self.make().set_params(random_state=1), "none") if arg == "seed" \
                else Probed(self.make, arg)
            self.pair = [Probed(self.make, "none").fit(X, y), second.fit(X, y)]
            self.classes_ = self.pair[0].classes_
            return self
        probe = self.choose(X, y, arg) if kind == "choose" else self.probe
        self.encode = identity if probe == "none" else PROBES[probe.partition(":")[0]](X, probe.partition(":")[2])
        self.chosen = probe
        self.model = self.make().fit(self.encode(X), y)
        self.classes_ = getattr(self.model, "classes_", None)
        return self

    def choose(self, X: pd.DataFrame, y, probe: str) -> str:
        """"none" or probe: whichever gives the lower log-loss on a held-out 20 % of (X, y)."""
        from sklearn.metrics import log_loss
        from sklearn.model_selection import train_test_split
        fit_rows, held = train_test_split(np.arange(len(X)), test_size=0.2, stratify=y, random_state=quality.SEED)
        losses = {}
        for candidate in ("none", probe):
            model = Probed(self.make, candidate).fit(X.iloc[fit_rows], y[fit_rows])
            losses[candidate] = log_loss(y[held], model.predict_proba(X.iloc[held]), labels=model.classes_)
        return min(losses, key=losses.get)

    def predict(self, X):
        if self.probe.startswith("blend:"):
            return self.classes_[self.predict_proba(X).argmax(axis=1)]
        return self.model.predict(self.encode(X))

    def predict_proba(self, X):
        if self.probe.startswith("blend:"):
            return np.mean([m.predict_proba(X) for m in self.pair], axis=0)
        return self.model.predict_proba(self.encode(X))


def identity(F: pd.DataFrame) -> pd.DataFrame:
    return F


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("table")
    parser.add_argument("probe", help="none, drop:A,B, zero:RULE, quantile:MODE, ple:BINS:MODE[:logged], "
                                                "choose:PROBE or blend:PROBE|seed")
    parser.add_argument("--models", default="torch", help="of quality.py's MODELS, comma-separated")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--torch-params", default="{}", help="TorchClassifier keyword arguments as JSON")
    parser.add_argument("--variant", default="", help="recipe_variants.py's switches for this process, e.g. noemb")
    args = parser.parse_args()
    known = ["none", *PROBES, "choose", "blend"]
    if args.probe.partition(":")[0] not in known:
        raise SystemExit(f"unknown probe {args.probe!r}; known: {', '.join(known)}")
    warnings.filterwarnings("ignore")
    quality.TORCH_PARAMS.update(json.loads(args.torch_params))
    if args.variant:
        from recipe_variants import patch
        patch(args.variant)
    table = load([args.table])[0]
    folds = quality.make_folds(table, args.folds)
    for name in args.models.split(","):
        make = quality.MODELS[name]
        chosen = []

        def build(task, make=make):
            model = Probed(lambda: make(task), args.probe)
            chosen.append(model)
            return model
        result = quality.cross_validate(make if args.probe == "none" else build, table, folds)
        print(f"{args.table} {args.probe} {name} {args.torch_params} {args.variant}: accuracy {result['accuracy']:.4f} "
              f"log-loss {result['log_loss']:.4f} ({result['fit_s']:.0f}s)"
              + (f"; chosen per fold: {[m.chosen for m in chosen]}" if args.probe.startswith("choose:") else ""),
              flush=True)


if __name__ == "__main__":
    main()
