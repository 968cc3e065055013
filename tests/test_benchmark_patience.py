"""benchmarks/patience.py replays the library's early stopping on a recorded history of validation losses."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "patience.py"


@pytest.fixture(scope="module")
def patience():
    spec = importlib.util.spec_from_file_location("patience_replay", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_shorter_patience_stops_sooner_and_may_keep_an_earlier_epoch(patience):
    losses = [1.0, 0.9, 0.95, 0.95, 0.95, 0.85, 0.9, 0.9, 0.9]
    assert patience.replay(losses, 3) == (2, 5)  # three epochs without a better loss after epoch 2: stop at 5
    assert patience.replay(losses, 4) == (6, 9)  # long enough to reach epoch 6's; then 3 more, the history ends
    # An improvement smaller than EarlyStopping's min_delta (1e-4) is no improvement.
    assert patience.replay([1.0, 0.99995, 0.99992, 0.99991], 3) == (1, 4)
