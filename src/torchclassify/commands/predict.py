"""`torchclassify predict RUN ROWS.csv`: labels (and probabilities) for new raw rows."""

from __future__ import annotations

import sys
from pathlib import Path

from .common import write_csv_atomically


def register(sub) -> None:
    predict = sub.add_parser("predict", help="predict labels (or probabilities) for new raw rows")
    predict.add_argument("run", type=Path, help="run folder written by train")
    predict.add_argument("input", type=Path, help="CSV/Parquet file of rows with the training columns")
    predict.add_argument("--proba", action="store_true", help="add one probability column per class")
    predict.add_argument("-o", "--output", type=Path, help="CSV to write (default: standard output)")
    predict.add_argument("--trust-custom-model", action="store_true", help="allow importing a custom model class")


def run(args) -> int:
    import pandas as pd

    from ..artifacts import load_model
    from ..data.sources import read_table
    from ..run_files import read_run_config

    classifier = load_model(args.run, trust_custom_model=args.trust_custom_model)
    rows = read_table(args.input)
    if classifier.labels.multilabel:
        result = classifier.predict(rows)
    else:
        target = read_run_config(args.run).get("data", {}).get("target") or "prediction"
        result = pd.DataFrame({target: classifier.predict(rows)})
    if args.proba:
        proba = classifier.predict_proba(rows)
        proba.columns = [f"proba_{c}" for c in proba.columns]
        result = pd.concat([result, proba], axis=1)
    if args.output is None:
        result.to_csv(sys.stdout, index=False)
    else:
        write_csv_atomically(result, args.output)
        print(f"wrote {len(result)} predictions to {args.output}", file=sys.stderr)
    return 0
