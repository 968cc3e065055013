"""What tune says about a study (a tune.TuneResult, passed in as `result`): the trials as plain rows, the best
trial and how a tie was broken, whether importance means anything, the history picture and tune.html.
tune.json and the console read study_summary. Also the folder these files go to: which OUT tune may write
(check_out), and whether OUT/best already holds a study's best trial (retrained).
"""

from __future__ import annotations

import json
import math
from html import escape
from pathlib import Path
from typing import Any

from .compare import parse_value
from .config import format_setting
from .errors import ConfigError
from .files import atomic_write, clean_for_json, read_json, same_file, to_json_text
from .pages import figure_html, html_page, significant
from .plots import SearchHistoryDisplay
from .tune_study import BEST_LOCK, study_key

TUNE_FILES = ("trials.csv", "tune.json", "history.png", "tune.html")  # what the study's summary writes into OUT
# Files only tune puts in a folder: one of them makes OUT a tune folder that a rerun may write into again
# (the lock file is made when a study starts, before any other).
TUNE_MARKS = ("tune.json", "study.db", BEST_LOCK)

STATE_WORDS = {"COMPLETE": "finished", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running",
               "WAITING": "waiting"}
TIE_RULE = "highest validation {m}; ties go to the lower validation loss, then to the earlier trial"
# Fewer different metric values than this (a small validation split makes accuracies coarse, and many trials
# tie) leave an importance estimate describing a handful of trials (docs/search.md has the case that showed it).
MIN_DISTINCT = 4


def trial_rows(study) -> list[dict[str, Any]]:
    """One plain dict per trial, in trial order: number, state (a word), value (finished trials),
    last_value (the last value a pruned trial reported), valid_loss (of the kept weights), params, seconds,
    epochs (run), best_epoch (kept), defaults."""
    rows = []
    for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        seconds = None
        if t.datetime_start is not None and t.datetime_complete is not None:
            seconds = (t.datetime_complete - t.datetime_start).total_seconds()
        steps = t.intermediate_values
        rows.append({"number": t.number, "state": STATE_WORDS.get(t.state.name, t.state.name.lower()),
                     "value": t.value, "last_value": steps[max(steps)] if steps else None,
                     "valid_loss": t.user_attrs.get("valid_loss"), "params": dict(t.params), "seconds": seconds,
                     "epochs": t.user_attrs.get("epochs"), "best_epoch": t.user_attrs.get("best_epoch"),
                     "defaults": bool(t.user_attrs.get("defaults"))})
    return rows


def _tie_break(rows: list[dict], best: int, metric: str) -> tuple[int, str | None]:
    """(how many finished trials share the best value, a sentence on how the best was chosen among them)."""
    finished = [r for r in rows if r["state"] == "finished" and r["value"] is not None]
    chosen = next((r for r in finished if r["number"] == best), None)
    if chosen is None:
        return 0, None
    tied = [r for r in finished if math.isclose(r["value"], chosen["value"], rel_tol=0, abs_tol=1e-12)]
    if len(tied) < 2:
        return len(tied), None
    losses = [r["valid_loss"] for r in tied if r["number"] != best and r["valid_loss"] is not None]
    by_loss = chosen["valid_loss"] is not None and all(chosen["valid_loss"] < loss for loss in losses)
    how = (f"the lowest validation loss among them ({chosen['valid_loss']:.4g})" if by_loss
           else "the earliest of them (their validation losses do not separate them)")
    return len(tied), (f"{len(tied)} finished trials tied at validation {metric} {chosen['value']:.4g}; "
                       f"trial {best} was chosen as {how}.")


def _importance_note(rows: list[dict], importance: dict | None, metric: str) -> str | None:
    """Why importance is not worth showing, or None when it is."""
    finished = [r for r in rows if r["state"] == "finished" and r["value"] is not None]
    settings = {json.dumps(r["params"], sort_keys=True, default=str) for r in finished}
    if len(settings) < 2:
        return (f"Importance is not shown: it needs at least two finished trials with different settings "
                f"(this study has {len(finished)} finished, {len(settings)} distinct).")
    values = {r["value"] for r in finished}
    if len(values) == 1:
        return (f"Importance is not shown: all {len(finished)} finished trials reached the same validation "
                f"{metric} ({finished[0]['value']:.4g}), so no setting explains a difference.")
    if len(values) < MIN_DISTINCT:
        best = max(values)
        n_best = sum(r["value"] == best for r in finished)
        return (f"Importance is not shown: the {len(finished)} finished trials reached only {len(values)} "
                f"different validation {metric} values (the best, {significant(best, 4)}, by {n_best} of them); "
                f"an estimate needs at least {MIN_DISTINCT} to mean anything.")
    if not importance:
        return "Importance could not be estimated from these trials."
    if max(importance.values()) - min(importance.values()) < 1e-3 and len(importance) > 1:
        return ("Importance is not shown: Optuna gave every setting the same share, which is what it returns "
                "when nothing in these trials separates them.")
    return None


