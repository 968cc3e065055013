"""`torchclassify predict RUN ROWS.csv`: labels (and probabilities) for new raw rows; for a model trained on
images, `torchclassify predict RUN photos/ more.png`: one row per image file."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from ..errors import ConfigError, DataError, printable
from .common import imports_kept, output_path


def register(sub) -> None:
    predict = sub.add_parser("predict", help="predict labels (or probabilities) for new raw rows")
    predict.add_argument("run", type=Path, help="run folder written by train")
    predict.add_argument("input", type=Path, nargs="+", help="CSV/Parquet file of rows with the training columns; "
                                                              "for a model trained on images: image files and "
                                                              "folders of them")
    predict.add_argument("--proba", action="store_true", help="add one probability column per class")
    predict.add_argument("--keep", metavar="COLUMNS", help="input columns copied into the output first, e.g. an "
                                                           "id to join the predictions back on: customer_id")
    predict.add_argument("--strict", action="store_true", help="refuse rows whose numeric or date columns hold "
                                                               "something else (default: treat it as missing, "
                                                               "and warn)")
    predict.add_argument("--decimals", type=int, default=6, metavar="N",
                         help="decimals of the probabilities (default 6)")
    predict.add_argument("-o", "--output", type=output_path, help="CSV to write (default: standard output)")
    predict.add_argument("--chunk-rows", type=int, default=65_536, metavar="N",
                         help="rows read, predicted and written at a time, so that files larger than memory "
                              "work (default 65536)")
    predict.add_argument("--trust-custom-model", action="store_true", help="allow importing a custom model class")


def execute(args) -> int:
    with imports_kept(args):
        from ..classifier import load_model
        from ..data.tables import iter_table
        from ..outputs import check_output, parents_made, write_output

    if args.chunk_rows < 1:
        raise ConfigError(f"--chunk-rows must be at least 1, got {args.chunk_rows}")
    if not 0 <= args.decimals <= 17:
        raise ConfigError(f"--decimals must be between 0 and 17, got {args.decimals}")
    keep = [c.strip() for c in (args.keep or "").split(",") if c.strip()]
    if args.output is not None:  # before anything is read: an output must never destroy an input or the model
        check_output(args.output, ConfigError, "-o", inputs=args.input, protected=[args.run])
    classifier = load_model(args.run, trust_custom_model=args.trust_custom_model)
    target = target_name(classifier, args.run)
    chunks = _image_chunks(classifier, args.input, args.chunk_rows)
    if chunks is None:
        if len(args.input) != 1:
            raise ConfigError(f"predict reads one table of rows, got {len(args.input)} inputs: combine them first")
        args.input = args.input[0]
        chunks = iter_table(args.input, args.chunk_rows, classifier.preprocessor.categorical_columns + keep,
                            getattr(classifier.preprocessor, "decimal", None), allow_empty=True)
        if hasattr(classifier.preprocessor, "image_shape"):  # a table of image paths, relative to its folder
            chunks = _resolved(chunks, classifier.preprocessor.column, args.input.parent)
    unusable: dict[str, int] = {}
    unseen: dict[str, Counter] = {}
    find_unseen = getattr(classifier.preprocessor, "unseen_categories", None)  # (not for images)

    def write(handle) -> int:
        """Predict chunk by chunk, appending each chunk's rows under one header; returns the row count."""
        n_rows = 0
        for rows in chunks:
            for column, count in classifier.unusable_values(rows).items():
                unusable[column] = unusable.get(column, 0) + count
            for column, values in (find_unseen(rows) if find_unseen else {}).items():
                unseen.setdefault(column, Counter()).update(values)
            if unusable and args.strict:
                raise DataError(f"{args.input}: {_unusable_text(unusable)} (--strict; without it they are treated "
                                "as missing)")
            table = prediction_table(classifier, rows, target, args.proba, keep)
            table.to_csv(handle, index=False, header=n_rows == 0, float_format=f"%.{args.decimals}f")
            n_rows += len(table)
        return n_rows

    if args.output is None:
        out = _Escaped(sys.stdout) if sys.stdout.isatty() else sys.stdout  # a pipe gets the labels as they are
        if args.strict:  # all or nothing: a refused value in a later chunk must not follow printed rows
            import io

            buffer = io.StringIO()
            write(buffer)
            out.write(buffer.getvalue())
        else:
            write(out)
        _warn_unusable(unusable)
        _warn_unseen(unseen)
        return 0
    written = []

    def write_file(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            written.append(write(handle))

    with parents_made(args.output):  # nor the folders made for it
        write_output(args.output, write_file)  # a file that fails partway leaves nothing behind
    _warn_unusable(unusable)
    _warn_unseen(unseen)
    if not args.quiet:
        print(f"wrote {written[0]} predictions to {args.output}", file=sys.stderr)
    return 0


def _warn_unseen(unseen: dict[str, dict[str, int]]) -> None:
    """One warning line for category values the model never saw in training (read as "other")."""
    if not unseen:
        return
    from ..classifier import describe_unseen

    print(f"warning: {describe_unseen(unseen, lambda value: repr(printable(value)[:30]))} - check their spelling, "
          "or retrain with rows that hold them", file=sys.stderr)


def _image_chunks(classifier, inputs: list[Path], chunk_rows: int):
    """For a model trained on images given image files and folders (not a table of paths): the rows, one
    image path each, chunk by chunk (the path column comes first in the output); else None."""
    from ..data.images import image_rows
    from ..data.sources import TABLE_SUFFIXES

    column = getattr(classifier.preprocessor, "image_shape", None) and classifier.preprocessor.column
    if not column or (len(inputs) == 1 and inputs[0].suffix.lower() in TABLE_SUFFIXES):
        return None
    rows = image_rows(inputs, column)
    return (rows.iloc[start:start + chunk_rows].reset_index(drop=True) for start in range(0, len(rows), chunk_rows))


def _resolved(chunks, column: str, base: Path):
    from ..data.images import resolve_paths

    for rows in chunks:
        if column in rows.columns:
            rows[column] = resolve_paths(rows[column], base)
        yield rows


def target_name(classifier, run: Path) -> str:
    """The label column's name in the output: the training target stored in model.json (older folders: their
    config.json's, read checked); "prediction" for several columns or none."""
    target = classifier.info.get("target")
    if "target" not in classifier.info:
        from ..run_folder import run_data_settings

        data = run_data_settings(run)
        target = None if data is None else data.target
    usable = isinstance(target, str) and target.strip() and len(target) <= 200 and not set(",*") & set(target)
    return target.strip() if usable else "prediction"


def _unusable_text(unusable: dict[str, int]) -> str:
    shown = ", ".join(f"{column}: {count}" for column, count in list(unusable.items())[:8])
    return (f"{sum(unusable.values())} value(s) in numeric or date columns are not numbers or dates ({shown})")


def _warn_unusable(unusable: dict[str, int]) -> None:
    if unusable:
        print(f"warning: {_unusable_text(unusable)}; they were treated as missing - check the input, or pass "
              "--strict to refuse such rows", file=sys.stderr)


def prediction_table(classifier, rows, target: str, proba: bool, keep: list[str] = ()):
    """The output rows for raw input rows: the `keep` columns as they came, the label column (multilabel:
    one 0/1 column per label) and, with proba, a proba_<class> column per class, from one forward pass."""
    import pandas as pd

    missing = [c for c in keep if c not in rows.columns]
    if missing:
        raise DataError(f"--keep names column(s) {missing} the input does not have")
    y_proba = classifier.predict_proba_tensor(rows)
    labels = classifier.labels_from_proba(y_proba)
    result = labels if classifier.labels.multilabel else pd.DataFrame({target: labels})
    column = getattr(classifier.preprocessor, "column", None)
    if column in rows.columns and column not in keep:  # images: which file each prediction is for
        keep = [column, *keep]
    if proba:
        probabilities = classifier.proba_frame(y_proba)
        probabilities.columns = [f"proba_{c}" for c in probabilities.columns]
        result = pd.concat([result, probabilities], axis=1)
    if keep:
        clash = [c for c in keep if c in result.columns]
        if clash:  # the input's column would replace the model's output of the same name
            raise DataError(f"--keep {', '.join(map(str, clash))}: the output has its own column of that name (the "
                            "prediction); rename the input column, or score labelled rows with `torchclassify evaluate`")
        result = pd.concat([rows[keep].reset_index(drop=True), result], axis=1)
    return result


class _Escaped:
    """A terminal as a file whose writes show control characters escaped (labels come from the data)."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> int:
        from ..errors import printable

        return self.stream.write(printable(text))
