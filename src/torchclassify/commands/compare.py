"""`torchclassify compare`: train a grid of variants as normal runs and rank them on the validation metric."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import make_config, setting_name
from ..errors import ConfigError, printable
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
        "compare", help="train a grid of variants (x seeds) and rank them on the validation metric",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Expand variants into normal runs under OUT/runs/, rank them on the mean validation metric "
                    "(test shown, never used to choose), and write ranking.csv, runs.csv, curves.png and "
                    "compare.html into OUT. The usual train flags set what every variant shares.",
        epilog="example (a linear model cannot separate circles, two ReLU layers can):\n"
               "  torchclassify compare --data circles --dropout 0 --batch-size 32 --vary hidden none 16,16 \\\n"
               "      --vary optimizer:lr sgd:0.1 adam:0.01 --seeds 2 --out runs/circles-compare\n"
               "grid file (TOML, or YAML with PyYAML): --grid grid.toml\n"
               "  seeds = 2\n  [base]\n  data = \"circles\"\n  [grid]\n  hidden = [\"none\", \"16,16\"]\n"
               "  \"optimizer:lr\" = [\"sgd:0.1\", \"adam:0.01\"]")
    parser.add_argument("--vary", nargs="+", action="append", metavar=("SETTING", "VALUE"), default=[],
                        help="a setting and its values, e.g. --vary dropout 0 0.2; several settings varied "
                             "together are joined with ':' (--vary optimizer:lr sgd:0.1 adam:0.01)")
    parser.add_argument("--grid", type=Path, metavar="FILE", help="a TOML/YAML file with base, grid and seeds")
    parser.add_argument("--seeds", type=int, help="train each variant with this many seeds (mean ± std)")
    add_config_argument(parser, "a config.json every variant starts from")
    parser.add_argument("--out", type=output_path, default=Path("runs/compare"), help="comparison folder")
    parser.add_argument("--overwrite", action="store_true",
                        help="start again, retraining every run (without it, rerunning the same command continues "
                             "an interrupted comparison, reusing its finished runs)")
    parser.add_argument("--progress", action="store_true", help="show each run's training progress")
    add_tracking_arguments(parser)
    add_setting_arguments(parser)


def execute(args) -> int:
    with imports_kept(args):
        from ..compare import compare, expand_grid, parse_value, ranking_text, read_grid_file, seed_list

    grid: dict = {}
    seeds = args.seeds
    base = config_from_args(args)
    if args.grid is not None:
        raw = read_grid_file(args.grid)
        given = given_settings(args)
        # The file's base settings sit under the flags: a flag on the command line wins.
        file_base = {setting_name(k): v for k, v in raw.get("base", {}).items()}
        file_base = {k: parse_value(k, v) for k, v in file_base.items() if k not in given}
        base = make_config(base, **file_base)
        grid.update(raw.get("grid", {}))
        seeds = seeds if seeds is not None else raw.get("seeds")
    for entry in args.vary:
        if len(entry) < 2:
            raise ConfigError(f"--vary {entry[0]} needs at least one value, e.g. --vary {entry[0]} VALUE1 VALUE2")
        grid[entry[0]] = entry[1:]
    if not grid:
        raise ConfigError("nothing to compare: give --vary SETTING VALUE... or --grid FILE")
    variants = expand_grid(grid)
    seeds = seed_list(seeds, base.train.seed)
    log = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    if log:
        log(f"comparing {len(variants)} variants x {len(seeds)} seed(s) = {len(variants) * len(seeds)} runs "
            f"into {args.out}")
    result = compare(base, variants, seeds=seeds, out=args.out, overwrite=args.overwrite,
                     progress="auto" if args.progress and not args.quiet else "quiet", log=log,
                     **tracking_options(args))
    print(printable(ranking_text(result)))
    print(f"\ncomparison: {result.out}  (ranking.csv, runs.csv, curves.png, compare.html; runs in {result.out / 'runs'})")
    return 0
