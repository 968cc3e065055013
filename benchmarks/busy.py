"""Threads on a busy machine: `train` with the default thread choice against --threads 1 and --threads N.

`python benchmarks/busy.py [--busy 2] [--repeats 3]`: starts --busy processes that spin on a CPU each,
then times, in turn and in fresh processes, `torchclassify train` on a small generated CSV (3,000 rows x
30 columns, 3 classes, 30-256-256-3, batch 128, 5 epochs: past the tiny-model cutoff, so the default is
engine.device.choose_threads' own choice) with no --threads, with --threads 1, and with --threads N, N
being every CPU of this process's affinity (torch's own default before issue 19). Medians of wall seconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", type=int, default=2, help="spinning background processes")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    n_cpus = len(os.sched_getaffinity(0))
    arms = {"default": [], "--threads 1": ["--threads", "1"], f"--threads {n_cpus}": ["--threads", str(n_cpus)]}
    walls = {arm: [] for arm in arms}
    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        X = rng.standard_normal((3000, 30))
        y = (X[:, :3] @ np.array([1.0, -1.0, 0.5]) > 0).astype(int) + (X[:, 3] > 1).astype(int)
        csv = Path(tmp) / "small.csv"
        header = ",".join(f"x{i}" for i in range(30)) + ",target\n"
        csv.write_text(header + "\n".join(",".join(f"{v:.5f}" for v in row) + f",c{t}" for row, t in zip(X, y)))
        spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
        try:
            time.sleep(65 if args.busy else 0)  # the 1-minute load average has to see them
            for _ in range(args.repeats):
                for arm, flags in arms.items():
                    started = time.perf_counter()
                    subprocess.run([sys.executable, "-m", "torchclassify", "train", "--data", str(csv), "--target",
                                    "target", "--hidden", "256,256", "--batch-size", "128", "--epochs", "5",
                                    "--out", str(Path(tmp) / "run"), "--overwrite", "--quiet", *flags],
                                   check=True, capture_output=True)
                    walls[arm].append(time.perf_counter() - started)
            load = os.getloadavg()
        finally:
            for spinner in spinners:
                spinner.kill()
    print(f"{args.busy} spinning processes on {n_cpus} CPUs; load average then {load[0]:.1f}; "
          f"{args.repeats} repeats, wall seconds")
    base = statistics.median(walls["--threads 1"])
    for arm, values in walls.items():
        median = statistics.median(values)
        print(f"  {arm:14s} median {median:6.2f}  ({median / base:.2f}x --threads 1; runs "
              f"{', '.join(f'{v:.2f}' for v in values)})")


if __name__ == "__main__":
    main()
