"""Diagnosis: each rule fires on a run built to trigger it, and stays silent on a healthy run."""

from __future__ import annotations

import pytest

import torchclassify as tc
from torchclassify.diagnose import diagnose, diagnose_error

pytestmark = pytest.mark.usefixtures("one_thread")


def _train(**settings):
    return tc.train(progress="quiet", **settings)


def test_linear_model_stuck_at_chance_on_circles_is_told_to_add_a_non_linearity():
    run = _train(data="circles", n_samples=300, hidden=[], batch_size=0, epochs=60, optimizer="adam", lr=0.05)
    assert run.metrics["valid"]["accuracy"] < 0.62
    (sentence,) = [s for s in run.summary["diagnosis"] if "chance" in s]
    assert "linear model" in sentence and "non-linearity" in sentence and "--hidden" in sentence


def test_memorising_a_tiny_noisy_table_is_told_to_regularise():
    run = _train(data="moons", n_samples=60, noise=0.45, hidden=[128, 128], batch_size=0, epochs=300,
                 early_stopping=False, optimizer="adam", lr=0.01, weight_decay=0.0)
    last = run.history[-1]
    assert last["train_accuracy"] - last["valid_accuracy"] >= 0.1
    (sentence,) = [s for s in run.summary["diagnosis"] if "far above validation" in s]
    assert "regularise" in sentence and "stop earlier" in sentence


def test_a_run_cut_short_while_the_loss_still_falls_is_told_to_train_longer():
    run = _train(data="moons", n_samples=200, hidden=[16], batch_size=0, epochs=15, optimizer="adam", lr=0.01)
    assert run.summary["stop_reason"] == ""
    assert run.history[-1]["valid_loss"] < run.history[-5]["valid_loss"]
    assert any("train longer" in s and "--epochs 30" in s for s in run.summary["diagnosis"])


def test_a_nan_loss_is_told_to_lower_the_learning_rate():
    config = tc.make_config(source="moons", n_samples=200, hidden=[64, 64], batch_size=16, epochs=15,
                            optimizer="sgd", lr=9.9)
    with pytest.raises(tc.TrainingError) as caught:
        tc.train(config, progress="quiet")
    (sentence,) = diagnose_error(str(caught.value), config)
    assert "lower the learning rate (9.9)" in sentence
    assert diagnose_error("some other failure", config) == []


def test_a_loss_that_climbs_back_up_is_diverging_and_other_rules_stay_quiet():
    config = tc.make_config(source="moons", hidden=[16], lr=0.5)
    history = [{"epoch": e + 1, "train_loss": loss, "train_accuracy": acc, "valid_loss": loss,
                "valid_accuracy": acc} for e, (loss, acc) in enumerate(
                    [(0.7, 0.5), (0.4, 0.8), (0.3, 0.9), (0.9, 0.6), (2.5, 0.5), (6.0, 0.5)])]
    summary = {"task": "binary", "class_counts": {"0": 50, "1": 50}, "stop_reason": ""}
    (sentence,) = diagnose(history, config, summary)
    assert "diverged" in sentence and "lower the learning rate (0.5)" in sentence
    nan_history = history[:3] + [dict(history[3], train_loss=float("nan"))]
    assert "NaN" in diagnose(nan_history, config, summary)[0]


def test_a_healthy_run_gets_no_diagnosis_and_the_run_carries_it():
    run = _train(data="moons", n_samples=200, hidden=[16, 16], batch_size=0, epochs=300, optimizer="adam", lr=0.03)
    assert run.metrics["valid"]["accuracy"] >= 0.95
    assert run.summary["diagnosis"] == []
    assert diagnose([], run.config, run.summary) == []


def test_train_report_prints_the_diagnosis():
    from torchclassify.commands.train import report_text

    run = _train(data="moons", n_samples=200, hidden=[16], batch_size=0, epochs=15, optimizer="adam", lr=0.01)
    text = report_text(run)
    assert "diagnosis: The validation loss was still falling" in text