def study_summary(result) -> dict[str, Any]:
    """What tune.json, tune.html and the console say about the study: counts of trials by state (words),
    the best trial and how ties were broken, its settings, and the importance (empty, with a note saying
    why, when it would mean nothing)."""
    study = result.study
    trials = study.get_trials(deepcopy=False)
    rows = trial_rows(study)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    defaults = next((r for r in rows if r["defaults"] and r["value"] is not None), None)
    n_tied, tie_break = _tie_break(rows, result.best_trial, result.main_metric)
    note = _importance_note(rows, result.importance, result.main_metric)
    summary = {
        "study_name": study.study_name, "main_metric": result.main_metric, "n_trials": len(trials),
        "trial_states": counts,
        "best_trial": result.best_trial, f"best_valid_{result.main_metric}": result.best_value,
        "best_rule": TIE_RULE.format(m=result.main_metric), "n_tied": n_tied, "tie_break": tie_break,
        "best_params": result.best_params, "best_settings": to_settings(result.best_params),
        "importance": {} if note else (result.importance or {}), "importance_note": note,
        f"defaults_valid_{result.main_metric}": defaults["value"] if defaults else None,
        "workers": sorted({t.user_attrs["worker"] for t in trials if "worker" in t.user_attrs}),
        "study_key": study_key(study),  # whose best trial OUT/best holds (see retrained)
    }
    if result.best_run is not None:
        summary["best_run"] = str(result.best_run.run_dir)
        summary["best_run_metrics"] = result.best_run.metrics
    return summary


def write_summary(result) -> None:
    """trials.csv, tune.json, history.png and tune.html in result.out (all trials of the study so far)."""
    out = result.out
    out.mkdir(parents=True, exist_ok=True)
    frame = result.study.trials_dataframe()
    atomic_write(out / "trials.csv", lambda p: frame.to_csv(p, index=False))
    summary = clean_for_json(study_summary(result))
    atomic_write(out / "tune.json", to_json_text(summary))

    figure = history_figure(result)
    atomic_write(out / "history.png", lambda p: figure.savefig(p, format="png", dpi=110))
    html = tune_html(result, summary, figure)
    atomic_write(out / "tune.html", html)


