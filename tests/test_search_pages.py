"""compare.html, tune.html and tune's console summary: what they say and how their pictures are laid out,
from hand-made comparisons and in-memory Optuna studies (no training)."""

from __future__ import annotations

import re
import warnings

import numpy as np
import optuna
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from torchclassify.commands.tune import summary_text
from torchclassify.compare import Comparison, comparison_html, curves_figure, diagnosis_lines, rank
from torchclassify.tune import TuneResult, best_trial, importance, kept_valid_loss
from torchclassify.tune_summary import history_figure, study_summary, tune_html

LONG = "hidden=128,64 optimizer=adamw lr=0.001 weight_decay=0.0001 dropout=0.25 batch_size=32"
STUCK = "The model stayed at chance level (validation accuracy {:.2f} over the last epochs)."


def _run(variant, seed, valid, diagnosis):
    history = [{"epoch": e, "valid_loss": 1.0 / e + 0.1 * seed, "valid_accuracy": valid - 0.1 / e} for e in range(1, 8)]
    return {"variant": variant, "settings": {}, "seed": seed, "status": "ok", "run_dir": f"runs/{variant}/{seed}",
            "metrics": {"valid": {"accuracy": valid}, "test": {"accuracy": valid}}, "history": history,
            "diagnosis": diagnosis}


@pytest.fixture
def comparison():
    runs = [_run(LONG, 0, 0.51, [STUCK.format(0.50)]), _run(LONG, 1, 0.55, [STUCK.format(0.56)]),
            _run("hidden=none", 0, 0.9, ["Still falling: train longer."]),
            _run("hidden=none", 1, 0.92, ["Still falling: train longer."])]
    runs += [_run(f"variant number {k} with a name", 0, 0.6 + k / 100, []) for k in range(5)]
    result = Comparison("out", "accuracy", runs=runs)
    result.ranking = rank(runs, "accuracy")
    return result


def test_diagnosis_is_labelled_by_seed_only_when_the_seeds_disagree(comparison):
    assert diagnosis_lines(comparison, LONG) == [f"seed 0: {STUCK.format(0.50)}", f"seed 1: {STUCK.format(0.56)}"]
    assert diagnosis_lines(comparison, "hidden=none") == ["Still falling: train longer."]
    page = comparison_html(comparison, curves_figure(comparison))
    assert page.count("Still falling: train longer.") == 1
    assert f"<li>seed 0: {STUCK.format(0.50)}</li>" in page and f"<li>seed 1: {STUCK.format(0.56)}</li>" in page


def test_comparison_legend_sits_below_the_panels_inside_the_figure(comparison):
    figure = curves_figure(comparison)
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    legend = figure.legends[0]
    box = legend.get_window_extent(renderer)
    # Inside the figure (nothing cut off), below both panels' tick labels (nothing covered).
    assert figure.bbox.x0 <= box.x0 and box.x1 <= figure.bbox.x1 and figure.bbox.y0 <= box.y0
    for ax in figure.axes:
        assert box.y1 <= ax.get_tightbbox(renderer).y0
    names = [t.get_text().replace("\n", " ") for t in legend.get_texts()]  # long names wrap, never cut
    assert names == [row["variant"] for row in comparison.ranking]  # ranking order, full names
    # One line per run (seed) in each panel, coloured by variant.
    assert [len(ax.lines) for ax in figure.axes] == [len(comparison.runs)] * 2
    page = comparison_html(comparison, figure)
    assert re.search(r'<figure><img src="data:image/png;base64,[^"]+" alt="validation curves"><figcaption>', page)


def _study(values, losses, states=None, params=None):
    """An in-memory study of finished (or other) trials with the given values and validation losses."""
    study = optuna.create_study(direction="maximize")
    distributions = {"lr": FloatDistribution(1e-4, 1e-1, log=True), "hidden": CategoricalDistribution(["8", "16"])}
    for k, (value, loss) in enumerate(zip(values, losses)):
        state = (states or {}).get(k, TrialState.COMPLETE)
        trial_params = (params or {}).get(k, {"lr": 0.0024517017066750784 * (k + 1), "hidden": "8" if k % 2 else "16"})
        study.add_trial(create_trial(
            state=state, value=value if state == TrialState.COMPLETE else None, params=trial_params,
            distributions=distributions, user_attrs={"valid_loss": loss, "epochs": 20 + k, "best_epoch": 12 + k,
                                                     **({"defaults": True} if k == 0 else {})},
            intermediate_values={1: 0.5, 2: 0.625} if state == TrialState.PRUNED else None))
    best = best_trial(study)
    return TuneResult(study, dict(best.params), float(best.value), best.number, "accuracy",
                      importance=importance(study))


