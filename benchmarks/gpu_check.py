"""The CUDA path in one prepared run, for a session that is lent a GPU machine (see gpu_check.sh).

What it checks, each on the GPU against the same run on the CPU:
1. `train` on circles (binary), blobs (multiclass) and multilabel with --amp none / bf16 / fp16: the test
   metric within 0.02 of the CPU run's (fp32 uses the hand-derived backward pass, the AMP runs autograd).
2. The saved run reloads and predicts the same labels as the classifier in memory.
3. Speed on the wide workload (250k x 32 -> 512 -> 512 -> 4, batch 1024, 3 epochs, Adam): engine.fit with
   the hand-derived backward, with autograd, with bf16, and a hand-written tuned loop, as ratios in one run.
Writes gpu_check.json (and prints it); exits 1 if a check fails.

    python benchmarks/gpu_check.py --out DIR [--device cpu --quick]   # cpu/quick: a dry run of the script
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torchclassify as tc
from torchclassify.config import TrainConfig
from torchclassify.engine.loop import TensorData, fit
from torchclassify.models import MLP
from torchclassify.tasks import get_task

DATASETS = {"circles": "accuracy", "blobs": "accuracy", "multilabel": "f1_micro"}


def check_training(device: str, folder: Path, quick: bool) -> list[dict]:
    """Each dataset x AMP setting on `device` against the CPU, plus reload-and-predict on the device."""
    rows = []
    for name, metric in DATASETS.items():
        settings = dict(source=name, seed=0, progress="quiet", **({"epochs": 5} if quick else {}))
        cpu = tc.train(device="cpu", **settings)
        X = tc.load_data(name, seed=0).X
        for amp in ("none", "bf16", "fp16"):
            if amp == "fp16" and device == "cpu":
                continue  # fp16 autocast is CUDA-only (refused on the CPU with a one-line error)
            out = folder / f"{name}-{amp}"
            run = tc.train(device=device, amp=amp, out=out, **settings)
            reloaded = tc.load(out)
            same_labels = float(np.mean(np.asarray(reloaded.predict(X)) == np.asarray(run.classifier.predict(X))))
            cpu_score, score = cpu.metrics["test"][metric], run.metrics["test"][metric]
            rows.append({"dataset": name, "amp": amp, "metric": metric, "cpu": cpu_score, "device": score,
                         "epochs": run.summary["epochs_run"], "train_seconds": run.summary["train_seconds"],
                         "cpu_train_seconds": cpu.summary["train_seconds"], "reload_same_labels": same_labels,
                         "ok": abs(score - cpu_score) <= 0.02 and same_labels == 1.0})
    return rows


def _timed(device: torch.device, train) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    train()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def check_speed(device: torch.device, quick: bool) -> dict:
    """Training seconds on the wide workload: our engine three ways and a tuned hand-written loop."""
    n, epochs = (20_000, 1) if quick else (250_000, 3)
    g = torch.Generator().manual_seed(0)
    X = torch.randn(n, 32, generator=g)
    y = (X[:, :4].argmax(1) + (X[:, 4] > 1.5).long()) % 4
    X, y = X.to(device), y.to(device)
    task = get_task("multiclass")

    def ours(**config):
        def train():
            torch.manual_seed(0)
            model = MLP(32, 4, [512, 512]).to(device)
            fit(model, task, TensorData(X, y), None, TrainConfig(optimizer="adam", lr=1e-3, seed=0, **config),
                n_classes=4, n_epochs=epochs, batch_size=1024, generator=torch.Generator().manual_seed(0))
        return train

    def tuned():
        torch.manual_seed(0)
        model = MLP(32, 4, [512, 512]).to(device)
        optimizer, loss_fn = torch.optim.Adam(model.parameters(), lr=1e-3), torch.nn.CrossEntropyLoss()
        generator = torch.Generator().manual_seed(0)
        for _ in range(epochs):
            perm = torch.randperm(n, generator=generator).to(device)
            X_epoch, y_epoch = X[perm], y[perm]
            for start in range(0, n, 1024):
                loss = loss_fn(model(X_epoch[start:start + 1024]), y_epoch[start:start + 1024])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()

    peers = {"ours_manual_backward": ours(), "ours_autograd": ours(backward="autograd"),
             "ours_bf16": ours(amp="bf16"), "tuned_loop": tuned}
    _timed(device, ours())  # warm-up: CUDA context, kernels, allocator
    seconds = {name: [] for name in peers}
    for _ in range(1 if quick else 3):
        for name, train in peers.items():
            seconds[name].append(_timed(device, train))
    median = {name: float(np.median(values)) for name, values in seconds.items()}
    return {"rows": n, "epochs": epochs, "seconds": median,
            "tuned_loop_over_ours": median["tuned_loop"] / median["ours_manual_backward"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("."))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="few epochs and rows: check the script itself")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: nothing to check", file=sys.stderr)
        return 2
    result = {"torch": torch.__version__, "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu"}
    with tempfile.TemporaryDirectory() as folder:
        result["training"] = check_training(args.device, Path(folder), args.quick)
    result["speed"] = check_speed(device, args.quick)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_check.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    failed = [row for row in result["training"] if not row["ok"]]
    for row in failed:
        print(f"FAILED: {row}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
