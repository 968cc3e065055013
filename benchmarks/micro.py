"""Micro-benchmarks behind the hand-derived training step: layouts, optimizer call, distance from the GEMM floor.

1. narrow layers: one matrix product writing a row-major (rows, n) output against the same product written
   feature-major (into torch.empty(n, rows).t(), from a feature-major input), per shape;
2. the optimizer step: torch.optim's fused `optimizer.step()` against `engine.optim.direct_step`, which calls
   the same fused kernel without the wrapper, on the circles and blobs networks;
3. the wide network's eight training products (32->512->512->4, batch 1024) as the step computes them,
   timed one after another in a step's order, against each repeated back to back (the way the GEMM floor
   times its products, with warm caches): what warm caches are worth before any other work.

    python benchmarks/micro.py [--threads 1] [--only narrow|optimizer|products]

Medians of repeated calls, in microseconds; compare within one run only (these machines drift).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from run import floor_products, median_seconds, storage_orders  # (benchmarks/ is on the path: this script lives there)
from workloads import WORKLOADS


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


def _time_calls(call, times: list, calls: int = 1) -> None:
    """Append the seconds of each of `calls` back-to-back calls of call() to times."""
    for _ in range(calls):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)


def products_in_step_order(rounds: int = 8) -> None:
    work = next(w for w in WORKLOADS if w.name == "wide_250k")  # 32 -> 512 -> 512 -> 4, batch 1024
    rows, n_in, (width, _), n_out = work.batch_size, work.n_features, work.hidden, work.n_outputs
    x = torch.randn(rows, n_in)
    w1, w2, w3 = torch.randn(width, n_in), torch.randn(width, width), torch.randn(n_out, width)
    h1, h2, g2 = torch.empty(rows, width), torch.empty(rows, width), torch.empty(rows, width)
    # The head as the step has it: logits written into a row slice of the epoch's (rows, n_out) buffer, and
    # the loss gradient row-major (CPU softmax kernels give contiguous output). Making both feature-major,
    # MKL's faster layout for them, changed the step by under 1 % in an in-process A/B.
    logits, g3 = torch.empty(rows * 8, n_out)[rows:2 * rows], torch.randn(rows, n_out)
    d1, d2, d3 = torch.empty_like(w1), torch.empty_like(w2), torch.empty_like(w3)
    products = {  # forward, then backward from the head down; dx of the square layer into its own output's buffer
        f"forward {n_in}->{width}": lambda: torch.mm(x, w1.t(), out=h1),
        f"forward {width}->{width}": lambda: torch.mm(h1, w2.t(), out=h2),
        f"forward {width}->{n_out}": lambda: torch.mm(h2, w3.t(), out=logits),
        f"dW {n_out}x{width}": lambda: torch.mm(g3.t(), h2, out=d3),
        f"dx {n_out}->{width}": lambda: torch.mm(g3, w3, out=g2),
        f"dW {width}x{width}": lambda: torch.mm(g2.t(), h1, out=d2),
        f"dx {width}->{width}": lambda: torch.mm(g2, w2, out=h2),
        f"dW {width}x{n_in}": lambda: torch.mm(h2.t(), x, out=d1),
    }
    floor = dict(enumerate(call for _, call in floor_products(work)))  # the GEMM floor's own, each in its fastest form
    # Rounds alternate the three ways, so that a drift in the machine's speed hits them alike.
    for round_ in range(rounds + 1):
        if round_ <= 1:  # (round 0 warms up: its times are dropped)
            in_order, repeated = {name: [] for name in products}, {name: [] for name in products}
            floor_times = {i: [] for i in floor}
        for _ in range(10):
            for name, product in products.items():
                _time_calls(product, in_order[name])
        for name, product in products.items():
            _time_calls(product, repeated[name], 10)
        for i, product in floor.items():
            _time_calls(product, floor_times[i], 10)
    in_order, repeated, floor_times = ({key: statistics.median(times) for key, times in d.items()}
                                       for d in (in_order, repeated, floor_times))
    print("| product | in a step's order us | repeated us | ratio |")
    print("|---|---:|---:|---:|")
    for name in products:
        print(f"| {name} | {in_order[name] * 1e6:.0f} | {repeated[name] * 1e6:.0f} | "
              f"{in_order[name] / repeated[name]:.2f} |")
    total_in_order, total_repeated = sum(in_order.values()), sum(repeated.values())
    print(f"| all eight | {total_in_order * 1e6:.0f} | {total_repeated * 1e6:.0f} | "
          f"{total_in_order / total_repeated:.2f} |")
    total_floor = sum(floor_times.values())
    print(f"| the GEMM floor's eight, repeated | | {total_floor * 1e6:.0f} | "
          f"{total_in_order / total_floor:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    sections = {"narrow": narrow_layouts, "optimizer": optimizer_steps, "products": products_in_step_order}
    parser.add_argument("--only", choices=list(sections), help="run one section (default: all three)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, MKL {torch.backends.mkl.is_available()}, {args.threads} thread(s)")
    for name, section in sections.items():
        if args.only in (None, name):
            print()
            section()


if __name__ == "__main__":
    main()
