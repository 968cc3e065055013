"""`torchclassify convert BIG.csv BIG.parquet`: a CSV larger than memory, made ready for `train --stream`."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import ConfigError


def register(sub) -> None:
    convert = sub.add_parser("convert", help="turn a CSV (larger than memory) into a Parquet file for --stream")
    convert.add_argument("source", type=Path, help="CSV/TSV file")
    convert.add_argument("destination", type=Path, help="Parquet file to write")
    convert.add_argument("--row-group-rows", type=int, default=16_384, metavar="N",
                         help="rows per row group; small groups let streamed chunks mix rows from all over "
                              "the file (default 16384)")
    convert.add_argument("--overwrite", action="store_true", help="replace an existing destination")


def execute(args) -> int:
    from ..data.convert import csv_to_parquet

    if args.row_group_rows < 1:
        raise ConfigError(f"--row-group-rows must be at least 1, got {args.row_group_rows}")
    if args.destination.suffix.lower() not in (".parquet", ".pq"):
        raise ConfigError(f"the destination {args.destination} must end in .parquet or .pq")
    if args.destination.exists() and not args.overwrite:
        raise ConfigError(f"{args.destination} exists: choose another name or add --overwrite")
    result = csv_to_parquet(args.source, args.destination, args.row_group_rows)
    text = sum(t == "text" for t in result["types"].values())
    print(f"wrote {result['rows']:,} rows x {result['columns']} columns ({text} as text) in "
          f"{result['row_groups']} row groups to {args.destination}\n"
          f"train from it with: torchclassify train --data {args.destination} --target COLUMN --stream",
          file=sys.stderr)
    return 0
