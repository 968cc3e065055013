"""Cold start of `torchclassify train --data circles`: wall time against `import torch` and the training itself.

`python benchmarks/startup.py [--repeats 5] [--src DIR ...]`: each repeat runs, in turn and in fresh
processes, `python -c "import torch"` and `train --data circles --out TMP --quiet` once per source tree
given (default: this checkout's src/), so that load from elsewhere hits them alike. The overhead of a
run is its wall time less `import torch` (the median over the repeats) and less its own training time
(the run summary's train_seconds): imports, data, evaluation, the run folder and its report.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _wall(command: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--src", nargs="+", default=[str(HERE.parent / "src")], help="source trees to compare")
    args = parser.parse_args()
    torch_walls, runs = [], {src: [] for src in args.src}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            torch_walls.append(_wall([sys.executable, "-c", "import torch"], dict(os.environ)))
            for src in args.src:
                out = Path(tmp) / "run"
                env = dict(os.environ, PYTHONPATH=src)
                wall = _wall([sys.executable, "-m", "torchclassify", "train", "--data", "circles", "--out", str(out),
                              "--overwrite", "--quiet"], env)
                summary = json.loads((out / "model.json").read_text())["info"]["summary"]
                runs[src].append({"wall": wall, "train": summary["train_seconds"]})
    load = os.getloadavg()
    torch_s = statistics.median(torch_walls)
    print(f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on {os.cpu_count()} CPUs; "
          f"{args.repeats} repeats; import torch: median {torch_s:.2f} s")
    print("| source | wall s | train s | wall - import torch - train (s) | wall / (import torch + train) |")
    print("|---|---|---|---|---|")
    for src, values in runs.items():
        wall = statistics.median(v["wall"] for v in values)
        train = statistics.median(v["train"] for v in values)
        over = statistics.median(v["wall"] - torch_s - v["train"] for v in values)
        print(f"| {src} | {wall:.2f} | {train:.2f} | {over:.2f} | {wall / (torch_s + train):.2f} |")


if __name__ == "__main__":
    main()
