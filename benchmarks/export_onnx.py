"""Prediction speed on raw rows: the exported ONNX file under onnxruntime against TrainedClassifier.predict.

A model is trained on customers.csv (numbers with missing values and a category; the default 512-wide MLP),
exported, and both predict the same raw rows (the CSV's rows repeated to each size): rows per second, median
of repeated calls, in one process, one after the other at each size. onnxruntime's own threads are left at its
default, torch's too.

    python benchmarks/export_onnx.py [--sizes 1,100,10000,100000] [--threads N]

Compare within one run only (these machines drift); figures in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd
import torch

import torchclassify as tc
from torchclassify.export.onnx_serving import OnnxClassifier

EXAMPLES = Path(__file__).parent.parent / "examples"


def median_seconds(call, budget: float = 1.0, at_least: int = 5) -> float:
    """The median time of one call, repeated for about `budget` seconds (at least `at_least` times)."""
    call()  # warm-up: first-call allocations and lazy initialisation are not the steady state
    times, started = [], time.perf_counter()
    while len(times) < at_least or time.perf_counter() - started < budget:
        begin = time.perf_counter()
        call()
        times.append(time.perf_counter() - begin)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,100,10000,100000", help="rows per predict call")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = pd.read_csv(EXAMPLES / "customers.csv")
    run = tc.train(data=rows, target="plan", epochs=5, progress="quiet")
    clf = run.classifier
    features = rows.drop(columns=["plan"])
    with tempfile.TemporaryDirectory() as folder:
        served = OnnxClassifier(clf.export_onnx(Path(folder) / "model.onnx"))
        print(f"torch {torch.__version__}, {torch.get_num_threads()} torch threads; network "
              f"{clf.preprocessor.n_features_out} -> {clf.model_config.hidden} -> {len(clf.classes)}")
        print("| rows per call | predict rows/s | ONNX rows/s | ONNX session.run only rows/s | ONNX / predict |")
        print("|---:|---:|---:|---:|---:|")
        for size in (int(s) for s in args.sizes.split(",")):
            batch = pd.concat([features] * (size // len(features) + 1), ignore_index=True).head(size)
            feeds = served.feeds(batch)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch_s = median_seconds(lambda: clf.predict(batch))
            onnx_s = median_seconds(lambda: served.predict(batch))
            run_s = median_seconds(lambda: served.session.run(None, feeds))
            print(f"| {size:,} | {size / torch_s:,.0f} | {size / onnx_s:,.0f} | {size / run_s:,.0f} "
                  f"| {torch_s / onnx_s:.2f} |")


if __name__ == "__main__":
    main()
