"""Callbacks that break a run on purpose, as a user or a bad learning rate would: shared by the tests of
resuming, streaming, tracking and comparing."""

from __future__ import annotations

import torch

from torchclassify.engine.callbacks import Callback


class InterruptAt(Callback):
    """Raise KeyboardInterrupt at the end of an epoch (or of training: epoch=None), as Ctrl-C would."""

    def __init__(self, epoch: int | None):
        self.epoch = epoch

    def on_epoch_end(self, state):
        if state.epoch == self.epoch:
            raise KeyboardInterrupt

    def on_train_end(self, state):
        if self.epoch is None:
            raise KeyboardInterrupt


class PoisonWeights(Callback):
    """Turn one weight NaN at the end of an epoch: the numerical fault a too-high learning rate causes."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_epoch_end(self, state):
        if state.epoch == self.epoch:
            with torch.no_grad():
                next(state.model.parameters()).view(-1)[0] = float("nan")
