"""TorchClassifier() defaults vs MLPClassifier() (in a StandardScaler pipeline) vs HistGradientBoostingClassifier().

5-fold stratified cross-validated accuracy (mean and std over folds) and wall time per model, on the real
datasets scikit-learn ships: iris, wine, breast_cancer, digits. Nothing is downloaded.

    .venv/bin/python benchmarks/defaults_vs_sklearn.py [--datasets iris,wine] [--seed 0] [--threads 1]
        [--mlp-seeds 5] [--models torch,mlp,hgb]

MLPClassifier() draws its initial weights from NumPy's global state (random_state=None), so its score
changes from run to run: it is run under --mlp-seeds global seeds and reported as the mean (min..max).
TorchClassifier() is deterministic by default (random_state=0).
"""

from __future__ import annotations

import argparse
import time
import warnings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="iris,wine,breast_cancer,digits")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fold shuffle")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 = fair against sklearn's single-thread MLP)")
    parser.add_argument("--mlp-seeds", type=int, default=5, help="global NumPy seeds to average MLPClassifier over")
    parser.add_argument("--models", default="torch,mlp,hgb")
    args = parser.parse_args()

    import numpy as np
    import sklearn.datasets
    import torch
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from torchclassify import TorchClassifier

    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)  # MLPClassifier at its 200-epoch cap
    all_models = {
        "torch": ("TorchClassifier()", lambda: TorchClassifier(), [None]),
        "mlp": ("StandardScaler+MLPClassifier()", lambda: make_pipeline(StandardScaler(), MLPClassifier()),
                list(range(args.mlp_seeds))),
        "hgb": ("HistGradientBoostingClassifier()", lambda: HistGradientBoostingClassifier(), [None]),
    }
    models = {all_models[key][0]: all_models[key][1:] for key in args.models.split(",")}
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=args.seed)
    print(f"5-fold stratified CV accuracy, mean +- std over folds (fold seed {args.seed}; torch threads "
          f"{args.threads}); MLPClassifier: mean (min..max) over {args.mlp_seeds} global seeds; seconds for all "
          "5 folds (per seed)\n")
    header = f"| {'dataset':<14}| " + " | ".join(f"{name:<32}" for name in models) + " |"
    print(header)
    print("|" + "|".join("-" * (len(part) + 0) for part in header.split("|")[1:-1]) + "|")
    for name in args.datasets.split(","):
        X, y = getattr(sklearn.datasets, f"load_{name}")(return_X_y=True)
        cells = []
        for make, seeds in models.values():
            means, stds, took = [], [], 0.0
            for seed in seeds:
                if seed is not None:
                    np.random.seed(seed)
                started = time.perf_counter()
                scores = cross_val_score(make(), X, y, cv=cv, scoring="accuracy")
                took += (time.perf_counter() - started) / len(seeds)
                means.append(scores.mean())
                stds.append(scores.std())
            if len(seeds) == 1:
                cells.append(f"{means[0]:.4f} +- {stds[0]:.3f} ({took:5.1f}s)")
            else:
                cells.append(f"{np.mean(means):.4f} ({min(means):.4f}..{max(means):.4f}) ({took:5.1f}s)")
        print(f"| {name:<14}| " + " | ".join(f"{c:<32}" for c in cells) + " |", flush=True)


if __name__ == "__main__":
    main()
