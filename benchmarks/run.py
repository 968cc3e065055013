"""Run every benchmark workload against every peer, side by side in one run: `python benchmarks/run.py`.

Each (workload, peer) pair lives in its own worker process (so each peer pays only for its own imports
and its peak memory is its own), with the same thread count pinned through torch and the BLAS/OpenMP
environment variables. Repeats are interleaved across peers, so a burst of load from elsewhere on the
machine hits every peer alike; the table shows medians. Options: --quick (a smoke run, ~4 minutes),
--repeats N, --threads N, --only NAME[,NAME], --peers NAME[,NAME], --with-1m (adds the 1M-row workload).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from workloads import WIDE_1M, WORKLOADS, Data, Workload, make_data, quick, score  # noqa: E402

SLOW_SECONDS = 60.0  # a peer whose first repeat takes longer is timed once (full-batch DataLoader, skorch...)


# ----------------------------------------------------------------------------------------------- worker

def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def worker(work: Workload, peer: str, threads: int) -> None:
    """Serve "run" / "quit" requests on stdin; answer one JSON line each on the real stdout."""
    answer = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # whatever the libraries print goes to stderr, not into the protocol
    import torch

    torch.set_num_threads(threads)
    from peers import PEERS

    data = make_data(work)
    train = PEERS[peer]
    # Warm-up on a few rows: lazy imports (the first optimizer step imports torch._dynamo, several
    # seconds) and first-call allocations are paid here, by every peer alike, not in the timings.
    few = Data(data.X_train[:512], data.y_train[:512], data.X_test[:64], data.y_test[:64])
    train(replace(work, epochs=1), few, threads)
    answer.write(json.dumps({"ready": True, "rss_mib": _rss_mib()}) + "\n")
    for line in sys.stdin:
        request = line.strip()
        if request == "run":
            started = time.perf_counter()
            predict = train(work, data, threads)
            seconds = time.perf_counter() - started  # training only: predicting the test rows is not timed
            # The floor is timed next (after the test rows are scored), in this same process: on these shared
            # cores the matmul speed drifts by a third within minutes, and a floor timed at another moment
            # made the ratio noise.
            answer.write(json.dumps({"seconds": seconds, "score": score(work, predict(), data.y_test),
                                     **gemm_floor(work)}) + "\n")
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
            answer.write(json.dumps({"peak_rss_mib": peak}) + "\n")
            return


def storage_orders(a, n_out: int) -> list:
    """(left operand, output) pairs for a product a @ b with n_out columns: stored row-major, then stored
    feature-major (a and the output as contiguous transposes). MKL multiplies matrices under 16 columns wide
    up to 10x faster one way (docs/benchmarks.md, "Narrow layers")."""
    import torch

    return [(a, torch.empty(a.shape[0], n_out)), (a.t().contiguous().t(), torch.empty(n_out, a.shape[0]).t())]


def median_seconds(fn, min_seconds: float = 0.2) -> float:
    """Median seconds of one fn() call, over enough calls to fill min_seconds (at least 5), after 3 untimed."""
    for _ in range(3):
        fn()
    samples, spent = [], 0.0
    while spent < min_seconds or len(samples) < 5:
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
        spent += samples[-1]
    return statistics.median(samples)


def _time_mm(a, b, both_layouts: bool = True) -> tuple[float, Callable]:
    """(median seconds, the call) of a @ b; with both_layouts, in the faster storage order (a floor that the
    hand-derived step's feature-major layers could beat would be no floor)."""
    import torch

    orders = storage_orders(a, b.shape[1])[:2 if both_layouts else 1]
    calls = [functools.partial(torch.mm, left, b, out=out) for left, out in orders]
    return min(((median_seconds(call), call) for call in calls), key=lambda timed: timed[0])


def floor_products(work: Workload) -> list[tuple[float, Callable]]:
    """The training's matrix products for one batch: (median seconds, call) each, in its faster storage order.

    Per layer (in -> out) and batch of B rows: forward (B,in)@(in,out), weight gradient (in,B)@(B,out) and,
    except for the first layer, input gradient (B,out)@(out,in).
    """
    import torch

    batch = work.batch_size or work.n_train
    widths = [work.n_features, *work.hidden, work.n_outputs]
    products = []
    for i, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
        x, w, g = torch.randn(batch, n_in), torch.randn(n_in, n_out), torch.randn(batch, n_out)
        products += [_time_mm(x, w), _time_mm(x.t().contiguous(), g)]
        if i > 0:
            products.append(_time_mm(g, w.t().contiguous()))
    return products


def floor_batches(work: Workload) -> float:
    """How many full batches' worth of products a training run multiplies (a partial last batch in part)."""
    return work.n_train / (work.batch_size or work.n_train) * work.epochs


def gemm_floor(work: Workload) -> dict:
    """Seconds the training's matrix multiplies alone take with this machine's BLAS at these shapes: the
    median time of each product (floor_products) times the run's number of batches.

    Elementwise work, the loss and the optimizer are not counted, so no implementation can beat this floor
    (at these shapes, with this BLAS). Also reports this machine's square-matmul throughput (GFLOP/s) at the
    pinned thread count. Quick: a fifth of a second per product. A median drops slow moments that a run's
    total cannot, so paired.py also times a whole run's worth of products; neither has come out
    consistently lower on these machines.
    """
    import torch

    seconds = sum(median for median, _ in floor_products(work)) * floor_batches(work)
    a = torch.randn(1024, 1024)
    gflops = 2 * 1024**3 / _time_mm(a, a, both_layouts=False)[0] / 1e9
    return {"floor_seconds": seconds, "gflops": gflops}


# ----------------------------------------------------------------------------------------------- parent

class Worker:
    def __init__(self, work: Workload, peer: str, threads: int, log):
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
                   OPENBLAS_NUM_THREADS=str(threads), PYTHONWARNINGS="ignore")
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(asdict(work)), peer,
             str(threads)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
        self.peer = peer
        self.ready = self._read()

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.peer} died: see the log")
        return json.loads(line)

    def ask(self, request: str) -> dict:
        self.proc.stdin.write(request + "\n")
        self.proc.stdin.flush()
        return self._read()


