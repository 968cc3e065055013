"""Rows ready to train on: split, preprocessing fitted on the training split, targets encoded.

`PreparedData` is what training needs from the data, whether the table sits in memory (`InMemoryData`,
here) or is read a chunk at a time from a Parquet file (`data.streamed.StreamedData`): the training rows as
tensors (or chunks of them), the validation rows early stopping scores, every evaluated row's features for
the final metrics, and a bounded sample of raw rows for the report's pictures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import pandas as pd
import torch

from ..config import RunConfig
from ..errors import ConfigError, DataError
from .images import ImagePreprocessor
from .labels import LabelEncoding
from .preprocess import Preprocessor, is_numeric
from .sources import Dataset
from .split import split_targets
from .stream import sample_rows
from .tensors import ChunkedData, TensorData


@dataclass
class PreparedData:
    """The split rows and their fitted preprocessing; subclasses say where the features come from.

    codes: every row's encoded target, (n,) int64 or (n, L) float32; y: every row's raw target(s);
    splits: {"train", "valid", "test": sorted row indices}.
    """

    name: str
    n_columns: int
    task_name: str
    labels: LabelEncoding
    codes: np.ndarray
    y: pd.DataFrame
    splits: dict[str, np.ndarray]
    preprocessor: Preprocessor

    @property
    def n_rows(self) -> int:
        return len(self.codes)

    def class_counts(self) -> dict[str, int]:
        """Training rows per class (multilabel: positive rows per label)."""
        y = self.y.iloc[self.splits["train"]]
        if self.labels.multilabel:
            return {str(c): int(y[c].sum()) for c in self.labels.classes}
        counts = y.iloc[:, 0].map(str).value_counts()
        return {str(c): int(counts.get(str(c), 0)) for c in self.labels.classes}

    def targets(self, rows: np.ndarray, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """Encoded targets of `rows` as a tensor on `device`: (n,) or (n, L)."""
        return torch.as_tensor(self.codes[rows]).to(device, dtype)

    def training_data(self, device: torch.device, dtype: torch.dtype, seed: int) -> TensorData | ChunkedData:
        raise NotImplementedError

    def validation_data(self, device: torch.device, dtype: torch.dtype) -> TensorData | None:
        """The validation rows early stopping scores after each epoch (None without a validation split)."""
        raise NotImplementedError

    def training_sample(self, max_rows: int, seed: int) -> np.ndarray:
        """Features (m, n_inputs) float32 of at most max_rows seeded training rows, for statistics the
        network takes from the training data (its quantile bins: models.make_fitted_model)."""
        raise NotImplementedError

    def iter_features(self, names: list[str]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every row of the named splits as (row indices, features (n, n_inputs) float32), part by part."""
        raise NotImplementedError

    def picture_rows(self) -> tuple[Dataset, dict[str, np.ndarray], str]:
        """Raw rows for pictures: (Dataset, {split: indices into it}, a note when they are a sample)."""
        raise NotImplementedError

    def describe(self) -> dict:
        """Entries for the run summary beyond the common ones (streaming's chunking)."""
        return {}


@dataclass
class InMemoryData(PreparedData):
    """A table that fits in memory: every split transformed once, at preparation."""

    dataset: Dataset | None = None
    features: dict[str, np.ndarray] | None = None  # {split: (n_split, n_inputs) float32}
    sample_weight: np.ndarray | None = None  # (n_rows,) every row's weight, when the caller gave them

    def training_data(self, device, dtype, seed) -> TensorData:
        data = self._tensors("train", device, dtype)
        if self.sample_weight is not None:
            data.w = torch.as_tensor(self.sample_weight[self.splits["train"]], dtype=torch.float32).to(device)
        return data

    def validation_data(self, device, dtype) -> TensorData | None:
        return self._tensors("valid", device, dtype) if len(self.splits["valid"]) else None

    def _tensors(self, split: str, device, dtype) -> TensorData:
        return TensorData(torch.from_numpy(self.features[split]).to(device),
                          self.targets(self.splits[split], device, dtype))

    def training_sample(self, max_rows, seed):
        train = self.features["train"]
        kept = np.arange(len(train))
        if self.sample_weight is not None:  # weight 0 is as if absent, as for the preprocessing
            kept = kept[self.sample_weight[self.splits["train"]] > 0]
        return train[sample_rows(kept, max_rows, (seed, 4))]

    def iter_features(self, names):
        for name in names:
            yield self.splits[name], self.features[name]

    def picture_rows(self):
        return self.dataset, self.splits, ""

    def describe(self):
        if self.dataset is None or self.dataset.image_column is None:
            return {}
        return {"images": {"shape": list(self.preprocessor.image_shape), "source": self.dataset.description}}


