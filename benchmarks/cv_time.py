"""5-fold CV time and accuracy: TorchClassifier() (and with dropout=0) against StandardScaler + MLPClassifier.

`python benchmarks/cv_time.py [--datasets wine,breast_cancer,digits]`: one torch thread, fold seed 0, the
three models one after the other per dataset in one process (issue 19's CV target; dropout=0 shows what
dropout's mask draws cost, docs/benchmarks.md "Cross-validation time").
"""

from __future__ import annotations

import argparse
import time
import warnings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="wine,breast_cancer,digits")
    args = parser.parse_args()
    import sklearn.datasets
    import torch
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from torchclassify import TorchClassifier

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    models = {"TorchClassifier()": lambda: TorchClassifier(),
              "TorchClassifier(dropout=0)": lambda: TorchClassifier(dropout=0.0),
              "StandardScaler+MLPClassifier(random_state=0)":
                  lambda: make_pipeline(StandardScaler(), MLPClassifier(random_state=0))}
    print("| dataset | " + " | ".join(models) + " |")
    print("|---" * (len(models) + 1) + "|")
    for name in args.datasets.split(","):
        X, y = getattr(sklearn.datasets, f"load_{name}")(return_X_y=True)
        cv = StratifiedKFold(5, shuffle=True, random_state=0)
        cells = []
        for make in models.values():
            started = time.perf_counter()
            scores = cross_val_score(make(), X, y, cv=cv)
            cells.append(f"{scores.mean():.4f}, {time.perf_counter() - started:.1f} s")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
