"""`torchclassify inspect RUN`: the rows a run gets most wrong, the classes it confuses, the columns it relies on."""

from __future__ import annotations

import sys
from pathlib import Path

from .common import imports_kept, output_path


def register(sub) -> None:
    parser = sub.add_parser(
        "inspect", help="why a run predicts what it does: top losses, confused classes, column importance",
        description="Rebuild a run's rows from its config.json (same source, seed and split) and print, on the "
                    "test split: the rows with the highest loss, the most confused class pairs, each raw column's "
                    "permutation importance (the rise in mean loss when it is shuffled, with its spread over "
                    "--repeats), and which columns (and words of a text column) pushed one row's prediction.",
        epilog="example: torchclassify inspect runs/spam --row 12 -o inspect.json")
    parser.add_argument("run", type=Path, help="run folder written by train")
    parser.add_argument("--split", choices=("test", "valid"), default=None,
                        help="rows to inspect (default: test, else valid)")
    parser.add_argument("--data", dest="source", type=Path, metavar="FILE",
                        help="inspect every row of this labelled CSV/Parquet file instead of the run's own split")
    parser.add_argument("--target", help="with --data: the label column(s) (default: as in training)")
    parser.add_argument("--top", type=int, default=10, metavar="N", help="highest-loss rows to list (default 10)")
    parser.add_argument("--repeats", type=int, default=5, metavar="N",
                        help="shuffles per column for permutation importance (default 5)")
    parser.add_argument("--row", type=int, metavar="ROW",
                        help="the row to explain, by its number in the data (default: the highest-loss row)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the shuffles and sampled orders (default 0)")
    parser.add_argument("-o", "--output", type=output_path, metavar="FILE", help="also write everything as JSON")
    parser.add_argument("--trust-custom-model", action="store_true", help="allow importing a custom model class")


def execute(args) -> int:
    with imports_kept(args):
        from ..classifier import load_model
        from ..errors import ConfigError, DataError, printable
        from ..files import write_json
        from ..interpret import interpret
        from ..outputs import check_output, parents_made
        from ..report import RunView
        from ..run_folder import run_files

    if args.top < 1 or args.repeats < 1:
        raise ConfigError("--top and --repeats must be at least 1")
    if args.output is not None:
        check_output(args.output, ConfigError, "-o", inputs=[*run_files(args.run), args.source],
                     protected=[args.run])
    if args.source is not None:
        if args.split is not None:
            raise ConfigError("--split chooses among the run's own rows; with --data every row of the file is used")
        classifier = load_model(args.run, trust_custom_model=args.trust_custom_model)
        X, y = file_rows(classifier, args.source, args.target)
        background, split, note = X, args.source.name, ""  # no training rows at hand: the file's own mean
    else:
        if args.target is not None:
            raise ConfigError("--target names the label column(s) of --data FILE: give both, or neither")
        view = RunView.from_folder(args.run, trust_custom_model=args.trust_custom_model)
        if view.dataset is None:
            raise DataError(f"cannot inspect {args.run}: {view.data_note}; give --data FILE with labelled rows")
        split = args.split or view.eval_split
        if split is None or len(view.splits.get(split, ())) == 0:
            raise DataError(f"the run has no {split or 'test or validation'} rows to inspect")
        classifier, note = view.classifier, view.data_note
        X, y = view.rows(split)
        background = view.rows("train")[0]
    result = interpret(classifier, X, y, background=background, split=split, n_top=args.top,
                       n_repeats=args.repeats, row=args.row, seed=args.seed)
    if note and not args.quiet:
        print(f"note: {note}", file=sys.stderr)
    print(printable(text(result)))
    if args.output is not None:
        with parents_made(args.output):
            write_json(args.output, result.to_dict())
        print(f"\nwritten: {args.output}")
    return 0


def file_rows(classifier, path: Path, target: str | None):
    """(X, y) raw rows of a labelled file, its rows numbered from 0; target as in training unless given."""
    from ..data.sources import split_target
    from ..data.tables import read_table

    stored = classifier.info.get("target")  # the training target, kept in model.json
    target = target or (stored if isinstance(stored, str) else None)
    if not target and classifier.labels.multilabel:
        target = ",".join(map(str, classifier.classes))
    dataset = split_target(read_table(path), target, name=path.stem)
    return dataset.X, dataset.y


def text(result) -> str:
    """The console's account of an Interpretation."""
    import pandas as pd

    with pd.option_context("display.width", 120, "display.max_columns", 12, "display.max_colwidth", 30,
                           "display.float_format", "{:.4g}".format):
        lines = [f"highest-loss {result.split} rows (row = its number in the data):",
                 result.top_losses.to_string(), ""]
        confused = result.confused
        lines.append(f"most confused ({result.split} rows, truth -> predicted):")
        lines += [f"  {r.truth} -> {r.predicted}: {r.count} ({r.share:.0%} of those rows)"
                  for r in confused.itertuples()] or ["  no mistakes"]
        imp = result.importance
        n_rows = int(imp["n_rows"].iloc[0]) if len(imp) else 0
        sampled = f", a seeded sample of {n_rows:,} of {result.n_rows:,} rows" if n_rows < result.n_rows else ""
        lines += ["", f"permutation importance on {result.split}{sampled} ({result.mean_loss:.4g} mean loss; "
                      "rise when the column is shuffled, ± std over repeats):"]
        lines += [f"  {r.column:<24} {r.importance:+.4f} ± {r.std:.4f}" for r in imp.itertuples()]
        if result.contributions is not None:
            lines += ["", f"row {result.row}: what pushed it towards {result.explained!r} (+) or away (-) "
                          "(Shapley values, in logits):"]
            lines += [f"  {str(r.column):<24} {str(r.value)[:30]:<30} {r.contribution:+.4f}"
                      for r in result.contributions.itertuples()]
        if result.words is not None and len(result.words):
            lines += ["", f"row {result.row}: the words that pushed it most towards {result.explained!r} (+) or "
                          "away (-) (logit change when the word is taken out):"]
            lines += [f"  {r.column}: {r.term!r} {r.contribution:+.4f}" for r in result.words.itertuples()]
        lines += [f"note: {note}" for note in result.notes]
    return "\n".join(lines)
