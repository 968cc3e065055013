"""`torchclassify evaluate RUN [--data SOURCE] [--split SPLIT]`: metrics of a trained run on labelled rows."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import ConfigError, printable
from .common import imports_kept

SPLITS = ("test", "valid", "train", "all")


def register(sub) -> None:
    evaluate = sub.add_parser(
        "evaluate", help="metrics of a trained run on labelled data",
        description="Metrics of a trained run. Without --data (or with the run's own dataset or file) it scores "
                    "one split of the run's own rows: the test split unless --split says otherwise. With another "
                    "file it scores every row, and warns when rows were in the run's training split.")
    evaluate.add_argument("run", type=Path, help="run folder written by train")
    evaluate.add_argument("--data", dest="source", help="CSV/Parquet file or built-in dataset (default: the run's own)")
    evaluate.add_argument("--target", help="label column(s) (default: as in training)")
    evaluate.add_argument("--split", choices=SPLITS, help="the run's own data: which split (default test)")
    evaluate.add_argument("--trust-custom-model", action="store_true", help="allow importing a custom model class")


def execute(args) -> int:
    with imports_kept(args):
        from ..classifier import load_model
        from ..data.prepare import rebuild_rows
        from ..data.sources import BUILTINS, load_data
        from ..evaluate import format_metrics
        from ..run_folder import read_run_settings

    classifier = load_model(args.run, trust_custom_model=args.trust_custom_model)
    config = read_run_settings(args.run)  # checked: a hostile config.json is one line; None without one
    own = config.data.source if config is not None else None
    source = args.source or own
    if source is None:
        raise ConfigError(f"{args.run} has no config.json naming its data: give --data FILE")
    if _is_own(source, own):
        split = _own_split(args.split, config)
        if config.data.stream:
            metrics, n_rows = evaluate_streamed_split(classifier, config, split)
        else:
            dataset, splits, _ = rebuild_rows(config, classifier.info.get("summary") or {})
            rows = slice(None) if split == "all" else splits[split]
            metrics = classifier.evaluate(dataset.X.iloc[rows], dataset.y.iloc[rows])
            n_rows = metrics["n_samples"]
        if not args.quiet:
            print(f"evaluated the {split} split of the run's own data ({n_rows} rows)"
                  + ("" if args.split else "; --split test|valid|train|all to choose"), file=sys.stderr)
        name = f"{Path(str(source)).name}:{split}"
    elif args.split is not None:
        raise ConfigError("--split chooses among the run's own rows; with another --data every row is scored")
    elif source in BUILTINS:
        dataset = load_data(source, n_samples=config.data.n_samples if config else None,
                            noise=config.data.noise if config else None)
        metrics, name = classifier.evaluate(dataset.X, dataset.y), source
    else:
        stored = classifier.info.get("target")  # the training target, kept in model.json
        target = args.target or (stored if isinstance(stored, str) else None) or (config and config.data.target)
        if not target and classifier.labels.multilabel:
            target = ",".join(map(str, classifier.classes))
        metrics = evaluate_file(classifier, Path(source), target, args.run, quiet=args.quiet)
        name = Path(source).name
    print(printable(format_metrics({name: metrics})))
    return 0


def _own_split(asked: str | None, config) -> str:
    """The split of the run's own rows to score: the one asked for, else test, else validation; a split the
    run was trained without is a clear error rather than "the data is empty"."""
    from ..errors import DataError

    sizes = {"test": config.data.test_size, "valid": config.data.valid_size}
    split = asked or ("test" if sizes["test"] > 0 or sizes["valid"] == 0 else "valid")
    if sizes.get(split, 1) == 0:
        flag = "--test-size" if split == "test" else "--valid-size"
        others = " or ".join(s for s in ("test", "valid", "train") if sizes.get(s, 1) > 0 and s != split)
        raise DataError(f"the run has no {split} rows (it was trained with {flag} 0): choose --split {others}, "
                        "or give --data FILE with labelled rows")
    return split


def evaluate_streamed_split(classifier, config, split: str) -> tuple[dict, int]:
    """Metrics on one split of a streamed run's own Parquet file, read a chunk at a time (the split redone
    from the targets, as training did); returns (metrics, rows)."""
    import numpy as np
    import torch

    from ..data.sources import unlabelled
    from ..data.stream import ParquetTable
    from ..data.streamed import split_labelled_rows
    from ..evaluate import compute_metrics

    table = ParquetTable(config.data.source, config.data.target, config.data.chunk_rows)
    y = table.read_targets()  # (rows with no label: in no split, and not among "all")
    rows = (np.flatnonzero(~unlabelled(y, table.name)) if split == "all"
            else split_labelled_rows(y, config, table.name, warn=False)[3][split])
    probabilities, labels = [], []
    for _, part, frame in table.iter_rows(rows):
        probabilities.append(classifier.predict_proba_tensor(frame))
        labels.append(torch.as_tensor(classifier.labels.encode(y.iloc[rows[part]])))
    metrics = compute_metrics(classifier.task, torch.cat(probabilities), torch.cat(labels), classifier.classes,
                              classifier.threshold)
    return metrics, len(rows)


def _is_own(source: str, own: str | None) -> bool:
    """Whether `source` is the dataset or file the run trained on."""
    from ..files import same_file

    return own is not None and (str(source) == str(own) or same_file(source, own))


def evaluate_file(classifier, path: Path, target: str | None, run_dir: Path | None = None,
                  chunk_rows: int = 65_536, quiet: bool = False) -> dict:
    """Metrics on a labelled CSV/Parquet file read a chunk at a time: only the probabilities and labels
    ((n, n_classes) and (n,) numbers) are kept, so files larger than memory evaluate too. With run_dir, a
    warning on stderr when rows of the file were in the run's training split."""
    import torch

    from ..data.sources import say_unlabelled, split_target, unlabelled_mask
    from ..data.tables import iter_table
    from ..evaluate import compute_metrics

    known, columns = _training_hashes(run_dir)
    probabilities, labels, overlapping, n_rows, n_unlabelled = [], [], 0, 0, 0
    for rows in iter_table(path, chunk_rows, classifier.preprocessor.categorical_columns,
                           getattr(classifier.preprocessor, "decimal", None)):
        if known is not None and all(c in rows.columns for c in columns):
            from ..data.row_hashes import overlap, row_hashes

            overlapping += overlap(row_hashes(rows, columns), known)
        dataset = split_target(rows, target, name=path.stem, drop_unlabelled=False)
        scored = ~unlabelled_mask(dataset.y)  # (counted over the whole file, said once below)
        n_rows, n_unlabelled = n_rows + len(rows), n_unlabelled + int((~scored).sum())
        if scored.any():
            probabilities.append(classifier.predict_proba_tensor(dataset.X[scored]))
            labels.append(torch.as_tensor(classifier.labels.encode(dataset.y[scored])))
    say_unlabelled(n_unlabelled, n_rows, dataset.y.columns, path.stem)
    if overlapping and not quiet:
        print(f"warning: {overlapping} of {n_rows} rows ({overlapping / n_rows:.0%}) of {path} were in the run's "
              "training split: these metrics flatter the model - evaluate on rows it never saw", file=sys.stderr)
    return compute_metrics(classifier.task, torch.cat(probabilities), torch.cat(labels), classifier.classes,
                           classifier.threshold)


def _training_hashes(run_dir: Path | None):
    """(the run's training-row hashes, the columns they cover), or (None, None) when the run kept none."""
    import json

    from ..data.row_hashes import HASHES
    from ..errors import ModelFileError
    from ..files import read_safetensors_header

    if run_dir is None or not (Path(run_dir) / HASHES).exists():
        return None, None
    path = Path(run_dir) / HASHES
    read_safetensors_header(path, ModelFileError)
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as handle:
        columns = json.loads((handle.metadata() or {}).get("columns", "[]"))
        return handle.get_tensor("hashes"), [str(c) for c in columns]
