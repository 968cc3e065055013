"""The workflow: a run's life (lifecycle.train) around training prepared rows (training.train_prepared)."""

from .lifecycle import train
from .training import Run, fit_in_memory, pilot_calibration, train_prepared

__all__ = ["Run", "fit_in_memory", "pilot_calibration", "train", "train_prepared"]
