"""What every tracker shares: the hooks around the run folder, and a run's settings and numbers made flat."""

from __future__ import annotations

import math
import re
from typing import Any

from ..config import RunConfig, format_setting
from ..engine.callbacks import Callback


class Tracker(Callback):
    """A Callback (the loop's epoch hooks) with three more that `train` calls around the run folder.

    A tracker reads the epochs from the TrainState's history (`unsent_records`) rather than from each hook, so
    it passes on every epoch exactly once: a resumed run's earlier epochs at the start, and on a failure the
    epochs that other callbacks' hooks interrupted.
    """

    state = None  # the TrainState, from on_train_begin on
    n_sent = 0  # records of state.history passed on so far

    def unsent_records(self) -> list[dict[str, Any]]:
        if self.state is None:
            return []
        records = self.state.history[self.n_sent:]
        self.n_sent = len(self.state.history)
        return records

    def on_evaluated(self, run) -> None:
        """Training and evaluation are done (run: workflow.Run); the run folder is not written yet."""

    def on_saved(self, run) -> None:
        """The run folder is complete (run.run_dir; None for a run without a folder)."""

    def on_failed(self, err: BaseException) -> None:
        """The run ended with `err` (KeyboardInterrupt for Ctrl-C): close what is open, mark what is unfinished."""


def flat_settings(config: RunConfig) -> dict[str, Any]:
    """{setting: value} over all sections, as config.json holds them once resolved; lists and None as the
    command line spells them ("64,64", "none" for no hidden layer), other values kept as they are."""
    flat = {}
    for section in config.to_dict().values():
        for name, value in section.items():
            flat[name] = format_setting(value) if isinstance(value, (list, tuple)) or value is None else value
    return flat


def epoch_numbers(record: dict[str, Any]) -> dict[str, float]:
    """The numbers of one history record (train_loss, valid_<metric>, lr, seconds...), without the epoch itself."""
    return {key: float(value) for key, value in record.items()
            if key != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool)}


def final_numbers(metrics: dict[str, dict]) -> dict[str, float]:
    """metrics.json's numbers flat: {"valid/accuracy": ..., "test/f1_per_label/tag_a": ...}; lists (confusion
    matrices, class names) left out. Each part keeps letters, digits, _ - and spaces (label names can hold
    anything a tracker would refuse or read as a path)."""
    flat = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}/{_part(key)}" if prefix else _part(key), inner)
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            flat[prefix] = float(value)

    walk("", metrics)
    return flat


def _part(name) -> str:
    return re.sub(r"[^\w\- ]", "_", str(name)) or "_"