TABULAR_MIN_ROWS = 1_000  # training rows from which --recipe auto is "tabular" (see choose_recipe)
ENSEMBLE_MEMBERS = 4  # networks averaged by default (see choose_members)
# From this many training rows the ensemble has LARGE_TABLE_MEMBERS networks (see choose_members), each taking
# engine.defaults.LARGE_MEMBER_BATCH rows a step (large_ensemble_batch).
LARGE_ENSEMBLE_ROWS, LARGE_TABLE_MEMBERS = 20_000, 2
PIECEWISE_MAX_INPUTS = 2048  # a binned member's inputs past which no member is binned (see choose_piecewise)


def fit_preprocessor(X_train: pd.DataFrame, config: RunConfig, targets=(), n_train: int | None = None) -> Preprocessor:
    """The preprocessing fitted on training rows, with the run's column choices (--drop, --keep).

    Resolves --recipe auto and the ensemble's --members here, in place (config.json stores what ran).
    targets: the label column(s), which the column flags must not name (they are not features).
    n_train: the training split's rows, when X_train is a sample of them (a streamed file); default len(X_train).
    """
    d, m = config.data, config.model
    if m.recipe == "auto":
        m.recipe = choose_recipe(X_train, m.custom, has_valid=d.valid_size > 0)
    if m.members is None:
        m.members = choose_members(m.recipe, m.custom, m.hidden, len(X_train) if n_train is None else n_train)
    if m.piecewise is not None and (m.piecewise > m.members or (m.piecewise and m.recipe != "tabular")):
        raise ConfigError(f"--piecewise {m.piecewise}: this run's ensemble is {m.members} {m.recipe} network(s); "
                          "piecewise members are at most --members tabular ones: lower --piecewise")
    preprocessor = Preprocessor.fit(X_train, drop=d.drop, keep=d.keep, auto=d.detect_columns, text=d.text,
                                    no_text=d.no_text, numeric_scaling=d.numeric_scaling, targets=targets,
                                    log_skewed=d.log_skewed)
    if m.piecewise is None:
        m.piecewise = choose_piecewise(m.recipe, m.members, preprocessor.n_features_out,
                                       len(preprocessor.number_inputs))
    return preprocessor


def choose_recipe(X_train: pd.DataFrame, custom: str | None = None, has_valid: bool = True) -> str:
    """"tabular" for TABULAR_MIN_ROWS+ training rows with a validation split; "mlp" otherwise, for a table of
    at most 2 columns, all numeric (the 2-D toy sets: a geometry problem where the plain MLP draws smooth
    boundaries), and for the user's own network.

    Why the rows and the split: the recipe's embeddings add capacity that only early stopping keeps from
    overfitting, and its temperature is fitted on the validation rows. Without them (the estimator below
    2,000 rows trains every row for a fixed budget) it measured worse: digits log-loss 0.24 against the
    plain MLP's 0.09 (docs/quality.md).
    """
    if custom or not has_valid or len(X_train) < TABULAR_MIN_ROWS:
        return "mlp"
    return "mlp" if few_numbers(X_train) else "tabular"


def few_numbers(X: pd.DataFrame) -> bool:
    """At most 2 columns, all numeric: the 2-D toy sets."""
    return X.shape[1] <= 2 and all(is_numeric(X[c]) for c in X.columns)


def choose_members(recipe: str, custom: str | None = None, hidden=(512,), n_train: int = 0) -> int:
    """ENSEMBLE_MEMBERS networks averaged for the tabular recipe, LARGE_TABLE_MEMBERS from LARGE_ENSEMBLE_ROWS
    training rows; one for the plain MLP, the user's own network and a linear model (hidden=[]: an average of
    linear models is one linear model).

    Why not the plain MLP: on the small tables that keep it the ensemble moved accuracy by at most one row
    (docs/quality.md) for four times the fit time, and a fast fit on a small table is what cross-validation
    and grid searches multiply (issue #19). Why two on large tables: there a member's step takes 256 rows
    (engine/defaults.large_ensemble_batch), so a row costs the same with two members as with four, but each
    member sees half the rows an epoch and the run stops sooner, at about the same accuracy (docs/quality.md,
    nineteenth round). The estimator's refit and pilot pass the judged run's members on, so a refit on more
    rows rebuilds the same network.
    """
    if custom or not hidden or recipe == "mlp":
        return 1
    return LARGE_TABLE_MEMBERS if n_train >= LARGE_ENSEMBLE_ROWS else ENSEMBLE_MEMBERS


