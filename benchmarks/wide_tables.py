"""What binned ensemble members cost on wide tables: the measurement behind data.prepared.choose_piecewise's cap.

    OMP_NUM_THREADS=1 python benchmarks/wide_tables.py --columns 50,120,200,600

A synthetic table (scikit-learn's make_classification, --rows rows, 20 informative columns at most) of each
width is fitted with `TorchClassifier(piecewise=0)`, `piecewise=2` and the default, each for a fixed
--epochs (early stopping on, so the recipe is the tabular one). Prints CPU seconds of fit (time.process_time)
and the default's binned members. Synthetic columns say nothing about accuracy, only about cost.
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--columns", default="50,120,200,600", help="number columns, comma-separated")
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()

    import pandas as pd
    import torch
    from sklearn.datasets import make_classification

    from torchclassify import TorchClassifier

    torch.set_num_threads(1)
    print("| number columns | piecewise=0 (s) | piecewise=2 (s) | ratio | default: binned members |")
    print("|---|---|---|---|---|")
    for n_columns in (int(c) for c in args.columns.split(",")):
        X, y = make_classification(n_samples=args.rows, n_features=n_columns, n_informative=min(n_columns, 20),
                                   random_state=0)
        X = pd.DataFrame(X, columns=[f"x{i}" for i in range(n_columns)])
        seconds = {}
        for piecewise in (0, 2, None):
            model = TorchClassifier(piecewise=piecewise, epochs=args.epochs, early_stopping=True)
            started = time.process_time()
            model.fit(X, y)
            seconds[piecewise] = time.process_time() - started
            if piecewise is None:
                default = model.config_.model.piecewise
        print(f"| {n_columns} | {seconds[0]:.1f} | {seconds[2]:.1f} | {seconds[2] / seconds[0]:.1f}x | {default} |",
              flush=True)


if __name__ == "__main__":
    main()
