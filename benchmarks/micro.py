"""Micro-benchmarks behind two choices of the hand-derived training step (docs/benchmarks.md):

1. narrow layers: one matrix product writing a row-major (rows, n) output against the same product written
   feature-major (into torch.empty(n, rows).t(), from a feature-major input), per shape;
2. the optimizer step: torch.optim's fused `optimizer.step()` against `engine.optim.direct_step`, which calls
   the same fused kernel without the wrapper, on the circles and blobs networks.

    python benchmarks/micro.py [--threads 1]

Medians of repeated calls, in microseconds; compare within one run only (these machines drift).
"""

from __future__ import annotations

import argparse

import torch
from run import median_seconds, storage_orders  # (benchmarks/ is on the path: this script lives there)


def narrow_layouts() -> None:
    print("| rows | k -> n | row-major us | feature-major us | row-major / feature-major |")
    print("|---:|---|---:|---:|---:|")
    for rows in (64, 1024, 8000):
        for k, n in ((2, 10), (10, 10), (12, 12), (15, 15), (16, 16), (32, 32), (64, 64)):
            x, weight_t = torch.randn(rows, k), torch.randn(n, k).t()
            row_major, feature_major = (median_seconds(lambda: torch.mm(left, weight_t, out=out), 0.1) * 1e6
                                        for left, out in storage_orders(x, n))
            print(f"| {rows} | {k} -> {n} | {row_major:.1f} | {feature_major:.1f} | {row_major / feature_major:.2f} |")


def optimizer_steps() -> None:
    from torchclassify.config import TrainConfig
    from torchclassify.engine.optim import direct_step, make_optimizer
    from torchclassify.models import MLP

    print("| network | optimizer | optimizer.step() us | direct_step us | ratio |")
    print("|---|---|---:|---:|---:|")
    for name, (n_in, hidden, n_out) in (("circles 2-10-10-1", (2, [10, 10], 1)),
                                        ("blobs 20-256-256-10", (20, [256, 256], 10))):
        for setting in (dict(optimizer="sgd", momentum=0.9), dict(optimizer="adam")):
            times = []
            for make_step in (lambda opt: opt.step, direct_step):
                torch.manual_seed(0)
                model = MLP(n_in, n_out, hidden)
                for p in model.parameters():
                    p.grad = torch.randn_like(p) * 1e-3
                optimizer = make_optimizer(model.parameters(), TrainConfig(lr=1e-3, **setting))
                times.append(median_seconds(make_step(optimizer)) * 1e6)
            print(f"| {name} | {setting['optimizer']} | {times[0]:.1f} | {times[1]:.1f} | {times[0] / times[1]:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, MKL {torch.backends.mkl.is_available()}, {args.threads} thread(s)\n")
    narrow_layouts()
    print()
    optimizer_steps()


if __name__ == "__main__":
    main()
