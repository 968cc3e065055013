"""What one dropout mask costs, drawn each way: nn.Dropout's bernoulli_ against uniform draws compared with p.

`python benchmarks/dropout_mask.py [--p 0.2] [--calls 200]`: one torch thread, a (32, 512) and a (256, 512)
float32 mask, microseconds a mask and nanoseconds an element (docs/benchmarks.md, issue 19's dropout mask).
"""

from __future__ import annotations

import argparse
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--p", type=float, default=0.2)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    p, scale = args.p, 1 / (1 - args.p)
    for shape in [(32, 512), (256, 512)]:
        n = shape[0] * shape[1]
        threshold16 = round(p * 65536) - 32768  # p on 16 bits, for int16 draws in [-32768, 32767]
        draws = {
            "bernoulli_(1-p).div_(1-p) (nn.Dropout)": lambda: torch.empty(shape).bernoulli_(1 - p).div_(1 - p),
            "uniform_() alone": lambda: torch.empty(shape).uniform_(),
            "uniform_().ge_(p).mul_(1/(1-p)) (models.Dropout)":
                lambda: torch.empty(shape).uniform_().ge_(p).mul_(scale),
            "(rand >= p).float().mul_(1/(1-p))": lambda: (torch.rand(shape) >= p).float().mul_(scale),
            "where(rand >= p, 1/(1-p), 0)": lambda: torch.where(torch.rand(shape) >= p, scale, 0.0),
            "int32 random_() on n/2 as int16 >= p": lambda: (torch.empty(n // 2, dtype=torch.int32).random_()
                                                             .view(torch.int16).view(shape) >= threshold16)
                                                            .float().mul_(scale),
        }
        print(f"| mask of {shape} | us | ns an element |\n|---|---:|---:|")
        for name, draw in draws.items():
            draw()
            started = time.perf_counter()
            for _ in range(args.calls):
                draw()
            us = (time.perf_counter() - started) / args.calls * 1e6
            print(f"| `{name}` | {us:.0f} | {us * 1000 / n:.1f} |", flush=True)


if __name__ == "__main__":
    main()
