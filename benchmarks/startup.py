"""Cold start of `torchclassify train --data circles`: wall time against `import torch` and the training itself.

`python benchmarks/startup.py [--repeats 5] [--src DIR ...]`: each repeat runs, in turn and in fresh
processes, `python -c "import torch"` and `train --data circles --out TMP --quiet` once per source tree
given (default: this checkout's src/), so that load from elsewhere hits them alike. The overhead of a
run is its wall time less `import torch` (the median over the repeats) and less its own training time
(the run summary's train_seconds): imports, data, evaluation, the run folder and its report. The same
difference in CPU seconds (user + system of the child, from getrusage) is printed beside it: on a busy machine
wall time stretches with the load and CPU time much less, so it stands in for a quiet machine's figure.

`--figures`: instead, what the report's pictures cost in this process: a circles run (30 epochs) keeps the
report's figures, then each repeat draws all of them on the Agg canvas, and encodes them as the report does
(PNG at 100 dpi, compress_level 1), as PNG at 72 dpi and as SVG; medians and the bytes each format takes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _wall(command: list[str], env: dict) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one command run to its end."""
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def figures(repeats: int) -> None:
    """Seconds to draw and to encode the six figures of a circles run's report, per format (see --figures)."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from torchclassify import pages
    from torchclassify.cli import main as cli

    kept, encode = [], pages.figure_to_data_uri

    def keep(fig, format="png"):
        kept.append(fig)
        return encode(fig, format)

    pages.figure_to_data_uri = keep
    with tempfile.TemporaryDirectory() as tmp:
        cli(["train", "--data", "circles", "--epochs", "30", "--out", str(Path(tmp) / "run"), "--quiet"])
    pages.figure_to_data_uri = encode
    ways = {"draw only": None, "png 100 dpi (the report)": {"format": "png", "dpi": 100,
                                                            "pil_kwargs": {"compress_level": 1}},
            "png 72 dpi": {"format": "png", "dpi": 72, "pil_kwargs": {"compress_level": 1}}, "svg": {"format": "svg"}}
    seconds, sizes = {way: [] for way in ways}, {}
    for _ in range(repeats):
        for way, options in ways.items():  # interleaved: load from elsewhere hits every way alike
            started, size = time.perf_counter(), 0
            for fig in kept:
                if options is None:
                    FigureCanvasAgg(fig).draw()
                    continue
                buffer = io.BytesIO()
                fig.savefig(buffer, **options)
                size += len(buffer.getvalue())
            seconds[way].append(time.perf_counter() - started)
            sizes[way] = size
    load = os.getloadavg()
    print(f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}; {len(kept)} figures; {repeats} repeats")
    print("| way | seconds for all (median) | bytes |\n|---|---|---|")
    for way in ways:
        print(f"| {way} | {statistics.median(seconds[way]):.3f} | {sizes[way] or '-'} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--src", nargs="+", default=[str(HERE.parent / "src")], help="source trees to compare")
    parser.add_argument("--figures", action="store_true", help="time the report's figures instead")
    args = parser.parse_args()
    if args.figures:
        return figures(args.repeats)
    torch_walls, torch_cpus, runs = [], [], {src: [] for src in args.src}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            wall, cpu = _wall([sys.executable, "-c", "import torch"], dict(os.environ))
            torch_walls.append(wall)
            torch_cpus.append(cpu)
            for src in args.src:
                out = Path(tmp) / "run"
                env = dict(os.environ, PYTHONPATH=src)
                wall, cpu = _wall([sys.executable, "-m", "torchclassify", "train", "--data", "circles",
                                   "--out", str(out), "--overwrite", "--quiet"], env)
                summary = json.loads((out / "model.json").read_text())["info"]["summary"]
                runs[src].append({"wall": wall, "cpu": cpu, "train": summary["train_seconds"]})
    load = os.getloadavg()
    torch_s, torch_cpu = statistics.median(torch_walls), statistics.median(torch_cpus)
    print(f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on {os.cpu_count()} CPUs; "
          f"{args.repeats} repeats; import torch: median {torch_s:.2f} s wall, {torch_cpu:.2f} s CPU")
    print("| source | wall s | train s | wall - import torch - train (s) | wall / (import torch + train) "
          "| CPU s | CPU - import torch's CPU - train (s) |")
    print("|---|---|---|---|---|---|---|")
    for src, values in runs.items():
        wall = statistics.median(v["wall"] for v in values)
        train = statistics.median(v["train"] for v in values)
        over = statistics.median(v["wall"] - torch_s - v["train"] for v in values)
        cpu = statistics.median(v["cpu"] for v in values)
        cpu_over = statistics.median(v["cpu"] - torch_cpu - v["train"] for v in values)
        print(f"| {src} | {wall:.2f} | {train:.2f} | {over:.2f} | {wall / (torch_s + train):.2f} | {cpu:.2f} "
              f"| {cpu_over:.2f} |")


if __name__ == "__main__":
    main()
