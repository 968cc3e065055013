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
    parser.add_argument("--synthetic", action="store_true",
                        help="instead: seeded synthetic checks (categories + missing, imbalance, 20 classes, multilabel)")
    args = parser.parse_args()
    if args.synthetic:
        return synthetic_checks()

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


def synthetic_checks() -> None:
    """One seeded 75/25 split per table: TorchClassifier() vs HistGradientBoostingClassifier()."""
    import numpy as np
    import pandas as pd
    import torch
    from sklearn.datasets import make_classification, make_multilabel_classification
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score
    from sklearn.model_selection import train_test_split

    from torchclassify import TorchClassifier

    torch.set_num_threads(1)

    def run(name, X, y, multilabel=False):
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0,
                                                            stratify=None if multilabel else y)
        started = time.perf_counter()
        clf = TorchClassifier().fit(X_train, y_train)
        took = time.perf_counter() - started
        y_pred = clf.predict(X_test)
        if multilabel:
            print(f"{name}: torch f1_micro {f1_score(y_test, y_pred, average='micro'):.4f} ({took:.0f}s)", flush=True)
            return
        hgb = HistGradientBoostingClassifier(categorical_features="from_dtype").fit(X_train, y_train)
        y_hgb = hgb.predict(X_test)
        print(f"{name}: torch accuracy {accuracy_score(y_test, y_pred):.4f} balanced "
              f"{balanced_accuracy_score(y_test, y_pred):.4f} ({took:.0f}s, {clf.n_iter_} epochs, class weight "
              f"{clf.config_.train.class_weight}) | HGB accuracy {accuracy_score(y_test, y_hgb):.4f} balanced "
              f"{balanced_accuracy_score(y_test, y_hgb):.4f}", flush=True)

    rng, n = np.random.default_rng(0), 6000
    X, y = make_classification(n, n_features=8, n_informative=5, random_state=0)
    frame = pd.DataFrame(X, columns=[f"n{i}" for i in range(8)])
    frame["city"] = pd.Categorical(rng.choice(list("ABCDEFGHIJ"), n))
    frame["plan"] = pd.Categorical(np.where(y == 1, rng.choice(["gold", "basic"], n, p=[.7, .3]),
                                            rng.choice(["gold", "basic"], n, p=[.3, .7])))
    frame.loc[rng.random(n) < .2, "n0"] = np.nan
    frame.loc[rng.random(n) < .1, "plan"] = np.nan
    run("binary, categories + missing, 6k rows", frame, y)
    X, y = make_classification(8000, n_features=20, weights=[0.95, 0.05], flip_y=0.01, random_state=1)
    run("binary 95/5, 8k rows", X, y)
    X, y = make_classification(12000, n_features=40, n_informative=20, n_classes=20, n_clusters_per_class=1,
                               random_state=2)
    run("20 classes, 12k rows", X, y)
    X, Y = make_multilabel_classification(4000, n_features=20, n_classes=6, random_state=3)
    run("multilabel, 6 labels, 4k rows", X, Y, multilabel=True)


if __name__ == "__main__":
    main()
