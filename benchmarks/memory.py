"""Peak memory of one fit: how much a fit grows the process's peak RSS, against a hand-written loop.

`python benchmarks/memory.py [--rows 200000] [--repeats 3]`: each (peer, repeat) runs in a fresh
process that makes the data (float32 features, as a user holding a float32 matrix has them), warms the
peer up on a few rows (imports and first-call allocations are not the fit's), resets the kernel's
high-water mark (/proc/self/clear_refs) and fits once. The figure is the peak RSS during the fit minus
the RSS before it: what the fit itself costs on top of the data the caller already holds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

PEERS = ("loop", "estimator")


def _status(key: str) -> float:
    """VmRSS or VmHWM of this process, MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(key)


def worker(peer: str, n_rows: int, epochs: int) -> None:
    import numpy as np
    import torch

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_rows, 32), dtype=np.float32)  # (n, 32)
    y = (X[:, :2] > 0).astype(np.int64) @ np.array([1, 2])  # 4 classes from two signs
    hidden, batch = (512, 512), 1024

    if peer == "estimator":
        from torchclassify import TorchClassifier

        def fit(rows):
            TorchClassifier(hidden=hidden, batch_size=batch, epochs=epochs, dropout=0.0,
                            early_stopping=False).fit(X[:rows], y[:rows])
    else:
        def fit(rows):  # what a careful user writes (benchmarks/peers.py train_tuned_loop), on float32 X
            torch.manual_seed(0)
            layers, width = [], 32
            for h in hidden:
                layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
                width = h
            model = torch.nn.Sequential(*layers, torch.nn.Linear(width, 4))
            optimizer = torch.optim.AdamW(model.parameters(), fused=True)
            loss_fn = torch.nn.CrossEntropyLoss()
            X_t, y_t = torch.from_numpy(X[:rows]), torch.from_numpy(y[:rows])
            for _ in range(epochs):
                perm = torch.randperm(rows)
                X_epoch, y_epoch = X_t[perm], y_t[perm]
                for start in range(0, rows, batch):
                    loss = loss_fn(model(X_epoch[start:start + batch]), y_epoch[start:start + batch])
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()

    fit(2048)  # warm-up: imports, first-call allocations
    before = _status("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    fit(n_rows)
    print(json.dumps({"peer": peer, "before_mib": before, "growth_mib": _status("VmHWM") - before}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", choices=PEERS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.rows, args.epochs)
        return
    growth = {peer: [] for peer in PEERS}
    for _ in range(args.repeats):  # interleaved, so load from elsewhere hits both alike
        for peer in PEERS:
            out = subprocess.run([sys.executable, __file__, "--worker", peer, "--rows", str(args.rows),
                                  "--epochs", str(args.epochs)], capture_output=True, text=True, check=True)
            growth[peer].append(json.loads(out.stdout.strip().splitlines()[-1])["growth_mib"])
    print(f"{args.rows} x 32 float32, 32-512-512-4, batch 1024, {args.epochs} epochs; peak RSS growth during fit, MiB")
    for peer, values in growth.items():
        print(f"  {peer:10s} median {statistics.median(values):6.1f}  (runs: {', '.join(f'{v:.1f}' for v in values)})")
    ratio = statistics.median(growth["estimator"]) / statistics.median(growth["loop"])
    print(f"  estimator / loop: {ratio:.2f}x")


if __name__ == "__main__":
    main()
