"""The report's HTML tables: summary, metrics, data, model and interpretation sections of report.html.

Each takes the run's `report.RunView` (`view`; not imported here, which would tie the two modules both ways)
and returns an HTML fragment; report.build_report puts them on the page.
"""

from __future__ import annotations

import html
import warnings

from .evaluate import PER_CLASS_KEYS
from .pages import table as _table

MAX_TABLE_CLASSES = 50  # rows of a per-class table in the page (metrics.json has them all)
REPORT_IMPORTANCE_ROWS = 2000  # permutation importance in the page shuffles a seeded sample of this many rows
REPORT_TOP_LOSSES = 5
REPORT_REPEATS = 3  # shuffles per column: importance costs columns x repeats + 1 passes over the sample


def interpretation_html(view) -> str:
    """Permutation importance, the most confused classes and the highest-loss rows of the evaluation split
    (interpret.py; `torchclassify inspect RUN` prints more, and explains one row)."""
    from .interpret import confused_pairs, losses_from_scores, permutation_importance, top_losses

    split = view.eval_split
    X, y = view.rows(split)
    try:
        importance = permutation_importance(view.classifier, X, y, n_repeats=REPORT_REPEATS,
                                            max_rows=REPORT_IMPORTANCE_ROWS)
        predicted = view.scores(split)  # the pictures' prediction: the split is not predicted again
        confused = confused_pairs(view.classifier, X, y, predicted=predicted)
        top = top_losses(view.classifier, X, y, REPORT_TOP_LOSSES, predicted)
        mean_loss = float(losses_from_scores(*predicted).mean())
    except Exception as err:  # as a picture that fails: the rest of the report still comes
        warnings.warn(f"report: the interpretation could not be computed: {type(err).__name__}: {err}", stacklevel=2)
        return f'<p class="muted">Not computed: {html.escape(str(err))}</p>'
    n_shuffled = int(importance["n_rows"].iloc[0])
    sampled = f" (a seeded sample of {n_shuffled:,} rows)" if n_shuffled < len(X) else ""
    parts = [f'<p class="muted">Permutation importance on the {split} split{sampled}: how much the mean loss '
             f"({mean_loss:.4f} on every row) rises when one raw column is shuffled, ± its spread over "
             f"{REPORT_REPEATS} shuffles. Near 0: the model does not use the column.</p>",
             _table(["column", "importance", "±"], importance[["column", "importance", "std"]].values.tolist())]
    if len(confused):
        parts.append(f"<h3>Most confused ({html.escape(split)})</h3>")
        parts.append(_table(["truth", "predicted", "rows", "share"], confused.values.tolist(), numeric_from=2))
    parts.append(f"<h3>Highest-loss {html.escape(split)} rows</h3><p class=\"muted\">Mislabelled rows often sit "
                 "here. <code>torchclassify inspect RUN</code> lists more and explains one row.</p>")
    columns = view.classifier.feature_columns
    rows = [[index, r["truth"], r["predicted"], _raw_values(r, columns), r["probability"], r["loss"]]
            for index, r in top.iterrows()]
    parts.append(_table(["row", "truth", "predicted", "values", "probability", "loss"], rows, numeric_from=4))
    return "\n".join(parts)


def _raw_values(row, columns, max_columns: int = 12, max_chars: int = 60) -> str:
    """'age=33, region=south, ...': a row's raw values in one cell that wraps (a column per value would not
    fit the page for a wide table)."""
    def shown(value) -> str:
        text = format(value, ".4g") if isinstance(value, float) else str(value)
        return text if len(text) <= max_chars else text[:max_chars - 1] + "…"

    text = ", ".join(f"{c}={shown(row[c])}" for c in columns[:max_columns])
    return text + (f", … ({len(columns) - max_columns} more)" if len(columns) > max_columns else "")


def summary_html(view) -> str:
    s = view.summary
    main = view.classifier.task.main_metric
    sizes = s.get("split_sizes", {})
    rows = [
        ["dataset", s.get("dataset", "-")],
        ["task", view.classifier.task_name],
        ["classes" if not view.classifier.labels.multilabel else "labels",
         ", ".join(str(c) for c in view.classifier.classes[:30]) + (" ..." if len(view.classifier.classes) > 30 else "")],
        ["rows", f"{s.get('n_rows', '-')} (train {sizes.get('train', '-')}, valid {sizes.get('valid', '-')}, "
                 f"test {sizes.get('test', '-')})"],
        ["recipe", _recipe(view)],
        ["epochs", f"{s.get('epochs_run', '-')} run, best {s.get('best_epoch') or '-'}"
                   + (f" ({s['stop_reason']})" if s.get("stop_reason") else "")],
        ["training time", _seconds(s.get("train_seconds"))],
        ["run time (loading, training, evaluation)", _seconds(s.get("seconds"))],
    ]
    for split in ("test", "valid"):
        value = view.metrics.get(split, {}).get(main)
        if isinstance(value, (int, float)):
            rows.append([f"{split} {main}", f"{value:.4f}"])
            break
    return _table(["", ""], rows, numeric_from=99)


