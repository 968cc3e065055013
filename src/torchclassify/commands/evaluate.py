"""`torchclassify evaluate RUN --data FILE`: metrics of a trained run on labelled rows."""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    evaluate = sub.add_parser("evaluate", help="metrics of a trained run on labelled data")
    evaluate.add_argument("run", type=Path, help="run folder written by train")
    evaluate.add_argument("--data", dest="source", required=True, help="CSV/Parquet file or built-in dataset")
    evaluate.add_argument("--target", help="label column(s) (default: as in training)")
    evaluate.add_argument("--trust-custom-model", action="store_true", help="allow importing a custom model class")


def execute(args) -> int:
    from ..classifier import load_model
    from ..data.sources import BUILTINS, load_data
    from ..evaluate import format_metrics
    from ..run_folder import run_data_settings

    classifier = load_model(args.run, trust_custom_model=args.trust_custom_model)
    config_data = run_data_settings(args.run)  # checked: a hostile config.json is one line
    if args.source in BUILTINS:
        dataset = load_data(args.source, n_samples=getattr(config_data, "n_samples", None),
                            noise=getattr(config_data, "noise", None))
        metrics = classifier.evaluate(dataset.X, dataset.y)
    else:
        stored = classifier.info.get("target")  # the training target, kept in model.json
        target = args.target or (stored if isinstance(stored, str) else None) or getattr(config_data, "target", None)
        if not target and classifier.labels.multilabel:
            target = ",".join(map(str, classifier.classes))
        metrics = evaluate_file(classifier, Path(args.source), target)
    print(format_metrics({Path(args.source).name: metrics}))
    return 0


def evaluate_file(classifier, path: Path, target: str | None, chunk_rows: int = 65_536) -> dict:
    """Metrics on a labelled CSV/Parquet file read a chunk at a time: only the probabilities and labels
    ((n, n_classes) and (n,) numbers) are kept, so files larger than memory evaluate too."""
    import torch

    from ..data.sources import split_target
    from ..data.tables import iter_table
    from ..evaluate import compute_metrics

    probabilities, labels = [], []
    for rows in iter_table(path, chunk_rows, classifier.preprocessor.categorical_columns):
        dataset = split_target(rows, target, name=path.stem)
        probabilities.append(classifier.predict_proba_tensor(dataset.X))
        labels.append(torch.as_tensor(classifier.labels.encode(dataset.y)))
    return compute_metrics(classifier.task, torch.cat(probabilities), torch.cat(labels), classifier.classes,
                           classifier.threshold)
