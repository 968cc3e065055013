"""Where a tabular-recipe fit spends its time: per-step cost of ensemble shapes, or one fit under cProfile.

    OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/fit_cost.py steps
    OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/fit_cost.py profile credit
    OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/fit_cost.py scoring churn

steps: milliseconds per training step (256 rows, fused AdamW, binary loss) and per evaluation of 600 rows,
for the default ensemble on churn's shape (58 inputs, 15 of them number columns) and cheaper variants of it.
profile: TorchClassifier().fit on fold 0 of 5 of a quality_data.py table, under cProfile, the 40 most
expensive calls by cumulative time.
scoring: seconds to score a table's rows repeated to 50,000, a batch of 65,536 / 16,384 / 4,096 / 1,024 rows
at a time, for the tabular ensemble and the plain MLP (3 epochs each: the weights' values do not matter
here), and the tabular estimator's predict_proba with the process's peak memory.
One thread; compare the rows of one run with each other.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torchclassify.models as models  # noqa: E402
from torchclassify.config import ModelConfig  # noqa: E402
from torchclassify.models import PiecewiseLinear, make_model  # noqa: E402

N_INPUTS, N_NUMBERS = 58, 15  # churn after preprocessing: 15 number columns, the rest one-hot
SHAPES = [  # (what, hidden width, members, binned members, binned members embed every bin)
    ("4 members, 2 binned (the default)", 512, 4, 2, False),
    ("the same, every bin embedded (before the eleventh round)", 512, 4, 2, True),
    ("the same, 256 hidden units", 256, 4, 2, False),
    ("4 members, none binned", 512, 4, 0, False),
    ("1 member, not binned", 512, 1, 0, False),
]


def step_cost(hidden: int, members: int, binned: int, every_bin: bool = False, rows: int = 256,
              scored: int = 600) -> tuple[float, float]:
    """(ms per training step of `rows` rows, ms to score `scored` rows) for one ensemble shape, one thread.
    every_bin: binned members embed all their bins (the plain path) rather than two embeddings per bin."""
    torch.manual_seed(0)
    config = ModelConfig(hidden=[hidden], recipe="tabular", members=members, piecewise=binned, dropout=0.2)
    model = make_model(config, N_INPUTS, 1, numbers=list(range(N_NUMBERS)))
    for module in model.modules():
        if isinstance(module, PiecewiseLinear):
            module.fit(torch.randn(1000, N_INPUTS))
    optimizer = torch.optim.AdamW(model.parameters(), 1e-3, fused=True)
    X, y = torch.randn(rows, N_INPUTS), torch.randint(0, 2, (rows, 1)).float()

    def step() -> None:
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(X), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    fast_path = models.use_fast_path
    models.use_fast_path = (lambda: False) if every_bin else fast_path
    try:
        model.train()
        for _ in range(10):  # warm-up
            step()
        train_ms = best_ms(step, 30)
        model.eval()
        X_valid = torch.randn(scored, N_INPUTS)
        with torch.no_grad():
            return train_ms, best_ms(lambda: model(X_valid), 5)
    finally:
        models.use_fast_path = fast_path


def best_ms(work, repeats: int, rounds: int = 5) -> float:
    """The fastest of `rounds` mean times of `repeats` calls, in ms: the machine's other load only adds time."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(repeats):
            work()
        times.append((time.perf_counter() - started) / repeats * 1000)
    return min(times)


def profile_fit(table_name: str) -> None:
    from quality import make_folds
    from quality_data import load
    from torchclassify import TorchClassifier

    table = load([table_name])[0]
    train, _ = make_folds(table, 5)[0]
    y = table.y.to_numpy()
    model = TorchClassifier(verbose=False)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.runcall(model.fit, table.X.iloc[train], y[train])
    print(f"{table_name}: fit {time.perf_counter() - started:.1f} s")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)


def scoring(table_name: str, rows: int = 50_000) -> None:
    import resource

    import pandas as pd

    from quality_data import load
    from torchclassify import TorchClassifier
    from torchclassify.engine.inference import predict_logits

    table = load([table_name])[0]
    many = pd.concat([table.X] * -(-rows // len(table.X)), ignore_index=True).iloc[:rows]
    y = table.y.to_numpy()
    print(f"| {rows:,} {table_name} rows, a batch of | 65,536 | 16,384 | 4,096 | 1,024 |\n|---|---|---|---|---|")
    estimators = {recipe: TorchClassifier(recipe=recipe, epochs=3, early_stopping=True).fit(table.X, y)
                  for recipe in ("tabular", "mlp")}
    for recipe, estimator in estimators.items():
        fitted = estimator.classifier_
        X = fitted.transform(many)
        seconds = [best_ms(lambda: predict_logits(fitted.model, X, size), 1, 2) / 1000
                   for size in (65_536, 16_384, 4_096, 1_024)]
        print(f"| {recipe} | " + " | ".join(f"{s:.2f} s" for s in seconds) + " |", flush=True)
    estimator = estimators["tabular"]
    started = time.perf_counter()
    estimator.predict_proba(many)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"estimator predict_proba (float64): {time.perf_counter() - started:.2f} s, peak memory {peak:.2f} GiB")


def main() -> None:
    torch.set_num_threads(1)
    if sys.argv[1:2] == ["profile"] and len(sys.argv) == 3:
        profile_fit(sys.argv[2])
    elif sys.argv[1:2] == ["scoring"] and len(sys.argv) == 3:
        scoring(sys.argv[2])
    elif sys.argv[1:] == ["steps"]:
        print("| ensemble | ms per training step | ms to score 600 rows |\n|---|---|---|")
        for what, hidden, members, binned, every_bin in SHAPES:
            print("| {} | {:.1f} | {:.1f} |".format(what, *step_cost(hidden, members, binned, every_bin)), flush=True)
    else:
        sys.exit("usage: fit_cost.py steps | fit_cost.py profile TABLE | fit_cost.py scoring TABLE")


if __name__ == "__main__":
    main()