def _recipe(view) -> str:
    """Which recipe trained the network, with what label smoothing, and the temperature that calibrated it
    (docs/defaults.md)."""
    recipe = view.classifier.model_config.recipe
    smoothing = ((view.config or {}).get("train") or {}).get("label_smoothing")
    temperature = view.summary.get("temperature")
    return (recipe + (f", label smoothing {smoothing:g}" if isinstance(smoothing, (int, float)) and smoothing else "")
            + (f" (probabilities temperature-scaled on validation: T = {temperature:.3g})"
               if isinstance(temperature, (int, float)) else ""))


def _seconds(value) -> str:
    return f"{value:.1f} s" if isinstance(value, (int, float)) else "-"  # (older run folders lack train_seconds)


def metrics_html(metrics: dict) -> str:
    splits = [name for name, values in metrics.items() if isinstance(values, dict) and values]
    if not splits:
        return '<p class="muted">No evaluation split.</p>'
    names = []
    for split in splits:
        names += [k for k, v in metrics[split].items() if (isinstance(v, float) or v is None) and k not in names]
    rows = [[name] + [metrics[split].get(name) for split in splits] for name in names]
    rows.append(["rows"] + [metrics[split].get("n_samples") for split in splits])
    parts = [_table(["metric"] + splits, rows)]
    for split in splits:
        keys = [k for k in PER_CLASS_KEYS if isinstance(metrics[split].get(k), dict)]
        if keys:
            classes = list(metrics[split][keys[0]])
            short = [k.replace("_per_class", "").replace("_per_label", "") for k in keys]
            parts.append(f"<h3>Per {'label' if 'f1_per_label' in keys else 'class'} ({html.escape(split)})</h3>")
            parts.append(_table(["class"] + short, [[c] + [metrics[split][k].get(c) for k in keys]
                                                    for c in classes[:MAX_TABLE_CLASSES]]))
            if len(classes) > MAX_TABLE_CLASSES:
                parts.append(f'<p class="muted">The first {MAX_TABLE_CLASSES} of {len(classes)} classes; every '
                             "class is in metrics.json.</p>")
    return "\n".join(parts)


def _names(names: list) -> str:
    return ", ".join(map(str, names[:40])) + (" ..." if len(names) > 40 else "") or "-"


def data_html(view) -> str:
    s = view.summary
    rows = [["rows", s.get("n_rows", "-")], ["raw columns", s.get("n_columns", "-")],
            ["numeric", _names(s.get("numeric_columns", []))],
            ["dates (as numbers)", _names(s.get("date_columns", []))],
            ["categorical", _names(s.get("categorical_columns", []))],
            ["left out", _names(s.get("dropped_columns", []))],
            ["model inputs after preprocessing", s.get("n_inputs", "-")]]
    parts = [_table(["", ""], rows, numeric_from=99)]
    if s.get("column_decisions"):
        parts.append("<h3>Column decisions</h3><p class=\"muted\">Made on the training rows; each can be "
                     "overridden with --keep COLUMN or --drop COLUMN.</p><ul>"
                     + "".join(f"<li>{html.escape(d)}</li>" for d in s["column_decisions"]) + "</ul>")
    counts = s.get("class_counts") or {}
    if counts:
        parts.append("<h3>Training rows per class</h3>")
        parts.append(_table(["class", "rows"], [[k, v] for k, v in list(counts.items())[:MAX_TABLE_CLASSES]]))
        if len(counts) > MAX_TABLE_CLASSES:
            parts.append(f'<p class="muted">The first {MAX_TABLE_CLASSES} of {len(counts)} classes.</p>')
    return "\n".join(parts)


def model_html(view) -> str:
    s = view.summary
    layers = s.get("layers") or []
    network = f"{html.escape(str(s['network']))}: " if s.get("network") else ""
    head = (f"<p>{network}{s.get('parameters', 0):,} parameters, trained on {html.escape(str(s.get('device', '-')))}; "
            f"threshold {html.escape(str(view.classifier.threshold))}.</p>")
    if not layers:
        return head
    return head + _table(["layer", "type", "details", "parameters"],
                         [[r.get("layer"), r.get("type"), r.get("details"), r.get("parameters")] for r in layers],
                         numeric_from=3)