def choose_piecewise(recipe: str, members: int, n_inputs: int = 0, n_numbers: int = 0) -> int:
    """Half of a tabular ensemble's members (rounded down) also read the numbers in quantile bins; none
    elsewhere, nor where a binned member would read more than PIECEWISE_MAX_INPUTS inputs (n_inputs
    features plus PIECEWISE_BINS per number column: past ~120 number columns).

    Why half, not all: the bins alone cost up to 2 points on tables a smooth view suits (credit, churn),
    while half the members reading them gained where trees lead (hpc +1.3 and +2.1 points on two seeds,
    diamonds +0.6) and cost at most 0.6 elsewhere (docs/quality.md, sixth round). Why not on wide tables:
    no table with more than 85 number columns was measured (caravan, 85: level), and the binned members'
    first layer grows with the columns while a plain member's stops growing past MAX_EMBEDDED inputs
    (600 number columns: a fit 6.5x slower, docs/defaults.md).
    """
    from ..models import binned_inputs

    if recipe != "tabular" or binned_inputs(n_inputs, n_numbers) > PIECEWISE_MAX_INPUTS:
        return 0
    return members // 2


def prepare_in_memory(dataset: Dataset, config: RunConfig, sample_weight=None) -> InMemoryData:
    """Split, fit the preprocessing on the training rows only, and transform every split once.

    sample_weight: (n_rows,) non-negative weights, one per row (training rows are weighted in the loss).
    """
    if sample_weight is not None:
        sample_weight = check_sample_weight(sample_weight, len(dataset.X))
        if config.data.augment == "mixup":
            raise ConfigError("mixup blends pairs of rows, which sample weights cannot follow: drop one of them")
    task_name, labels, codes, splits = split_targets(dataset.y, config)
    train = splits["train"]
    if sample_weight is not None:  # the statistics come from the rows that count: weight 0 is as if absent
        train = train[sample_weight[train] > 0]
    decoded = {}  # split -> its features, already made while fitting
    if dataset.image_column is not None:  # each image decoded once: the training split's while fitting
        preprocessor, pixels = ImagePreprocessor.fit_decoded(dataset.X.iloc[train], config.data.image_size)
        if len(train) == len(splits["train"]):  # (not when weight-0 rows were left out of the fit)
            decoded["train"] = preprocessor.normalise(pixels)
    else:
        preprocessor = fit_preprocessor(dataset.X.iloc[train], config, dataset.y.columns, len(splits["train"]))
    features = {name: decoded[name] if name in decoded else transform_rows(preprocessor, dataset.X, idx)
                for name, idx in splits.items()}
    return InMemoryData(dataset.name, dataset.X.shape[1], task_name, labels, codes, dataset.y, splits,
                        preprocessor, dataset=dataset, features=features, sample_weight=sample_weight)


def transform_rows(preprocessor: Preprocessor, X: pd.DataFrame, rows: np.ndarray,
                   chunk_rows: int = 32768) -> np.ndarray:
    """X's `rows` transformed: (len(rows), n_features_out) float32, a chunk of rows at a time, so that the raw
    rows copied out of X (X.iloc) are a chunk's rather than a whole split's beside its features."""
    if len(rows) <= chunk_rows:
        return preprocessor.transform(X.iloc[rows])
    out = np.empty((len(rows), preprocessor.n_features_out), dtype=np.float32)
    for start in range(0, len(rows), chunk_rows):
        out[start:start + chunk_rows] = preprocessor.transform(X.iloc[rows[start:start + chunk_rows]])
    return out


def check_sample_weight(sample_weight, n_rows: int) -> np.ndarray:
    """(n_rows,) float64 weights; DataError unless one finite, non-negative weight per row, not all zero."""
    weights = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
    if len(weights) != n_rows:
        raise DataError(f"sample_weight has {len(weights)} values for {n_rows} rows: give one per row")
    if not np.isfinite(weights).all() or (weights < 0).any() or weights.sum() == 0:
        raise DataError("sample_weight must be finite, non-negative and not all zero")
    return weights
