"""`torchclassify predict RUN ROWS.csv`: labels (and probabilities) for new raw rows."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import ConfigError
from .common import output_path


def register(sub) -> None:
    predict = sub.add_parser("predict", help="predict labels (or probabilities) for new raw rows")
    predict.add_argument("run", type=Path, help="run folder written by train")
    predict.add_argument("input", type=Path, help="CSV/Parquet file of rows with the training columns")
    predict.add_argument("--proba", action="store_true", help="add one probability column per class")
    predict.add_argument("-o", "--output", type=output_path, help="CSV to write (default: standard output)")
    predict.add_argument("--chunk-rows", type=int, default=65_536, metavar="N",
                         help="rows read, predicted and written at a time, so that files larger than memory "
                              "work (default 65536)")
    predict.add_argument("--trust-custom-model", action="store_true", help="allow importing a custom model class")


def execute(args) -> int:
    from ..classifier import load_model
    from ..data.tables import iter_table
    from ..files import check_output, make_parents, write_output
    from ..run_folder import remove_created_parents

    if args.chunk_rows < 1:
        raise ConfigError(f"--chunk-rows must be at least 1, got {args.chunk_rows}")
    if args.output is not None:  # before anything is read: an output must never destroy an input or the model
        check_output(args.output, ConfigError, "-o", inputs=[args.input], protected=[args.run])
    classifier = load_model(args.run, trust_custom_model=args.trust_custom_model)
    target = target_name(classifier, args.run)
    chunks = iter_table(args.input, args.chunk_rows, classifier.preprocessor.categorical_columns)

    def write(handle) -> int:
        """Predict chunk by chunk, appending each chunk's rows under one header; returns the row count."""
        n_rows = 0
        for rows in chunks:
            table = prediction_table(classifier, rows, target, args.proba)
            table.to_csv(handle, index=False, header=n_rows == 0)
            n_rows += len(table)
        return n_rows

    if args.output is None:
        write(sys.stdout)
        return 0
    written = []

    def write_file(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            written.append(write(handle))

    created = make_parents(args.output)
    try:
        write_output(args.output, write_file)  # a file that fails partway leaves nothing behind
    except BaseException:
        remove_created_parents(created)  # nor the folders made for it
        raise
    print(f"wrote {written[0]} predictions to {args.output}", file=sys.stderr)
    return 0


def target_name(classifier, run: Path) -> str:
    """The label column's name in the output: the training target stored in model.json (older folders: their
    config.json's, read checked), else "prediction"."""
    target = classifier.info.get("target")
    if "target" not in classifier.info:
        from ..run_folder import run_data_settings

        data = run_data_settings(run)
        target = None if data is None else data.target
    return target.strip() if isinstance(target, str) and target.strip() and len(target) <= 200 else "prediction"


def prediction_table(classifier, rows, target: str, proba: bool):
    """The output rows for raw input rows: the label column (multilabel: one 0/1 column per label) and,
    with proba, a proba_<class> column per class, from a single forward pass."""
    import pandas as pd

    y_proba = classifier.predict_proba_tensor(rows)
    labels = classifier.labels_from_proba(y_proba)
    result = labels if classifier.labels.multilabel else pd.DataFrame({target: labels})
    if proba:
        probabilities = classifier.proba_frame(y_proba)
        probabilities.columns = [f"proba_{c}" for c in probabilities.columns]
        result = pd.concat([result, probabilities], axis=1)
    return result
