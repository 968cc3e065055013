"""The contestants: one `train_<peer>(work, data, threads)` per peer, each training and returning a function
that predicts the test rows (logits (n_test, n_outputs)); run.py times the training alone, as the columns
"train s" and "samples/s" say and as the GEMM floor counts (training products only).

Every peer gets the same arrays, the same MLP (torchclassify.models.MLP, seeded identically), the same
optimizer and hyperparameters; only the way the loop is driven differs. Imports of the heavy peers
(skorch, lightning) happen inside their functions so that each worker process pays only for its own.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from torchclassify.models import MLP


def _model(work) -> nn.Module:
    torch.manual_seed(work.seed)
    return MLP(work.n_features, work.n_outputs, list(work.hidden))


def _optimizer(work, params):
    # The library defaults a user gets (foreach on CPU); torchclassify chooses its own.
    if work.optimizer == "sgd":
        return torch.optim.SGD(params, lr=work.lr, momentum=work.momentum)
    return torch.optim.Adam(params, lr=work.lr)


def _loss(work) -> nn.Module:
    return nn.CrossEntropyLoss() if work.task == "multiclass" else nn.BCEWithLogitsLoss()


def _target(work, y: np.ndarray) -> torch.Tensor:
    """Targets as the loss wants them: int64 (n,) multiclass, float (n, 1) binary, float (n, L) multilabel."""
    if work.task == "multiclass":
        return torch.from_numpy(y).long()
    y = torch.from_numpy(y).float()
    return y.reshape(-1, 1) if work.task == "binary" else y


def _predictor(model: nn.Module, X: np.ndarray):
    """A function returning the model's logits (n, n_outputs) for X, in eval mode."""

    @torch.inference_mode()
    def predict() -> np.ndarray:
        model.eval()
        return model(torch.from_numpy(X)).numpy()

    return predict


def train_torchclassify(work, data, threads):
    from torchclassify.config import TrainConfig
    from torchclassify.engine.loop import TensorData, fit
    from torchclassify.tasks import get_task

    task = get_task(work.task)
    model = _model(work)
    config = TrainConfig(optimizer=work.optimizer, lr=work.lr, weight_decay=0.0, momentum=work.momentum,
                         seed=work.seed, threads=threads, device="cpu")
    y = torch.from_numpy(data.y_train).to(task.target_dtype())
    fit(model, task, TensorData(torch.from_numpy(data.X_train), y), None, config, n_classes=work.n_classes,
        n_epochs=work.epochs, batch_size=work.batch_size or len(data.X_train),
        generator=torch.Generator().manual_seed(work.seed))
    return _predictor(model, data.X_test)


def train_dataloader_loop(work, data, threads):
    """The loop from the PyTorch tutorials: TensorDataset + DataLoader(shuffle=True)."""
    from torch.utils.data import DataLoader, TensorDataset

    model, loss_fn = _model(work), _loss(work)
    optimizer = _optimizer(work, model.parameters())
    dataset = TensorDataset(torch.from_numpy(data.X_train), _target(work, data.y_train))
    loader = DataLoader(dataset, batch_size=work.batch_size or len(dataset), shuffle=True,
                        generator=torch.Generator().manual_seed(work.seed))
    model.train()
    for _ in range(work.epochs):
        for X_batch, y_batch in loader:
            loss = loss_fn(model(X_batch), y_batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return _predictor(model, data.X_test)


def train_tuned_loop(work, data, threads):
    """What a careful user writes: tensors in memory, a seeded randperm per epoch, slices, set_to_none."""
    model, loss_fn = _model(work), _loss(work)
    optimizer = _optimizer(work, model.parameters())
    X, y = torch.from_numpy(data.X_train), _target(work, data.y_train)
    n = len(X)
    batch_size = work.batch_size or n
    generator = torch.Generator().manual_seed(work.seed)
    model.train()
    for _ in range(work.epochs):
        if batch_size < n:
            perm = torch.randperm(n, generator=generator)
            X_epoch, y_epoch = X[perm], y[perm]
        else:
            X_epoch, y_epoch = X, y
        for start in range(0, n, batch_size):
            loss = loss_fn(model(X_epoch[start:start + batch_size]), y_epoch[start:start + batch_size])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return _predictor(model, data.X_test)


def train_skorch(work, data, threads):
    from skorch import NeuralNet

    net = NeuralNet(
        MLP, module__n_features=work.n_features, module__n_outputs=work.n_outputs, module__hidden=list(work.hidden),
        criterion=type(_loss(work)), optimizer=torch.optim.SGD if work.optimizer == "sgd" else torch.optim.Adam,
        lr=work.lr, **({"optimizer__momentum": work.momentum} if work.optimizer == "sgd" else {}),
        max_epochs=work.epochs, batch_size=work.batch_size or len(data.X_train), train_split=None,
        iterator_train__shuffle=True, verbose=0, device="cpu")
    torch.manual_seed(work.seed)
    net.fit(data.X_train, _target(work, data.y_train))
    return _predictor(net.module_, data.X_test)


def train_sklearn(work, data, threads):
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    solver = {"sgd": dict(solver="sgd", momentum=work.momentum, nesterovs_momentum=False),
              "adam": dict(solver="adam")}[work.optimizer]
    clf = MLPClassifier(hidden_layer_sizes=tuple(work.hidden), activation="relu", alpha=0.0,
                        batch_size=work.batch_size or len(data.X_train), learning_rate_init=work.lr,
                        max_iter=work.epochs, shuffle=True, random_state=work.seed, tol=0.0,
                        n_iter_no_change=work.epochs + 1, early_stopping=False, **solver)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(data.X_train, data.y_train)

    def predict() -> np.ndarray:
        proba = clf.predict_proba(data.X_test)
        if work.task == "multiclass":
            return np.log(np.clip(proba, 1e-12, None))  # log-probabilities rank like logits
        proba = proba[:, 1:] if work.task == "binary" else proba
        proba = np.clip(proba, 1e-7, 1 - 1e-7)
        return np.log(proba / (1 - proba))  # logits, so one scoring function serves every peer

    return predict


def train_lightning(work, data, threads):
    import logging

    import lightning as L
    from torch.utils.data import DataLoader, TensorDataset

    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.model, self.loss_fn = _model(work), _loss(work)

        def training_step(self, batch, batch_idx):
            X_batch, y_batch = batch
            return self.loss_fn(self.model(X_batch), y_batch)

        def configure_optimizers(self):
            return _optimizer(work, self.parameters())

    module = Module()
    dataset = TensorDataset(torch.from_numpy(data.X_train), _target(work, data.y_train))
    loader = DataLoader(dataset, batch_size=work.batch_size or len(dataset), shuffle=True,
                        generator=torch.Generator().manual_seed(work.seed))
    trainer = L.Trainer(max_epochs=work.epochs, accelerator="cpu", devices=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, loader)
    return _predictor(module.model, data.X_test)


PEERS = {
    "torchclassify": train_torchclassify,
    "dataloader_loop": train_dataloader_loop,
    "tuned_loop": train_tuned_loop,
    "skorch": train_skorch,
    "sklearn_mlp": train_sklearn,
    "lightning": train_lightning,
}
