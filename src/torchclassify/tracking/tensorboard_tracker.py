"""TensorBoard event files: each epoch's loss and main metric (train and valid) and learning rate, then the run's
settings with its final metrics (the HParams tab, to compare runs) and its training curves as an image.

torch.utils.tensorboard's SummaryWriter writes them (it needs the `tensorboard` package). By default they go to
RUN/tensorboard inside the run folder being written, so they appear with the finished run folder and vanish
with a failed one; `tensorboard --logdir runs/` then shows every run, compare's and tune's included.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from torch.utils.tensorboard import SummaryWriter

from .base import Tracker, epoch_numbers, final_numbers, flat_settings


def scalar_tag(key: str) -> str:
    """A history column as a TensorBoard tag: train_loss -> loss/train, valid_accuracy -> accuracy/valid (one
    section per quantity, train and valid side by side); lr and seconds as they are."""
    for split in ("train", "valid"):
        if key.startswith(split + "_"):
            return f"{key[len(split) + 1:]}/{split}"
    return key


class TensorBoardTracker(Tracker):
    """Writes one training's event files into log_dir (see the module docstring)."""

    def __init__(self, log_dir: Path):
        self.log_dir = Path(log_dir)
        self.writer: SummaryWriter | None = None

    def on_train_begin(self, state) -> None:
        self.writer, self.state = SummaryWriter(str(self.log_dir), flush_secs=10), state
        self._write()  # a resumed run starts with the epochs of its checkpoint: the curves are whole

    def on_epoch_end(self, state) -> None:
        self._write()

    def on_train_end(self, state) -> None:
        self.writer.flush()

    def on_evaluated(self, run) -> None:
        from ..plots import TrainingCurvesDisplay

        epochs = run.summary.get("epochs_run") or len(run.history)
        try:
            figure = TrainingCurvesDisplay.from_history(run.history, run.classifier.task.main_metric,
                                                        run.summary.get("best_epoch")).figure_
            self.writer.add_image("curves", _pixels(figure), epochs, dataformats="HWC")
        except Exception as err:  # a picture must not cost the trained model (as report.html)
            warnings.warn(f"the curves image was not written to TensorBoard ({type(err).__name__}: {err})",
                          stacklevel=2)
        hparams = {k: v for k, v in flat_settings(run.config).items() if isinstance(v, (bool, int, float, str))}
        # run_name ".": the HParams summary goes into this run's own folder, not a new timestamped one beside it.
        self.writer.add_hparams(hparams, final_numbers(run.metrics), run_name=".", global_step=epochs)
        self._close()

    def on_saved(self, run) -> None:
        where = self.log_dir
        if run.run_dir is not None and not where.exists():  # it was inside the run folder, renamed with it
            where = Path(run.run_dir) / where.name
        run.tracked["tensorboard"] = str(where)

    def on_failed(self, err: BaseException) -> None:
        if self.writer is not None:
            self._write()
        self._close()

    def _write(self) -> None:
        for record in self.unsent_records():
            for key, value in epoch_numbers(record).items():
                self.writer.add_scalar(scalar_tag(key), value, record["epoch"])

    def _close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _pixels(figure) -> np.ndarray:
    """A matplotlib Figure as an (height, width, 3) uint8 array: drawn by its own savefig, as the report draws
    it (matplotlib stays inside plots/), read back with Pillow (which TensorBoard's images need anyway)."""
    from PIL import Image

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return np.asarray(Image.open(buffer).convert("RGB"))
