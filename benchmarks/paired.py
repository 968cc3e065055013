"""torchclassify, the tuned hand-written loop and the GEMM floor, alternated round after round in one process.

run.py gives each peer its own worker, which times the floor after each of its runs; on these shared cores
that leaves the × GEMM floor column at the mercy of minutes-long drifts in matmul speed (one run's floor
measurements spanned 12.6-24.5 s). Here the three are timed back to back in one process, in an order that
rotates every round (so neither run always sits next to the floor), and each round's ratios are taken
before the medians: a second estimate of how far a training run sits above its matrix products, with the
same process and data for all three.

The floor here is the run's own worth of products: each of a batch's products (run.floor_products, in its
faster storage order) called once per batch of the run, back to back: timed as a total, as the runs are,
and over about as long as the run spends in its products. run.py's quick floor (the median of a fifth of
a second per product, times the batches) is timed at the end of each round and printed beside it (it is
not in the rotation): a median drops slow moments that a run's total cannot, but on these machines
neither came out consistently lower.

    python benchmarks/paired.py [--workload wide_250k] [--rounds 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

import torch

from peers import train_torchclassify, train_tuned_loop  # (benchmarks/ is on the path: this script lives there)
from run import floor_batches, floor_products, gemm_floor
from workloads import WIDE_1M, WORKLOADS, make_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    workloads = {w.name: w for w in [*WORKLOADS, WIDE_1M]}
    parser.add_argument("--workload", default="wide_250k", choices=list(workloads))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, help="epochs per timed run (default: the workload's)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = workloads[args.workload]
    work = replace(work, epochs=args.epochs or work.epochs)
    data = make_data(work)
    few = replace(data, X_train=data.X_train[:2048], y_train=data.y_train[:2048])
    for train in (train_torchclassify, train_tuned_loop):  # warm-up: lazy imports, first-call allocations
        train(replace(work, epochs=1), few, args.threads)

    def seconds(train) -> float:
        started = time.perf_counter()
        train(work, data, args.threads)
        return time.perf_counter() - started

    products = [call for _, call in floor_products(work)]
    batches = round(floor_batches(work))

    def run_length_floor() -> float:
        started = time.perf_counter()
        for product in products:
            for _ in range(batches):
                product()
        return time.perf_counter() - started

    timers = [("torchclassify", lambda: seconds(train_torchclassify)),
              ("tuned_loop", lambda: seconds(train_tuned_loop)),
              ("floor", run_length_floor)]
    print(f"{work.name}, {work.epochs} epoch(s), {args.threads} thread(s); seconds per round:")
    rounds = []
    for i in range(args.rounds):
        row = {name: timer() for name, timer in timers[i % 3:] + timers[:i % 3]}  # rotate who goes first
        row["quick floor"] = gemm_floor(work)["floor_seconds"]  # (run.py's, for comparison)
        rounds.append(row)
        print(f"  round {i + 1}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items()), flush=True)
    ours_x_floor = statistics.median(r["torchclassify"] / r["floor"] for r in rounds)
    tuned_x_floor = statistics.median(r["tuned_loop"] / r["floor"] for r in rounds)
    speedup = statistics.median(r["tuned_loop"] / r["torchclassify"] for r in rounds)
    quick_x_floor = statistics.median(r["torchclassify"] / r["quick floor"] for r in rounds)
    print(f"medians of per-round ratios: torchclassify {ours_x_floor:.2f}x floor, tuned loop {tuned_x_floor:.2f}x "
          f"floor, torchclassify {speedup:.2f}x faster than the tuned loop; torchclassify {quick_x_floor:.2f}x "
          "run.py's quick floor")


if __name__ == "__main__":
    main()
