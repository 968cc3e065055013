"""A trained classifier that takes raw rows: preprocessing + network + labels + threshold, in one object.

`torchclassify.load(run_dir)` returns one; `predict` gives back the original labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn

from .config import ModelConfig
from .data.labels import LabelEncoding
from .data.preprocess import Preprocessor
from .errors import DataError
from .tasks import Task, get_task


@dataclass
class TrainedClassifier:
    """Everything needed to predict on raw rows.

    model: maps (n, n_inputs) float32 to (n, n_outputs) logits.
    preprocessor: raw columns -> (n, n_inputs), fitted on the training split.
    labels: the classes (or label names) in output order.
    """

    model: nn.Module
    task_name: str
    preprocessor: Preprocessor
    labels: LabelEncoding
    model_config: ModelConfig
    threshold: float = 0.5
    info: dict = field(default_factory=dict)  # data summary, run notes; saved in model.json

    @property
    def task(self) -> Task:
        return get_task(self.task_name)

    @property
    def classes(self) -> list:
        return list(self.labels.classes)

    @property
    def feature_columns(self) -> list[str]:
        return self.preprocessor.input_columns

    def _frame(self, X) -> pd.DataFrame:
        """Accept a DataFrame, a dict of columns, or a 2-D array in training column order."""
        if isinstance(X, pd.DataFrame):
            return X
        if isinstance(X, dict):
            return pd.DataFrame(X)
        array = np.asarray(X)
        if array.ndim != 2 or array.shape[1] != len(self.feature_columns):
            raise DataError(f"expected rows with {len(self.feature_columns)} columns "
                            f"({', '.join(self.feature_columns[:6])}...), got an array of shape {array.shape}")
        return pd.DataFrame(array, columns=self.feature_columns)

    def transform(self, X) -> torch.Tensor:
        """Raw rows -> (n, n_inputs) float32 tensor on the model's device."""
        device = next(self.model.parameters()).device
        return torch.from_numpy(self.preprocessor.transform(self._frame(X))).to(device)

    def predict_logits(self, X) -> torch.Tensor:
        """Raw rows -> logits (binary (n,), otherwise (n, n_outputs)) on the CPU."""
        from .engine.loop import predict_logits

        return self.task.squeeze_logits(predict_logits(self.model, self.transform(X))).cpu()

    def predict_proba_tensor(self, X) -> torch.Tensor:
        """Raw rows -> probabilities: binary (n,) P(positive), otherwise (n, n_classes)."""
        return self.task.to_proba(self.predict_logits(X))

    def predict_proba(self, X) -> pd.DataFrame:
        """Raw rows -> a DataFrame of probabilities, one column per class (binary: both classes)."""
        return self.proba_frame(self.predict_proba_tensor(X))

    def predict(self, X):
        """Raw rows -> original labels: (n,) array, or for multilabel an (n, L) 0/1 DataFrame."""
        return self.labels_from_proba(self.predict_proba_tensor(X))

    def proba_frame(self, y_proba: torch.Tensor) -> pd.DataFrame:
        """predict_proba_tensor's output -> one probability column per class (binary: both classes)."""
        y_proba = y_proba.numpy()
        if y_proba.ndim == 1:  # binary: P(negative), P(positive)
            y_proba = np.column_stack([1.0 - y_proba, y_proba])
        return pd.DataFrame(y_proba, columns=[str(c) for c in self.classes])

    def labels_from_proba(self, y_proba: torch.Tensor):
        """predict_proba_tensor's output -> original labels, as `predict` returns them (one forward pass
        serves both when a caller wants labels and probabilities)."""
        codes = self.task.to_labels(y_proba, self.threshold).numpy()
        if self.labels.multilabel:
            return pd.DataFrame(codes, columns=self.classes)
        return self.labels.decode(codes)

    def evaluate(self, X, y) -> dict:
        """Metrics of the predictions on raw rows X against raw targets y (Series or DataFrame)."""
        from .evaluate import compute_metrics

        y_frame = y.to_frame() if isinstance(y, pd.Series) else pd.DataFrame(y)
        y_true = torch.as_tensor(self.labels.encode(y_frame))
        return compute_metrics(self.task, self.predict_proba_tensor(X), y_true, self.classes, self.threshold)

    def save(self, path, **kwargs):
        """Write weights (safetensors) and model.json into the folder `path`; see artifacts.save_model."""
        from .artifacts import save_model

        return save_model(self, path, **kwargs)
