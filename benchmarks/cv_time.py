"""5-fold CV time and accuracy: TorchClassifier() (and with dropout=0) against StandardScaler + MLPClassifier.

`python benchmarks/cv_time.py [--datasets wine,breast_cancer,digits]`: one torch thread, fold seed 0, the
three models one after the other per dataset in one process (issue 19's CV target; dropout=0 shows what
dropout's mask draws cost, docs/benchmarks.md "Cross-validation time").

`--trees /work/main/src,src --repeats 2`: TorchClassifier() from each source tree (a child process with that
PYTHONPATH), the trees interleaved per dataset and repeat, beside MLPClassifier in this process: a before /
after table from one session. Cells: mean accuracy, wall seconds (CPU seconds of the process, which a busy
machine inflates less).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import warnings


def _models(only_torch: bool) -> dict:
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from torchclassify import TorchClassifier

    models = {"TorchClassifier()": lambda: TorchClassifier()}
    if not only_torch:
        models.update({"TorchClassifier(dropout=0)": lambda: TorchClassifier(dropout=0.0),
                       "StandardScaler+MLPClassifier(random_state=0)":
                           lambda: make_pipeline(StandardScaler(), MLPClassifier(random_state=0))})
    return models


def cross_validate(make, name: str) -> str:
    """'accuracy, wall s (cpu s)' of a 5-fold stratified cross_val_score (fold seed 0) on sklearn's `name`."""
    import sklearn.datasets
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    X, y = getattr(sklearn.datasets, f"load_{name}")(return_X_y=True)
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    started, cpu = time.perf_counter(), time.process_time()
    scores = cross_val_score(make(), X, y, cv=cv)
    return f"{scores.mean():.4f}, {time.perf_counter() - started:.1f} s ({time.process_time() - cpu:.1f})"


def _in_tree(tree: str, name: str) -> str:
    """TorchClassifier()'s cell for `name`, computed by a child process importing torchclassify from `tree`."""
    env = {**os.environ, "PYTHONPATH": tree, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, __file__, "--datasets", name, "--cell"], env=env, check=True,
                          capture_output=True, text=True)
    return done.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="wine,breast_cancer,digits")
    parser.add_argument("--trees", help="comma-separated source folders (each holding torchclassify/) to compare")
    parser.add_argument("--repeats", type=int, default=1, help="with --trees: rounds of the trees, interleaved")
    parser.add_argument("--cell", action="store_true", help=argparse.SUPPRESS)  # (a --trees child's one cell)
    args = parser.parse_args()
    import torch
    from sklearn.exceptions import ConvergenceWarning

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    names = args.datasets.split(",")
    if args.cell:
        print(cross_validate(_models(only_torch=True)["TorchClassifier()"], names[0]))
        return
    models = _models(only_torch=bool(args.trees))
    columns = list(models)
    if args.trees:
        trees = args.trees.split(",")
        columns = [f"TorchClassifier() {tree} #{r + 1}" for r in range(args.repeats) for tree in trees]
        columns.append("StandardScaler+MLPClassifier(random_state=0)")
    print("| dataset | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for name in names:
        if args.trees:
            cells = [_in_tree(tree, name) for _ in range(args.repeats) for tree in trees]
            cells.append(cross_validate(_models(only_torch=False)[columns[-1]], name))
        else:
            cells = [cross_validate(make, name) for make in models.values()]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