def run_workload(work: Workload, peers: list[str], repeats: int, threads: int, log) -> dict:
    workers = {peer: Worker(work, peer, threads, log) for peer in peers}
    runs: dict[str, list[dict]] = {peer: [] for peer in peers}  # seconds, score, floor_seconds, gflops
    for repeat in range(repeats):
        order = peers[repeat % len(peers):] + peers[:repeat % len(peers)]  # rotate who goes first
        for peer in order:
            if repeat > 0 and runs[peer][0]["seconds"] > SLOW_SECONDS:
                continue
            result = workers[peer].ask("run")
            runs[peer].append(result)
            print(f"  {work.name:13s} {peer:16s} {result['seconds']:8.3f}s  score {result['score']:.4f}  "
                  f"x floor {result['seconds'] / result['floor_seconds']:.2f}", file=sys.stderr, flush=True)
    every_run = [run for peer_runs in runs.values() for run in peer_runs]
    floor_result = {"floor_seconds": statistics.median(run["floor_seconds"] for run in every_run),
                    "gflops": statistics.median(run["gflops"] for run in every_run)}
    out = {"workload": asdict(work), "floor": floor_result, "peers": {}}
    for peer, w in workers.items():
        peak = w.ask("quit")["peak_rss_mib"]
        w.proc.wait(timeout=60)
        seconds = [run["seconds"] for run in runs[peer]]
        median = statistics.median(seconds)
        out["peers"][peer] = {
            "seconds": median, "all_seconds": seconds, "samples_per_s": work.n_train * work.epochs / median,
            "score": statistics.median(run["score"] for run in runs[peer]), "peak_rss_mib": peak,
            "rss_before_mib": w.ready["rss_mib"],
            # each run against the floor its own process measured right after it
            "x_floor": statistics.median(run["seconds"] / run["floor_seconds"] for run in runs[peer]),
            "all_floor_seconds": [run["floor_seconds"] for run in runs[peer]],
        }
    return out


def markdown(results: list[dict], meta: dict) -> str:
    lines = [f"Run {meta['date']} on {meta['machine']}; {meta['threads']} thread(s) pinned for every peer; "
             f"medians of up to {meta['repeats']} interleaved repeats (peers slower than {SLOW_SECONDS:.0f} s "
             f"timed once); took {meta['wall_minutes']:.1f} min. `speed-up` = peer time / torchclassify "
             "time (> 1: torchclassify is faster). Score: test accuracy (multilabel: micro-F1). "
             "Peak RSS: the worker process's high-water mark (data and libraries included).", ""]
    for r in results:
        w = r["workload"]
        batch = "full" if w["batch_size"] == 0 else w["batch_size"]
        widths = "→".join(str(x) for x in [w["n_features"], *w["hidden"], 1 if w["task"] == "binary" else w["n_classes"]])
        lines += [f"### {w['name']}: {w['n_samples']:,} rows ({w['n_samples'] - w['n_samples'] // 5:,} train), "
                  f"{widths}, batch {batch}, {w['epochs']} epochs, {w['optimizer']} lr {w['lr']}",
                  "", f"GEMM floor {r['floor']['floor_seconds']:.3f} s (median over every run; this machine: "
                  f"{r['floor']['gflops']:.0f} GFLOP/s on 1024² matmuls). × GEMM floor: the median over a "
                  "peer's runs of its seconds over the floor its own process timed after it.", "",
                  "| peer | train s | samples/s | speed-up | score | peak RSS MiB | × GEMM floor |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        ours = r["peers"].get("torchclassify")
        for peer, p in r["peers"].items():
            speedup = f"{p['seconds'] / ours['seconds']:.2f}×" if ours else "–"
            lines.append(f"| {peer} | {p['seconds']:.3f} | {p['samples_per_s']:,.0f} | {speedup} | {p['score']:.4f} "
                         f"| {p['peak_rss_mib']:.0f} | {p['x_floor']:.2f} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller data and fewer epochs, one repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="threads pinned for every peer (default 1)")
    parser.add_argument("--only", help="comma-separated workload names")
    parser.add_argument("--peers", help="comma-separated peers (default: all)")
    parser.add_argument("--with-1m", action="store_true", help="add the 1M-row wide workload (~2 more minutes)")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="folder for latest.json / latest.md")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        raw, peer, threads = args.worker
        worker(Workload(**{**json.loads(raw), "hidden": tuple(json.loads(raw)["hidden"])}), peer, int(threads))
        return 0

    from peers import PEERS

    workloads = WORKLOADS + ([WIDE_1M] if args.with_1m else [])
    if args.only:
        wanted = args.only.split(",")
        workloads = [w for w in workloads if w.name in wanted]
    if args.quick:
        workloads = [quick(w) for w in workloads]
    repeats = 1 if args.quick else args.repeats
    peers = args.peers.split(",") if args.peers else list(PEERS)
    started = time.perf_counter()
    results = []
    with tempfile.NamedTemporaryFile("w+", prefix="bench-", suffix=".log", delete=False) as log:
        print(f"worker output: {log.name}", file=sys.stderr)
        for work in workloads:
            results.append(run_workload(work, peers, repeats, args.threads, log))
    meta = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "threads": args.threads, "repeats": repeats, "quick": args.quick,
            "wall_minutes": (time.perf_counter() - started) / 60}
    text = markdown(results, meta)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    (args.out / "latest.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