def check_out(out: Path, source: str | None, overwrite: bool = False) -> None:
    """Refuse an OUT that tune's files would damage: a file, a folder that holds something other than a tune
    study (unless overwrite), or one where they would replace the data being read (source)."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is not a folder: give a folder path")
    if not overwrite and out.is_dir() and any(out.iterdir()) and not any((out / n).exists() for n in TUNE_MARKS):
        raise ConfigError(f"{out} already exists and is not a tune folder (tune writes {', '.join(TUNE_FILES)} and "
                          "best/ into it): choose another --out")
    data = Path(source) if source else None
    if data is None or not data.exists():  # a built-in dataset or an in-memory table
        return
    for path in (out / name for name in (*TUNE_FILES, "study.db", "best")):
        if same_file(data, path) or path.resolve() in data.resolve().parents:
            raise ConfigError(f"--data {source} would be replaced by tune's own {path}: copy the data elsewhere "
                              "or choose another --out")


def retrained(out: Path, key: str | None, number: int) -> bool:
    """Whether OUT/best holds trial `number` of the study with this key (tune_study.study_key), as tune.json
    says: a trial of the same number from another study (another name, storage or data) is not it."""
    if key is None or not (out / "best" / "model.json").exists():
        return False
    try:
        summary = read_json(out / "tune.json", ConfigError)
    except ConfigError:
        return False
    return (isinstance(summary, dict) and bool(summary.get("best_run")) and summary.get("study_key") == key
            and summary.get("best_trial") == number)


def history_figure(result):
    """Each trial's validation metric in trial order (pruned ones at their last value), the best so far and
    the chosen trial; the axis stops at 1 for a metric in [0, 1]. Returns a matplotlib Figure (no pyplot)."""
    return SearchHistoryDisplay.from_trials(trial_rows(result.study), result.main_metric, result.best_trial).figure_


def to_settings(params: dict[str, Any]) -> dict[str, Any]:
    """Trial params (choices stored as text, e.g. hidden "64,64") to train settings ([64, 64])."""
    return {name: parse_value(name, value) for name, value in params.items()}


def _setting_text(value) -> str:
    return significant(value) if isinstance(value, float) else format_setting(value)


def tune_html(result, summary: dict, figure) -> str:
    """tune.html: the best configuration and how it was chosen, the importance, the history and every trial."""
    m = result.main_metric
    states = ", ".join(f"{n} {state}" for state, n in summary["trial_states"].items())
    defaults = summary.get(f"defaults_valid_{m}")
    params = "".join(f'<tr><td>{escape(str(k))}</td><td class="wrap">{escape(_setting_text(v))}</td></tr>'
                     for k, v in summary["best_settings"].items())
    best = (f"<p>Best: trial {summary['best_trial']} of {summary['n_trials']} ({escape(states)}), validation "
            f"{escape(m)} {significant(summary[f'best_valid_{m}'], 4)}"
            + (f"; the defaults (trial 0) gave {significant(defaults, 4)}" if defaults is not None else "") + ".</p>"
            f"<p>The best trial is the one with the {escape(summary['best_rule'])}.</p>"
            + (f'<p class="note">{escape(summary["tie_break"])}</p>' if summary.get("tie_break") else "")
            + f"<table><thead><tr><th>setting</th><th>value</th></tr></thead><tbody>{params}</tbody></table>")
    if summary.get("best_run"):
        test = summary["best_run_metrics"].get("test", {}).get(m)
        best += (f"<p>Retrained as a normal run: <code>{escape(summary['best_run'])}</code>"
                 + (f" (test {escape(m)} {significant(test, 4)}, measured after choosing)" if test is not None else "")
                 + f"; rerun it with <code>torchclassify train --config {escape(summary['best_run'])}/config.json"
                 "</code>.</p>")
    if summary.get("importance_note"):
        importance_html = f"<p>{escape(summary['importance_note'])}</p>"
    else:
        imp = "".join(f'<tr><td>{escape(k)}</td><td class="num">{v:.2f}</td></tr>'
                      for k, v in summary["importance"].items())
        importance_html = ("<p>How much each setting mattered to the validation metric over the finished "
                           "trials, as Optuna estimates it (<code>optuna.importance.get_param_importances</code>, "
                           "normalised to sum to 1).</p>"
                           f"<table><thead><tr><th>setting</th><th>importance</th></tr></thead><tbody>{imp}"
                           "</tbody></table>")
    history = figure_html(figure, "search history", f"Validation {m} of each trial; pruned trials at the last "
                          "value they reported; the red step is the best so far.")
    return html_page("Search", [("Best configuration", best), ("Importance", importance_html),
                                ("History", history), ("Trials", _trials_table(result, m))])


def _trials_table(result, metric: str) -> str:
    """Every trial: number, state, its validation metric and loss (of the weights it kept), the epochs it
    ran and kept, its searched settings and how long it took."""
    body = []
    for row in trial_rows(result.study):
        value = significant(row["value"], 4)
        if row["state"] == "pruned" and row["last_value"] is not None:
            value = f"- (last {significant(row['last_value'], 4)})"
        settings = " ".join(f"{k}={_setting_text(v)}" for k, v in row["params"].items())
        # Second lines in the number cells (the trial's role, the epoch kept) keep the columns narrow at 800 px.
        mark = "best" if row["number"] == result.best_trial else "defaults" if row["defaults"] else ""
        mark = f'<br><span class="muted">{mark}</span>' if mark else ""
        seconds = "-" if row["seconds"] is None else f"{row['seconds']:.1f}"
        kept = ""
        if row["epochs"] is not None and row["best_epoch"] not in (None, row["epochs"]):
            kept = f'<br><span class="muted">kept {row["best_epoch"]}</span>'
        body.append(f'<tr><td class="num">{row["number"]}{mark}</td><td>{escape(row["state"])}</td>'
                    f'<td class="num">{escape(value)}</td><td class="num">{significant(row["valid_loss"], 4)}</td>'
                    f'<td class="num">{significant(row["epochs"])}{kept}</td>'
                    f'<td class="wrap settings">{escape(settings) or "-"}</td><td class="num">{seconds}</td></tr>')
    return (f"<p>Validation loss and {escape(metric)} are those of the weights each trial kept (early stopping "
            "restores its best epoch).</p>"
            f"<table><thead><tr><th>trial</th><th>state</th><th>validation {escape(metric)}</th>"
            "<th>validation loss</th><th>epochs</th><th>settings</th><th>seconds</th></tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")