def test_a_tie_is_broken_by_the_validation_loss_and_said_everywhere():
    result = _study([1.0, 0.9, 1.0, 1.0, None], [0.30, 0.5, 0.08, 0.12, None], states={4: TrialState.PRUNED})
    assert result.best_trial == 2  # tied at 1.0 with trials 0 and 3, the lowest validation loss
    summary = study_summary(result)
    assert summary["n_tied"] == 3 and summary["trial_states"] == {"finished": 4, "pruned": 1}
    assert "3 finished trials tied at validation accuracy 1" in summary["tie_break"]
    assert "lowest validation loss among them (0.08)" in summary["tie_break"]
    text = summary_text(summary)
    assert "5 trials (4 finished, 1 pruned)" in text and f"tie: {summary['tie_break']}" in text
    page = tune_html(result, summary, history_figure(result))
    assert summary["tie_break"] in page and "ties go to the lower validation loss, then to the earlier trial" in page
    assert "4 finished, 1 pruned" in page and "{" not in page.split("<body>")[1].split("<img")[0]  # no raw JSON
    # Readable numbers: significant digits only, nowhere a float's full expansion.
    body = re.sub(r'src="data:[^"]+"', "", page)
    assert not re.search(r"\d\.\d{6,}", body)
    assert "lr=0.00245" in body and "lr=0.00736" in body
    # The trials table: one row per trial with its state word; the pruned one shows its last value.
    rows = re.findall(r"<tr><td class=\"num\">(\d+)(?:<br><span class=\"muted\">(\w+)</span>)?</td><td>(\w+)</td>"
                      r"<td class=\"num\">([^<]*)</td><td class=\"num\">([^<]*)</td><td class=\"num\">(.*?)</td>", page)
    assert [mark for _, mark, *_ in rows] == ["defaults", "", "best", "", ""]
    rows = [(number, *rest) for number, _, *rest in rows]
    assert [(int(n), state) for n, state, *_ in rows] == [(0, "finished"), (1, "finished"), (2, "finished"),
                                                        (3, "finished"), (4, "pruned")]
    assert rows[4][2] == "- (last 0.625)" and rows[2][2] == "1"
    # Its validation loss (the tie-break's number) and the epochs it ran and kept.
    assert [r[3] for r in rows] == ["0.3", "0.5", "0.08", "0.12", "-"] and rows[2][4] == '22<br><span class="muted">kept 14</span>'
    assert "<th>validation loss</th><th>epochs</th>" in page


def test_equal_losses_fall_back_to_the_earliest_trial():
    result = _study([0.9, 0.95, 0.95, 0.95], [0.2, 0.1, 0.1, None])
    assert result.best_trial == 1  # 2 has the same loss, 3 none
    assert "the earliest of them" in study_summary(result)["tie_break"]
    result = _study([0.9, 0.95, 0.95], [0.2, None, 0.4])
    assert result.best_trial == 2  # a known loss beats a missing one


def test_the_tie_break_uses_the_loss_of_the_weights_a_run_keeps():
    history = [{"epoch": e, "valid_loss": loss} for e, loss in enumerate([0.5, 0.3, 0.30001, 0.2999], start=1)]
    # Early stopping kept epoch 2 (epoch 4 improved by less than its min_delta): epoch 2's loss, not the minimum.
    assert kept_valid_loss(history, 2) == 0.3
    assert kept_valid_loss(history, None) == 0.2999  # no early stopping: the last epoch's weights
    assert kept_valid_loss([{"epoch": 1, "train_loss": 0.1}], None) is None


def test_importance_is_hidden_when_it_means_nothing():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tied = _study([0.8, 0.8, 0.8], [0.3, 0.2, 0.4])
    assert not [w for w in caught if "importance" in str(w.message).lower()]  # Optuna's, off the console
    summary = study_summary(tied)
    assert summary["importance"] == {} and "all 3 finished trials reached the same" in summary["importance_note"]
    assert summary["importance_note"] in tune_html(tied, summary, history_figure(tied))
    assert "importance:" not in summary_text(summary) and summary["importance_note"] in summary_text(summary)
    same_settings = _study([0.7, 0.9], [0.3, 0.2], params={0: {"lr": 0.01, "hidden": "8"}, 1: {"lr": 0.01, "hidden": "8"}})
    assert "at least two finished trials with different settings" in study_summary(same_settings)["importance_note"]
    # Three different values over five trials, three tied at the best: too few for an estimate.
    coarse = _study([0.99, 0.97, 0.99, 0.98, 0.99], [0.1, 0.3, 0.2, 0.25, 0.15])
    note = study_summary(coarse)["importance_note"]
    assert study_summary(coarse)["importance"] == {}
    assert "only 3 different validation accuracy values (the best, 0.99, by 3 of them)" in note
    # Trials that differ in both settings and results: importance shown, no tie to explain.
    varied = _study([0.6, 0.7, 0.95, 0.8], [0.5, 0.4, 0.1, 0.3])
    summary = study_summary(varied)
    assert summary["importance_note"] is None and set(summary["importance"]) == {"lr", "hidden"}
    assert summary["tie_break"] is None and summary["n_tied"] == 1 and "tie:" not in summary_text(summary)
    assert "<th>importance</th>" in tune_html(varied, summary, history_figure(varied))


def test_history_axis_stops_at_one_and_shows_pruned_trials():
    result = _study([1.0, 0.9, 1.0, None], [0.3, 0.5, 0.1, None], states={3: TrialState.PRUNED})
    figure = history_figure(result)
    ax = figure.axes[0]
    low, high = ax.get_ylim()
    assert high == 1.0 and low < 0.625  # the pruned trial's last value is on the axis too
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["finished trial", "pruned (last value)", "best so far", "chosen: trial 2"]
    finished = ax.collections[0].get_offsets()
    assert np.allclose(finished, [[0, 1.0], [1, 0.9], [2, 1.0]])
    # A metric outside [0, 1] is not clipped.
    from torchclassify.plots import SearchHistoryDisplay

    loose = SearchHistoryDisplay.from_trials([{"number": 0, "state": "finished", "value": 3.0},
                                              {"number": 1, "state": "finished", "value": 5.0}], "score", 1)
    assert loose.ax_.get_ylim()[1] > 5.0
