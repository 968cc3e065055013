"""`torchclassify tune`: search settings with Optuna, then retrain the best as a normal run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import format_setting, setting_name
from .common import (
    add_config_argument,
    add_setting_arguments,
    add_tracking_arguments,
    config_from_args,
    given_settings,
    imports_kept,
    output_path,
    tracking_options,
)


def register(sub) -> None:
    parser = sub.add_parser(
        "tune", help="search settings with Optuna (TPE, pruning) and retrain the best as a normal run",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Search the learning rate, optimizer, hidden layers, dropout and weight decay (or your own "
                    "--space) on the validation metric, pruning hopeless trials; retrain the best configuration "
                    "into OUT/best and write trials.csv, tune.json, history.png and tune.html into OUT. "
                    "Train flags you give are fixed and not searched.",
        epilog="examples:\n"
               "  torchclassify tune --data wine --trials 30 --out runs/wine-tune\n"
               "  torchclassify tune --data wine --space lr=1e-3..1e-1:log --space hidden='32|64,64' --space dropout=0\n"
               "several workers, one study (each runs its own --trials):\n"
               "  torchclassify tune --data wine --trials 20 --out runs/wine-tune \\\n"
               "      --storage sqlite:///runs/wine-tune/study.db --study-name wine   # in two shells")
    parser.add_argument("--trials", type=int, default=30, help="this worker's number of trials (default 30)")
    parser.add_argument("--timeout", type=float, metavar="SECONDS", help="stop starting trials after this long")
    parser.add_argument("--space", action="append", default=[], metavar="SETTING=SPEC",
                        help="override the search space: lr=1e-4..1e-1:log (range), epochs=20..200 (whole "
                             "numbers), hidden='32|64,64|none' (choices), dropout=0.1 (fixed)")
    parser.add_argument("--storage", metavar="URL",
                        help="an Optuna database URL to share the study (default: sqlite:///OUT/study.db)")
    parser.add_argument("--study-name", default="torchclassify", help="the study's name in the storage")
    parser.add_argument("--sampler-seed", type=int, help="seed TPE for a reproducible search (one worker)")
    parser.add_argument("--heartbeat", type=int, default=30, metavar="SECONDS",
                        help="seconds between a running trial's heartbeats in the storage; a trial silent for three "
                             "is a dead worker's: failed, and run again by another worker (default 30)")
    parser.add_argument("--no-retrain", dest="retrain", action="store_false",
                        help="do not retrain and save the best configuration")
    add_config_argument(parser, "a config.json every trial starts from")
    parser.add_argument("--out", type=output_path, default=Path("runs/tune"), help="study folder (default runs/tune)")
    add_tracking_arguments(parser)
    add_setting_arguments(parser)


def execute(args) -> int:
    with imports_kept(args):
        from ..tune import parse_space, study_summary, tune

    base = config_from_args(args)
    # Flags given on the command line are the user's choice: take them out of the default space.
    given = set(given_settings(args))
    searched = {setting_name(text.split("=")[0]) for text in args.space}
    space, fixed = parse_space(args.space)
    space = {k: v for k, v in space.items() if k not in given or k in searched}
    log = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    result = tune(base, (space, fixed), n_trials=args.trials, timeout=args.timeout, out=args.out,
                  storage=args.storage, study_name=args.study_name, sampler_seed=args.sampler_seed,
                  retrain=args.retrain, log=log, heartbeat=args.heartbeat, **tracking_options(args))
    print(summary_text(study_summary(result)))
    if result.note:
        print(result.note)
    return 0


def summary_text(summary: dict) -> str:
    """The console's account of a study (study_summary's dict): counts, best trial and, when the best was
    chosen among equals, the tie-break that chose it."""
    from ..evaluate import format_metrics
    from ..pages import significant

    m = summary["main_metric"]
    states = ", ".join(f"{v} {k}" for k, v in summary["trial_states"].items())
    lines = ["", f"study {summary['study_name']}: {summary['n_trials']} trials ({states})",
             f"best trial {summary['best_trial']}: validation {m} {summary[f'best_valid_{m}']:.4f}"]
    if summary.get("tie_break"):
        lines.append(f"tie: {summary['tie_break']}")
    if summary.get(f"defaults_valid_{m}") is not None:
        lines.append(f"defaults (trial 0): validation {m} {summary[f'defaults_valid_{m}']:.4f}")
    lines.append("best settings: " + " ".join(f"{k}={significant(v) if isinstance(v, float) else format_setting(v)}"
                                             for k, v in summary["best_settings"].items()))
    if summary.get("importance_note"):
        lines.append(summary["importance_note"])
    elif summary["importance"]:
        lines.append("importance: " + ", ".join(f"{k} {v:.2f}" for k, v in summary["importance"].items()))
    if summary.get("best_run"):
        lines += ["", "best configuration retrained:", format_metrics(summary["best_run_metrics"]), "",
                  f"run folder: {summary['best_run']}  (rerun: torchclassify train --config "
                  f"{summary['best_run']}/config.json)"]
    return "\n".join(lines)
